"""decide(): evidence in, outcome and reasons out. Constructed evidence only: no file is
decoded, so each row reads as one clause of the detector's specification."""

from pathlib import Path

import numpy as np
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


# The audio copy check: audio hashes of a recorded generation and of what a file sounds like.
RECORDED_AUDIO = tuple(range(0x1000_0000, 0x1000_0000 + 40 * 7919, 7919))  # 8 s at 200 ms
SAME_AUDIO = (np.repeat(np.array(RECORDED_AUDIO, np.uint32), 20),)  # hashed every 10 ms
OTHER_AUDIO = (~SAME_AUDIO[0],)


def audio_mark(p=1e-15, payload="0123456789ab"):
    return WatermarkEvidence(p <= 1e-6, p, payload, 0, "org.emo-safe.wm.audio.v1",
                             medium="audio", seconds=8.0)


def audio_file(sounds_like, stored=Fingerprint((), (), RECORDED_AUDIO)):
    return Evidence(Path("voice.m4a"), "mov,mp4", ManifestEvidence(ManifestState.ABSENT), (),
                    LedgerMatch(GEN, "audio-watermark", stored_fingerprint=stored),
                    audio=audio_mark(), audio_hashes=sounds_like)


def test_an_audio_mark_on_the_generations_own_audio_is_credited_with_the_match():
    outcome, reasons = decide(audio_file(SAME_AUDIO), 1e-6)
    assert outcome == Outcome.GENERATED_MANIFEST_STRIPPED
    assert any("sounds like the generation's recorded audio (100%" in r for r in reasons)


def test_an_audio_mark_copied_onto_other_audio_is_inconsistent():
    outcome, reasons = decide(audio_file(OTHER_AUDIO), 1e-6)
    assert outcome == Outcome.INCONSISTENT and outcome.exit_code == 3
    assert any("does not sound like that generation (0% of its fingerprint bits" in r
               for r in reasons)


def test_audio_too_short_or_recorded_without_audio_hashes_is_not_compared():
    short = (SAME_AUDIO[0][: 20 * 10],)  # 2 s: under the 3 s the comparison needs
    legacy = Fingerprint(OURS.phash, OURS.ehash)  # recorded before audio fingerprints
    for ev in (audio_file(short), audio_file(SAME_AUDIO, stored=legacy)):
        outcome, reasons = decide(ev, 1e-6)
        assert outcome == Outcome.GENERATED_MANIFEST_STRIPPED
        assert any("was not compared with the generation's recorded audio" in r
                   for r in reasons)
