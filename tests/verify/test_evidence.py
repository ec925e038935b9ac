"""Running the evidence sources over one file: the sources that read the file alone run at
once, each filling its own part of the evidence; those that read what came before wait for it;
what comes out is what one after the other gives."""

import dataclasses
import threading
from pathlib import Path

import pytest

from emo_safe.errors import InputError
from emo_safe.media import VideoInfo
from emo_safe.verify.evidence import Evidence, ProbedFile, gather
from emo_safe.watermark import WatermarkEvidence

FILE = ProbedFile(Path("clip.mp4"), VideoInfo(
    path=Path("clip.mp4"), format="mov,mp4,m4a,3gp,3g2,mj2", width=64, height=64, fps=25.0,
    frames=25, duration=1.0, has_audio=True))


def found(medium: str) -> WatermarkEvidence:
    return WatermarkEvidence(detected=False, p_value=1.0, payload=None, frames=0,
                             scheme=f"test.{medium}", medium=medium)


class Source:
    """A source filling one field of the evidence with a constructed value, after an optional
    wait; ``seen`` records what it was given."""

    def __init__(self, name, field, value, reads_earlier, before=None):
        self.name, self.field, self.value = name, field, value
        self.reads_earlier, self.before, self.seen = reads_earlier, before, None

    def gather(self, file, evidence):
        if self.before:
            self.before()
        self.seen = evidence
        return dataclasses.replace(evidence, **{self.field: self.value})


def test_sources_that_read_the_file_alone_run_at_once():
    meet = threading.Barrier(2, timeout=10)
    frames = Source("frames", "audio_note", "frames ran", False, before=meet.wait)
    audio = Source("audio", "audio", found("audio"), False, before=meet.wait)
    evidence = gather(FILE, [frames, audio], workers=2)
    assert evidence.audio_note == "frames ran" and evidence.audio.medium == "audio"
    alone = threading.Barrier(2, timeout=0.2)
    with pytest.raises(threading.BrokenBarrierError):  # one after the other, they never meet
        gather(FILE, [Source("a", "audio_note", "x", False, before=alone.wait),
                      Source("b", "audio", found("audio"), False, before=alone.wait)],
               workers=1)


def test_a_source_that_reads_earlier_evidence_sees_everything_before_it():
    frames = Source("frames", "audio_note", "frames ran", False)
    audio = Source("audio", "audio", found("audio"), False)
    ledger = Source("ledger", "output_sha256", "ab" * 32, True)
    evidence = gather(FILE, [frames, audio, ledger], workers=2)
    assert ledger.seen.audio_note == "frames ran" and ledger.seen.audio is not None
    assert evidence.output_sha256 == "ab" * 32 and evidence.audio_note == "frames ran"
    assert audio.seen.audio_note is None  # it ran beside the frames, not after them


def test_a_source_without_the_attribute_runs_after_everything_before_it():
    first = Source("first", "audio_note", "first ran", False)
    plain = Source("plain", "output_sha256", "cd" * 32, False)
    del plain.reads_earlier  # a third-party source that says nothing
    gather(FILE, [first, plain], workers=2)
    assert plain.seen.audio_note == "first ran"


def test_the_first_failure_in_the_listed_order_is_raised():
    def refuse():
        raise InputError("clip.mp4: its C2PA manifest box declares 3 GB")

    def fail_later():
        raise InputError("cannot read video clip.mp4: corrupt video data")

    sources = [Source("c2pa", "implicit_label", {}, False, before=refuse),
               Source("frames", "audio_note", "x", False, before=fail_later)]
    with pytest.raises(InputError, match="manifest box"):
        gather(FILE, sources, workers=2)


def test_two_sources_filling_one_field_is_a_programming_error():
    with pytest.raises(RuntimeError, match="both fill 'audio'"):
        gather(FILE, [Source("a", "audio", found("audio"), False),
                      Source("b", "audio", found("audio"), False)], workers=2)


def test_the_bundled_sources_that_read_the_file_alone():
    from emo_safe.verify.evidence import SOURCES

    alone = {name for name, cls in SOURCES.items() if not getattr(cls, "reads_earlier", True)}
    assert alone == {"c2pa", "watermark", "audio"}  # the ledger and repository read them
    assert isinstance(gather(FILE, []), Evidence)
