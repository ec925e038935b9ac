"""decide(): evidence in, outcome and reasons out. Constructed evidence only: no file is
decoded, so each row reads as one clause of the detector's specification."""

from pathlib import Path

import pytest

from emo_safe.fingerprint import Fingerprint
from emo_safe.provenance.read import ManifestEvidence, ManifestState
from emo_safe.verify import Outcome, decide
from emo_safe.verify.evidence import Evidence, LedgerMatch, TrackEvidence
from emo_safe.watermark.scheme import WatermarkEvidence

GEN = {"id": "0123456789ab", "decision_id": "d1"}
OURS = Fingerprint((0x1111_2222_3333_4444,) * 5, (0x5555_6666_7777_8888,) * 5)
OTHER = Fingerprint((~0x1111_2222_3333_4444 & (2**64 - 1),) * 5,
                    (~0x5555_6666_7777_8888 & (2**64 - 1),) * 5)
# Same light layout as ours (a lighting change tuned onto it), other edges: the copy attack.
RELIT = Fingerprint(OURS.phash, OTHER.ehash)


def wm(p=1e-20, payload="0123456789ab", track=0):
    return WatermarkEvidence(p <= 1e-6, p, payload, 250, "org.emo-safe.wm.v1", track=track)


def evidence(state=ManifestState.ABSENT, mark=None, seen=OURS, ledger=None, codes=()):
    tracks = (TrackEvidence(0, mark, seen),) if mark is not None or seen else ()
    return Evidence(Path("x.mp4"), "mov,mp4", ManifestEvidence(state, tuple(codes),
                                                               ai_generated=True),
                    tracks, ledger)


def by_watermark(stored=OURS):
    return LedgerMatch(GEN, "watermark", 0, stored)


CASES = [
    ("trusted manifest", evidence(ManifestState.TRUSTED), Outcome.GENERATED),
    ("trusted manifest and mark", evidence(ManifestState.TRUSTED, wm()), Outcome.GENERATED),
    ("invalid manifest", evidence(ManifestState.INVALID, wm(), codes=["assertion.bmffHash."
                                                                      "mismatch"]),
     Outcome.TAMPERED),
    ("the exact file published", evidence(ledger=LedgerMatch(GEN, "output-hash")),
     Outcome.GENERATED),
    ("stripped, mark matches its generation", evidence(mark=wm(), ledger=by_watermark()),
     Outcome.GENERATED_MANIFEST_STRIPPED),
    ("stripped, mark but no ledger at hand", evidence(mark=wm()),
     Outcome.GENERATED_MANIFEST_STRIPPED),
    ("mark copied onto other footage", evidence(mark=wm(), seen=OTHER, ledger=by_watermark()),
     Outcome.INCONSISTENT),
    ("copied mark plus a lighting change onto the recorded pHash",
     evidence(mark=wm(), seen=RELIT, ledger=by_watermark()), Outcome.INCONSISTENT),
    ("sync found but no payload: not credited", evidence(mark=wm(payload=None)),
     Outcome.NO_EVIDENCE),
    ("mark below the threshold", evidence(mark=wm(p=1e-3)), Outcome.NO_EVIDENCE),
    ("nothing at all", evidence(), Outcome.NO_EVIDENCE),
    ("valid but untrusted manifest", evidence(ManifestState.VALID_UNTRUSTED),
     Outcome.NO_EVIDENCE),
]


@pytest.mark.parametrize(("name", "ev", "expected"), CASES, ids=[c[0] for c in CASES])
def test_decide(name, ev, expected):
    outcome, reasons = decide(ev, 1e-6)
    assert outcome == expected
    assert reasons and all(isinstance(r, str) and r for r in reasons)


def test_an_old_generation_with_only_a_phash_is_still_cross_checked():
    legacy = Fingerprint(OURS.phash)  # recorded by emo-safe 0.1
    ok, _ = decide(evidence(mark=wm(), ledger=by_watermark(legacy)), 1e-6)
    forged, _ = decide(evidence(mark=wm(), seen=OTHER, ledger=by_watermark(legacy)), 1e-6)
    assert ok == Outcome.GENERATED_MANIFEST_STRIPPED and forged == Outcome.INCONSISTENT


def test_the_reason_states_the_threshold_the_profile_set():
    _, reasons = decide(evidence(mark=wm(p=1e-8)), 1e-7)
    assert "threshold 1e-07" in " ".join(reasons)
    outcome, reasons = decide(evidence(mark=wm(p=1e-8)), 1e-9)
    assert outcome == Outcome.NO_EVIDENCE and "threshold 1e-09" in " ".join(reasons)


def test_outcomes_keep_their_json_spelling_and_exit_codes():
    assert [str(o) for o in Outcome] == ["generated", "generated-manifest-stripped", "tampered",
                                         "signer-revoked", "inconsistent", "no-evidence"]
    assert [o.exit_code for o in Outcome] == [0, 0, 3, 3, 3, 1]
