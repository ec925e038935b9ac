"""The fingerprints behind the copy checks. Video: flat bars along a frame's edges (a
letterbox, a pillarbox) are found and taken off, so a padded repost still matches its
generation. Audio: the same audio through real encoders (FFmpeg's AAC, LAME, libopus via
PyAV), cut, turned down or sped up agrees with its recorded hashes; other audio does not."""

import cv2
import numpy as np
import pytest
from factories import synthetic_music, transcode_audio

from emo_safe import fingerprint as fp
from emo_safe import media
from emo_safe._resources import sample_path

RATE = fp.AUDIO_RATE


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return media.load_audio(sample_path("speech.m4a"), rate=RATE).samples


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return media.resample(synthetic_music(10.0), 44_100, RATE)


def picture(h: int = 96, w: int = 96) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (h, w)).astype(np.float32)


def test_flat_bars_along_the_edges_are_found_around_the_picture():
    pillarbox = np.zeros((96, 170), np.float32)
    pillarbox[:, 37:133] = picture()
    assert fp.picture_box(pillarbox) == (0, 96, 37, 133)
    letterbox = np.full((170, 96), 200.0, np.float32)  # bars of any one colour
    letterbox[37:133] = picture()
    assert fp.picture_box(letterbox) == (37, 133, 0, 96)
    one_side = np.zeros((96, 130), np.float32)
    one_side[:, 34:] = picture()
    assert fp.picture_box(one_side) == (0, 96, 34, 130)
    # what a codec leaves of a black bar is still flat
    grainy = pillarbox + np.random.default_rng(1).normal(0, 1, pillarbox.shape)
    assert fp.picture_box(grainy.astype(np.float32)) == (0, 96, 37, 133)


def test_no_bars_a_sliver_or_a_frame_of_almost_nothing_but_bar_has_no_picture_box():
    assert fp.picture_box(picture()) is None
    sliver = np.zeros((96, 97), np.float32)
    sliver[:, 1:] = picture()  # one column: under 2 % of the side
    assert fp.picture_box(sliver) is None
    speck = np.zeros((400, 400), np.float32)
    speck[180:276, 180:276] = picture()  # 6 % of the frame: not a padded picture
    assert fp.picture_box(speck) is None


def test_a_pillarboxed_frame_matches_its_original_only_once_the_bars_are_off(data_dir):
    original = cv2.resize(media.load_image(data_dir / "obama.jpg"), (256, 256))
    padded = cv2.copyMakeBorder(original, 0, 0, 100, 100, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    stored, tap = fp.FingerprintTap(1), fp.FingerprintTap(1)
    stored.add(original, 0)
    tap.add(padded, 0)
    assert tap.barred
    assert fp.similarity(tap.fingerprint(), stored.fingerprint()) == 0.0
    assert fp.similarity(tap.fingerprint(unbarred=True), stored.fingerprint()) == 1.0
    other = cv2.resize(media.load_image(data_dir / "biden.jpg"), (256, 256))
    forged = fp.FingerprintTap(1)
    forged.add(cv2.copyMakeBorder(other, 0, 0, 100, 100, cv2.BORDER_CONSTANT,
                                  value=(0, 0, 0)), 0)
    assert fp.similarity(forged.fingerprint(unbarred=True), stored.fingerprint()) == 0.0


def agreement(heard: np.ndarray, recorded: np.ndarray, time_scale=None) -> float | None:
    return fp.audio_agreement(fp.candidate_audio_hashes(heard, time_scale),
                              fp.audio_hashes(recorded))


@pytest.mark.parametrize("suffix,bitrate", [(".m4a", 32_000), (".mp3", 64_000),
                                            (".ogg", 24_000)])
def test_the_same_audio_through_a_codec_matches(speech, music, tmp_path, suffix, bitrate):
    for clip in (speech, music):
        coded = transcode_audio(media.Audio(clip, RATE), tmp_path, suffix, bitrate).samples
        assert agreement(coded, clip) >= fp.AUDIO_MATCH + 0.1


def test_an_excerpt_off_the_hash_grid_and_a_gain_change_match(speech, music):
    for clip in (speech, music):
        excerpt = clip[int(2.013 * RATE): int(5.5 * RATE)]  # 3.5 s from an odd sample
        assert agreement(excerpt, clip) >= 0.95
        assert agreement(0.3 * clip, clip) == 1.0


def test_other_audio_does_not_match(speech, music):
    other_music = media.resample(synthetic_music(10.0, seed=7), 44_100, RATE)
    backwards = np.ascontiguousarray(speech[::-1])  # the same voice, other sounds
    for heard, recorded in ((backwards, speech), (music, speech), (speech, music),
                            (other_music, music)):
        assert agreement(heard, recorded) < fp.AUDIO_MATCH - 0.05


def test_a_speed_change_matches_once_the_marks_time_scale_is_undone(music):
    faster = media.resample(music, round(RATE * 1.05), RATE)  # 5 % faster, pitch too
    assert agreement(faster, music) < fp.AUDIO_MATCH
    assert agreement(faster, music, time_scale=1.05) >= fp.AUDIO_MATCH + 0.1


def test_under_three_seconds_is_not_compared(speech):
    assert agreement(speech[: 2 * RATE], speech) is None


def test_recorded_hashes_survive_the_ledgers_json(speech):
    stored = fp.Fingerprint((1, 2), (3, 4), tuple(int(h) for h in fp.audio_hashes(speech)))
    back = fp.Fingerprint.from_json(stored.to_json())
    assert back == stored and back.to_json()["audio_hop_ms"] == 200
    assert fp.Fingerprint.from_json({"v": 2, "phash": [], "ehash": []}).audio is None
    assert fp.recorded_audio_hashes(media.Audio(speech, RATE)) == stored.audio

