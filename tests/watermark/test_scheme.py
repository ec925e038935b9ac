"""How several schemes read one clip: each stage's readings at once, in threads, and what is
reported is what reading them one after the other would report."""

import threading
from dataclasses import dataclass

import numpy as np
import pytest
from factories import bundled_photo, panning_clip

from emo_safe.watermark import embed_frames, get_scheme
from emo_safe.watermark.scheme import CONCLUSIVE_P, MultiAccumulator, WatermarkEvidence

V1, V2 = "org.emo-safe.wm.v1", "org.emo-safe.wm.v2"
KEY = bytes(range(32))
PAYLOAD = bytes.fromhex("0badc0ffee42")


def evidence(name: str, p: float = 0.5, payload: str | None = None) -> WatermarkEvidence:
    return WatermarkEvidence(detected=p <= 1e-6, p_value=p, payload=payload, frames=1,
                             scheme=name)


@dataclass
class Reading:
    """A scheme's accumulator reduced to its two readings (constructed evidence), each of
    which may wait for something first."""

    quick: WatermarkEvidence
    full: WatermarkEvidence
    final: bool = False
    before_quick: object = None
    before_full: object = None

    def add(self, frame) -> None:
        pass

    def quick_finish(self, max_p_value):
        if self.before_quick:
            self.before_quick()
        return self.quick, self.final

    def finish(self, max_p_value):
        if self.before_full:
            self.before_full()
        return self.full


def test_each_stages_readings_run_at_once():
    """Two quick readings that each wait for the other finish only if they run together."""
    meet = threading.Barrier(2, timeout=10)
    parts = [Reading(evidence("a"), evidence("a"), final=True, before_quick=meet.wait),
             Reading(evidence("b"), evidence("b"), final=True, before_quick=meet.wait)]
    assert [e.scheme for e in MultiAccumulator(parts, workers=2).finish()] == ["a", "b"]
    alone = threading.Barrier(2, timeout=0.2)
    parts = [Reading(evidence("a"), evidence("a"), final=True, before_quick=alone.wait)]
    with pytest.raises(threading.BrokenBarrierError):  # one after the other: no one to meet
        MultiAccumulator(parts + parts, workers=1).finish()


def test_the_first_conclusive_search_in_order_is_reported_whichever_finished_first():
    """The later scheme's search finishes first with an even stronger decode; as one after
    the other, the earlier scheme's conclusive decode cuts the list and the later scheme
    reports its quick reading."""
    later_done = threading.Event()
    first = Reading(evidence("first"), evidence("first", 1e-14, "aa"),
                    before_full=lambda: later_done.wait(10))
    later = Reading(evidence("later"), evidence("later", 1e-30, "bb"),
                    before_full=later_done.set)
    found = MultiAccumulator([first, later], workers=2).finish()
    assert later_done.is_set()  # the later search ran (and ended) first
    assert [(e.scheme, e.p_value) for e in found] == [("first", 1e-14), ("later", 0.5)]
    assert found[0].p_value <= CONCLUSIVE_P


def test_a_conclusive_quick_reading_ends_the_read_before_any_search():
    searched = []
    parts = [Reading(evidence("a", 1e-20, "aa"), evidence("a"),
                     before_full=lambda: searched.append("a")),
             Reading(evidence("b"), evidence("b"), before_full=lambda: searched.append("b"))]
    found = MultiAccumulator(parts, workers=2).finish()
    assert [e.scheme for e in found] == ["a"] and searched == []


def test_a_reading_that_fails_fails_the_read():
    def fail():
        raise RuntimeError("a scheme's search broke")

    parts = [Reading(evidence("a"), evidence("a")),
             Reading(evidence("b"), evidence("b"), before_full=fail)]
    with pytest.raises(RuntimeError, match="search broke"):
        MultiAccumulator(parts, workers=2).finish()


@pytest.fixture(scope="module")
def clip():
    return list(panning_clip(bundled_photo("obama.jpg"), 50, (256, 256)))


@pytest.mark.parametrize("marked_with", [None, V1, V2])
def test_v1_and_v2_in_threads_report_what_they_report_one_after_the_other(clip, marked_with):
    """On real sums (both schemes read one accumulator): an unmarked clip (every stage of
    both runs), a v1 output mirrored (v1's scale search beside v2's registration) and a v2
    output rotated: the same evidence, field for field."""
    frames = clip if marked_with is None else [
        f[:, ::-1] if marked_with == V1 else np.rot90(f) for f in
        embed_frames(clip, KEY, PAYLOAD, scheme=marked_with)]
    read = {}
    for workers in (1, 2):
        acc = MultiAccumulator([get_scheme(s, KEY).accumulator(25) for s in (V2, V1)],
                               workers=workers)
        for f in frames:
            acc.add(np.ascontiguousarray(f))
        read[workers] = [e.to_dict() for e in acc.finish()]
    assert read[1] == read[2]
    if marked_with == V2:
        assert read[2][0]["payload"] == PAYLOAD.hex()
