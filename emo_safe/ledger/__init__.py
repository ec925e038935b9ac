"""The ledger: what was requested, decided and generated (:mod:`.store`)."""
