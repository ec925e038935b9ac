"""C2PA provenance: key material (:mod:`.keys`), signing (:mod:`.sign`), reading (:mod:`.read`)."""
