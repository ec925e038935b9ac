"""Media: real encode/decode through PyAV, every supported container, and bad inputs."""

import numpy as np
import pytest
from factories import write_huge_png, write_silence_flac, write_tone, write_video

from emo_safe import media
from emo_safe.errors import InputError


def test_mp4_round_trip_keeps_frames_size_and_audio(tmp_path):
    path = write_video(tmp_path / "v.mp4", frames=30, size=(101, 131), audio_seconds=1.2)
    info = media.probe(path)
    assert (info.width, info.height, info.fps) == (130, 100, 25.0)
    assert info.has_audio
    frames = list(media.iter_frames(path))
    assert len(frames) == 30 and frames[0].shape == (100, 130, 3)
    audio = media.read_audio_track(path)
    assert audio is not None and 1.1 < audio.duration < 1.4


@pytest.mark.parametrize("fmt,codec,suffix", [
    ("mov", "libx264", ".mov"), ("matroska", "libx264", ".mkv"), ("webm", "libvpx-vp9", ".webm"),
])
def test_other_video_containers_decode(tmp_path, fmt, codec, suffix):
    import av

    path = tmp_path / f"v{suffix}"
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), format="rgb24")
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    assert len(list(media.iter_frames(path))) == 5


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a", ".flac", ".ogg"])
def test_audio_formats_decode_to_mono_float32(tmp_path, suffix):
    path = write_tone(tmp_path / f"a{suffix}", seconds=1.0)
    audio = media.load_audio(path)
    assert audio.samples.dtype == np.float32 and audio.rate == media.AUDIO_RATE
    assert 0.9 < audio.duration < 1.2
    assert 0.15 < float(np.abs(audio.samples).max()) <= 0.35


def test_image_decodes_to_rgb(data_dir):
    img = media.load_image(data_dir / "obama.jpg")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_truncated_jpeg_is_refused(tmp_path, data_dir):
    data = (data_dir / "obama.jpg").read_bytes()
    bad = tmp_path / "cut.jpg"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="truncated JPEG"):
        media.load_image(bad)


def test_text_file_named_jpg_is_refused(tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not a photo\n")
    with pytest.raises(InputError, match="not a supported image"):
        media.load_image(bad)


def test_decompression_bomb_png_is_refused_before_decoding(tmp_path):
    bomb = write_huge_png(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(InputError, match="too large"):
        media.load_image(bomb)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        media.load_image(tmp_path / "nope.jpg")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        media.load_audio(empty)


def test_eight_hour_audio_is_refused_without_decoding_it(tmp_path):
    long = write_silence_flac(tmp_path / "8h.flac", hours=8)
    with pytest.raises(InputError, match="too long"):
        media.load_audio(long)


def test_audio_with_a_lying_header_is_cut_off(tmp_path):
    path = write_tone(tmp_path / "a.wav", seconds=3.0)
    with pytest.raises(InputError, match="too long"):
        media.load_audio(path, media.AudioLimits(max_seconds=1.0))


def test_corrupt_video_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 5000)
    with pytest.raises(InputError, match="cannot read video"):
        media.probe(bad)


def test_read_ahead_gives_the_decoded_frames_in_order(tmp_path):
    path = write_video(tmp_path / "v.mp4", frames=12)
    direct = list(media.iter_frames(path))
    ahead = list(media.read_ahead(media.iter_frames(path), depth=2))
    assert len(ahead) == 12 and all(np.array_equal(a, b) for a, b in zip(direct, ahead))


def test_read_ahead_raises_the_sources_error_after_the_frames_before_it():
    def source():
        yield np.zeros((2, 2, 3), np.uint8)
        yield np.ones((2, 2, 3), np.uint8)
        raise InputError("cannot read video x.mp4: corrupt video data")

    got = []
    with pytest.raises(InputError, match="corrupt video data"):
        for frame in media.read_ahead(source(), depth=1):
            got.append(int(frame[0, 0, 0]))
    assert got == [0, 1]


def test_a_reader_that_stops_early_stops_the_decode_and_closes_the_source():
    import threading

    produced, closed = [], threading.Event()

    def source():
        try:
            for i in range(10_000):
                produced.append(i)
                yield np.full((2, 2, 3), i % 256, np.uint8)
        finally:
            closed.set()

    ahead = media.read_ahead(source(), depth=3)
    assert int(next(ahead)[0, 0, 0]) == 0
    ahead.close()  # what a loop that breaks (or a caller that fails) does
    assert closed.is_set()  # the thread was joined after it closed the source
    assert len(produced) <= 6  # it stopped a few frames ahead, not at the end
    assert not any(t.name == "emo-safe-read-ahead" for t in threading.enumerate())


def test_a_truncated_or_corrupt_video_read_ahead_is_what_a_player_shows_or_one_error(tmp_path):
    path = write_video(tmp_path / "v.mp4", frames=40)
    cut = tmp_path / "cut.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # the index comes first: the frames before the cut
    assert 0 < len(list(media.read_ahead(media.iter_frames(cut)))) < 40
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 5000)
    with pytest.raises(InputError, match="cannot read video"):
        list(media.read_ahead(media.iter_frames(bad)))
