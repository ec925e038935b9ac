"""The detection path: does a file come from this deployment?

- :mod:`.profile`: what a verifier trusts and how it decides (detectors/*.toml);
- :mod:`.evidence`: the evidence sources (C2PA, watermark, ledger) and the frozen
  :class:`Evidence` they fill in;
- :mod:`.decide`: the pure function from evidence to an :class:`Outcome` and its reasons;
- :mod:`.detector`: :class:`Detector`, the front door, and its :class:`Verdict`.
"""

from emo_safe.verify.decide import Outcome, decide
from emo_safe.verify.detector import Detector, Verdict
from emo_safe.verify.evidence import SOURCES, Evidence, LedgerMatch, TrackEvidence
from emo_safe.verify.profile import DetectorProfile, load_profile

GENERATED = Outcome.GENERATED
GENERATED_MANIFEST_STRIPPED = Outcome.GENERATED_MANIFEST_STRIPPED
TAMPERED = Outcome.TAMPERED
SIGNER_REVOKED = Outcome.SIGNER_REVOKED
INCONSISTENT = Outcome.INCONSISTENT
NO_EVIDENCE = Outcome.NO_EVIDENCE

__all__ = ["GENERATED", "GENERATED_MANIFEST_STRIPPED", "INCONSISTENT", "NO_EVIDENCE",
           "SIGNER_REVOKED",
           "SOURCES", "TAMPERED", "Detector", "DetectorProfile", "Evidence", "LedgerMatch",
           "Outcome", "TrackEvidence", "Verdict", "decide", "load_profile"]
