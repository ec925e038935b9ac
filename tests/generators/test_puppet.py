"""The built-in puppet animator: real portrait, real speech, measured by independent landmarks."""

import numpy as np
import pytest

from emo_safe._resources import sample_path
from emo_safe.faces import FaceAnalyzer
from emo_safe.generators import GenerationInput, get_generator
from emo_safe.generators.puppet import audio_features
from emo_safe.media import Audio, load_audio, load_image


@pytest.fixture(scope="module")
def portrait_input():
    image = load_image(sample_path("portrait.jpg"))
    face = FaceAnalyzer().find_faces(image).faces[0]
    speech = load_audio(sample_path("speech.m4a"))
    # 3 s of speech, 1.2 s of silence, then speech again.
    cut = speech.samples[: 3 * speech.rate]
    silence = np.zeros(int(1.2 * speech.rate), np.float32)
    audio = Audio(np.concatenate([cut, silence, cut[: speech.rate]]), speech.rate)
    return image, face, audio


def mouth_opening(frames):
    fa = FaceAnalyzer()
    out = []
    for f in frames:
        faces = fa.detect(f, upsample=0)
        L = faces[0].landmarks
        out.append(np.linalg.norm(L[66] - L[62]) / np.linalg.norm(L[8] - L[27]))
    return np.array(out)


def closed_opening(image, face):
    from emo_safe.generators.base import face_crop

    return mouth_opening([face_crop(image, face.box, 512)])[0]


def test_puppet_animates_the_mouth_with_the_speech_and_keeps_the_identity(portrait_input):
    image, face, audio = portrait_input
    video = get_generator("puppet").generate(GenerationInput(image, face, audio, seed=3))
    frames = list(video.frames)
    assert len(frames) == video.frame_count == int(np.ceil(audio.duration * 25))
    assert frames[0].shape == (512, 512, 3) and frames[0].dtype == np.uint8
    opening = mouth_opening(frames)
    feats = audio_features(audio, 25, len(frames))
    assert np.corrcoef(opening, feats.opening)[0, 1] > 0.8  # lip sync, re-measured
    loud = feats.opening > 0.6
    silent = np.arange(len(frames))
    silent = (silent > 3.2 * 25) & (silent < 4.1 * 25)  # inside the silence
    assert opening[loud].mean() > opening[silent].mean() + 0.04
    # In silence the mouth is the photo's own; what varies is the landmark detector's jitter.
    assert abs(np.median(opening[silent]) - closed_opening(image, face)) < 0.01
    assert opening[silent].std() < 0.006
    fa = FaceAnalyzer()
    for i in (0, len(frames) // 3, 2 * len(frames) // 3):
        assert fa.detect(frames[i])[0].distance(face.embedding) < 0.3  # same person


def test_puppet_is_deterministic_for_a_seed(portrait_input):
    image, face, audio = portrait_input
    short = Audio(audio.samples[: audio.rate * 2], audio.rate)

    def render(seed):
        gen = get_generator("puppet").generate(GenerationInput(image, face, short, seed=seed))
        return np.stack(list(gen.frames))

    a, b, c = render(5), render(5), render(6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)  # another seed: other blinks and head sway


def test_puppet_holds_still_in_silence(portrait_input):
    image, face, _ = portrait_input
    silence = Audio(np.zeros(44100, np.float32), 44100)
    frames = list(get_generator("puppet").generate(
        GenerationInput(image, face, silence, seed=1)).frames)
    assert len(frames) == 25
    opening = mouth_opening(frames)
    assert abs(np.median(opening) - closed_opening(image, face)) < 0.01
    assert opening.std() < 0.006


def test_full_image_mode_animates_the_whole_photo(portrait_input):
    image, face, audio = portrait_input
    short = Audio(audio.samples[: audio.rate], audio.rate)
    video = get_generator("puppet").generate(
        GenerationInput(image, face, short, seed=2, options={"full_image": True}))
    frames = list(video.frames)
    assert frames[0].shape == (image.shape[0] & ~1, image.shape[1] & ~1, 3)
    assert video.settings["full_image"] is True
    found = FaceAnalyzer().detect(frames[12])[0]
    assert found.distance(face.embedding) < 0.3
    assert abs(found.box.center[0] - face.box.center[0]) < 0.1 * face.box.width


def test_on_a_photo_with_a_resting_open_smile_speech_opens_clearly_beyond_it(data_dir,
                                                                             portrait_input):
    """obama2.jpg smiles with the lips apart (an inner-lip gap of 0.15 face heights): loud
    speech must open the mouth well past that, and silence must return to it.

    Measured from the pixels, independently of the generator: the photo's lower-lip and
    upper-lip patches are found again in each frame by template matching, which gives how far
    the lower lip moved relative to the upper (dlib's lip landmarks lose track on a mouth
    opened this far)."""
    import cv2

    from emo_safe.generators.base import face_crop, face_crop_box

    image = load_image(data_dir / "obama2.jpg")
    face = FaceAnalyzer().find_faces(image).faces[0]
    audio = portrait_input[2]
    frames = list(get_generator("puppet").generate(
        GenerationInput(image, face, audio, seed=3)).frames)
    x0, y0, side = face_crop_box(image.shape, face.box)
    lm = (face.landmarks - [x0, y0]) * (512 / side)
    photo = cv2.cvtColor(face_crop(image, face.box, 512), cv2.COLOR_RGB2GRAY)
    face_h = float(np.linalg.norm(lm[8] - lm[27]))
    resting = float(np.linalg.norm(lm[66] - lm[62])) / face_h
    assert resting > 0.12  # the photo's own open smile

    def moved(frame, k):
        """Vertical displacement of the photo's patch around landmark k in the frame."""
        x, y = int(lm[k, 0]), int(lm[k, 1])
        patch = photo[y - 10:y + 11, x - 24:x + 25]
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        window = grey[y - 10 - 40:y + 11 + 90, x - 24 - 8:x + 25 + 8]
        score = cv2.matchTemplate(window, patch, cv2.TM_CCOEFF_NORMED)
        _, _, _, (bx, by) = cv2.minMaxLoc(score)
        return by - 40

    def opening(frame):
        return resting + (moved(frame, 57) - moved(frame, 51)) / face_h

    feats = audio_features(audio, 25, len(frames))
    idx = np.arange(len(frames))
    loud = np.mean([opening(frames[i]) for i in idx[feats.opening > 0.6]])
    silent = np.median([opening(frames[i]) for i in idx[(idx > 3.2 * 25) & (idx < 4.1 * 25)]])
    assert abs(silent - resting) < 0.01  # silence returns to the photo's own mouth
    assert silent / loud < 0.5, (silent, loud)  # emo-safe 0.1: 0.57 and up
