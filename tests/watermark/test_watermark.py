"""The watermark: round trips on awkward inputs, keyed, calibrated against unmarked video, and
surviving a real H.264 re-encode."""

import cv2
import numpy as np
import pytest
from factories import bundled_photo, panning_clip

from emo_safe import media
from emo_safe.errors import InputError
from emo_safe.watermark import _ecc, detect_file, detect_frames, embed_file, embed_frames

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PAYLOAD = bytes.fromhex("a1b2c3d4e5f6")


@pytest.fixture(scope="module")
def photo():
    return bundled_photo("obama.jpg")


def moving_clip(photo, n, size=(256, 256)):
    return panning_clip(photo, n, size)


@pytest.mark.parametrize("size", [(181, 243), (97, 333), (480, 270), (127, 129)])
def test_round_trip_on_odd_and_non_square_sizes(photo, size):
    marked = list(embed_frames(moving_clip(photo, 12, size), KEY, PAYLOAD))
    assert marked[0].shape == (*size, 3) and marked[0].dtype == np.uint8
    ev = detect_frames(marked, KEY)
    assert ev.detected and ev.p_value < 1e-6
    assert ev.payload == PAYLOAD.hex()


def test_flat_grey_frames_and_a_single_frame():
    grey = np.full((200, 300, 3), 128, np.uint8)
    ev = detect_frames(embed_frames([grey], KEY, PAYLOAD), KEY)
    assert ev.detected and ev.payload == PAYLOAD.hex() and ev.frames == 1


def test_mark_is_invisible_by_psnr(photo):
    frames = list(moving_clip(photo, 5, (256, 256)))
    marked = list(embed_frames(frames, KEY, PAYLOAD))
    mse = np.mean([(m.astype(float) - f) ** 2 for m, f in zip(marked, frames)])
    assert 10 * np.log10(255**2 / mse) > 39  # worst case: no upsampling blur (short side 256)


def test_wrong_key_and_unmarked_video_are_not_detected(photo):
    frames = list(moving_clip(photo, 25))
    marked = list(embed_frames(frames, KEY, PAYLOAD))
    wrong = detect_frames(marked, OTHER_KEY)
    assert not wrong.detected and wrong.payload is None and wrong.p_value > 1e-3
    clean = detect_frames(frames, KEY)
    assert not clean.detected and clean.payload is None and clean.p_value > 1e-3


def _reencode(frames, path, crf, scale=None):
    if scale:
        frames = (cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                  for f in frames)
    media.write_mp4(path, frames, 25, None, crf=crf)
    return path


@pytest.mark.parametrize(("crf", "scale"), [(28, None), (23, 0.5)], ids=["crf28", "half+crf23"])
def test_payload_survives_a_real_h264_reencode_and_downscale(photo, tmp_path, crf, scale):
    marked = embed_frames(moving_clip(photo, 100, (512, 512)), KEY, PAYLOAD)
    path = _reencode(marked, tmp_path / "attacked.mp4", crf, scale)
    if scale:
        assert media.probe(path).width == 256
    ev = detect_file(path, KEY)
    assert ev.detected and ev.p_value < 1e-6 and ev.payload == PAYLOAD.hex()


@pytest.mark.parametrize("resize_back", [False, True], ids=["crop10", "crop10+resize"])
def test_payload_survives_a_10_percent_crop(photo, tmp_path, resize_back):
    def crop(frames):
        for f in frames:
            c = f[25:-25, 25:-25]
            yield cv2.resize(c, (512, 512)) if resize_back else c

    marked = embed_frames(moving_clip(photo, 50, (512, 512)), KEY, PAYLOAD)
    path = _reencode(crop(marked), tmp_path / "cropped.mp4", 18)
    ev = detect_file(path, KEY)
    assert ev.detected and ev.payload == PAYLOAD.hex()
    assert ev.scale == pytest.approx(462 / 512, abs=0.01)  # the crop's zoom was found


def test_embed_file_keeps_audio_and_handles_no_audio(photo, tmp_path):
    for audio_seconds in (None, 2.0):
        audio = None
        if audio_seconds:
            t = np.arange(int(audio_seconds * 44100)) / 44100
            audio = media.Audio((0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 44100)
        src = tmp_path / f"src{audio_seconds}.mp4"
        media.write_mp4(src, moving_clip(photo, 50, (256, 256)), 25, audio, crf=10)
        dest = tmp_path / f"marked{audio_seconds}.mp4"
        assert embed_file(src, dest, KEY, PAYLOAD) == 50
        assert media.probe(dest).has_audio == bool(audio_seconds)
        assert detect_file(dest, KEY).payload == PAYLOAD.hex()


def test_payload_must_be_48_bits():
    with pytest.raises(InputError, match="6 bytes"):
        list(embed_frames([np.zeros((64, 64, 3), np.uint8)], KEY, b"\x01\x02"))


def test_convolutional_code_corrects_errors_and_crc_rejects_noise():
    rng = np.random.default_rng(7)
    coded = _ecc.encode_payload(PAYLOAD)
    soft = 2.0 * coded - 1.0
    flip = rng.choice(coded.size, 10, replace=False)
    soft[flip] *= -1
    assert _ecc.decode_payload(soft + rng.normal(0, 0.3, coded.size), 6)[0] == PAYLOAD
    rejected = sum(_ecc.decode_payload(rng.normal(0, 1, coded.size), 6)[0] is None
                   for _ in range(50))
    assert rejected == 50
