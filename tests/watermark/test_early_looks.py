"""A long clip is looked at early: once a scheme's quick reading is conclusive, the rest of
the clip is not gathered (nor, where nothing else needs the frames, decoded); a look that is
not conclusive changes nothing; every look is counted in the p-value."""

import pytest
from factories import bundled_photo, panning_clip

from emo_safe import media
from emo_safe.verify.evidence import Evidence, ProbedFile, WatermarkSource
from emo_safe.watermark import detect_file, embed_frames, get_scheme
from emo_safe.watermark.scheme import CONCLUSIVE_P, MultiAccumulator, early_looks

V1, V2 = "org.emo-safe.wm.v1", "org.emo-safe.wm.v2"
KEY = bytes(range(32))
PAYLOAD = bytes.fromhex("0badc0ffee42")


@pytest.fixture(scope="module")
def clip():
    return list(panning_clip(bundled_photo("obama.jpg"), 60, (256, 256)))


@pytest.fixture(scope="module")
def marked(clip):
    return list(embed_frames(clip, KEY, PAYLOAD, scheme=V2))


def both_schemes(looks=()):
    return MultiAccumulator([get_scheme(s, KEY).accumulator(25) for s in (V2, V1)], looks=looks)


def test_looks_come_at_8_16_32_seconds_where_the_clip_runs_twice_as_long():
    assert early_looks(25, 10.0) == ()  # a short clip: a look would cost more than it saves
    assert early_looks(25, 16.0) == (200,)
    assert early_looks(25, 60.0) == (200, 400)
    assert early_looks(29.97, 100.0) == (240, 480, 960)  # whole seconds of frames
    assert early_looks(25, 60.0, max_frames=399) == ()  # what is read, not the file
    assert early_looks(25, None, max_frames=400) == (200,)
    unknown = early_looks(25, None)
    assert unknown[:3] == (200, 400, 800) and unknown[-1] <= 25 * 3600


def test_a_conclusive_look_settles_and_later_frames_are_not_gathered(marked):
    acc = both_schemes(looks=(25,))
    for frame in marked:
        acc.add(frame)
    assert acc.settled is not None and acc.frames == 25 and acc.looked == 1
    (found,) = acc.finish()
    assert found.scheme == V2 and found.payload == PAYLOAD.hex() and found.frames == 25
    assert found.p_value <= CONCLUSIVE_P and found.detected


def test_the_p_value_counts_every_look(clip, marked):
    frames = clip[:3] + marked[:25]  # the first look sees 3 unmarked frames only
    acc = both_schemes(looks=(3, 28))
    for frame in frames:
        acc.add(frame)
    assert acc.looked == 2 and acc.settled is not None
    once = both_schemes()
    for frame in frames:
        once.add(frame)
    p_once = once.parts[0].peek().p_value
    assert acc.finish()[0].p_value == pytest.approx(2 * p_once)


def test_an_inconclusive_look_changes_nothing(clip):
    looked, plain = both_schemes(looks=(25,)), both_schemes()
    for frame in clip:
        looked.add(frame)
        plain.add(frame)
    assert looked.settled is None and looked.looked == 1 and looked.frames == 60
    assert [(e.scheme, e.p_value, e.payload, e.frames) for e in looked.finish()] == \
        [(e.scheme, e.p_value, e.payload, e.frames) for e in plain.finish()]


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    """16 s of a marked pan at 10 fps, through H.264."""
    frames = panning_clip(bundled_photo("obama.jpg"), 160, (256, 256))
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    media.write_mp4(path, embed_frames(frames, KEY, PAYLOAD, scheme=V2), 10, None, crf=23)
    return path


def test_a_16_second_marked_file_is_read_for_its_first_8_seconds(long_file):
    ev = detect_file(long_file, KEY)
    assert ev.payload == PAYLOAD.hex() and ev.detected and ev.frames == 80
    assert detect_file(long_file, KEY, max_frames=150).frames == 150  # 15 s read: no look


def test_verify_still_fingerprints_every_second_after_the_mark_settles(long_file):
    source = WatermarkSource([get_scheme(V2, KEY), get_scheme(V1, KEY)], 1e-6,
                             max_frames=10_000, max_frame_pixels=10**7,
                             max_decoded_pixels=10**11, max_tracks=2)
    evidence = source.gather(ProbedFile(long_file, media.probe(long_file)),
                             Evidence(long_file, "mp4"))
    (track,) = evidence.tracks
    assert track.watermark.payload == PAYLOAD.hex() and track.watermark.frames == 80
    assert len(track.fingerprint.phash) == 16


def test_a_profile_can_gather_every_frame(long_file):
    source = WatermarkSource([get_scheme(V2, KEY)], 1e-6, max_frames=10_000,
                             max_frame_pixels=10**7, max_decoded_pixels=10**11, max_tracks=2,
                             early_looks=False)
    evidence = source.gather(ProbedFile(long_file, media.probe(long_file)),
                             Evidence(long_file, "mp4"))
    (track,) = evidence.tracks
    assert track.watermark.payload == PAYLOAD.hex() and track.watermark.frames == 160
    assert len(track.watermark.segment_z) == 16  # the chart: every second
