"""The diffusers: adapter: a real (tiny, random-weight) diffusers pipeline goes through the
gate, the mark, the signature and the ledger exactly like puppet."""

import json

import numpy as np
import pytest

from emo_safe import GenerationRefused, SafeGenerator
from emo_safe.media import Audio, iter_frames
from emo_safe.provenance.read import TRUSTED, read_manifest
from emo_safe.watermark import detect_file

# The diffusers extra is part of the README's test install; without it these tests fail (like
# the PostgreSQL and Chromium ones), they never skip.
try:
    import diffusers  # noqa: F401
except ImportError:  # pragma: no cover
    pytest.fail("the diffusers tests need the extra: pip install torch==2.13.0 && pip install "
                "-e '.[dev,diffusers,postgres]' (README, Test)", pytrace=False)
import tiny_diffusers


@pytest.fixture
def short_speech(tmp_path, speech):
    from emo_safe.media import load_audio, write_wav

    audio = load_audio(speech)
    path = tmp_path / "short.wav"
    write_wav(path, Audio(audio.samples[: int(1.6 * audio.rate)], audio.rate))
    return path


@pytest.mark.parametrize("kind", ["folder", "entry-point"])
def test_a_diffusers_pipeline_is_gated_marked_signed_and_recorded(
        workspace, consented, portrait, short_speech, tmp_path, kind):
    if kind == "folder":
        spec = f"diffusers:{tiny_diffusers.save_pipeline(tmp_path / 'tiny-pipe')}"
    else:
        spec = "diffusers:tiny_diffusers:make_pipeline"
    out = tmp_path / "out.mp4"
    result = SafeGenerator(workspace, generator=spec).generate(
        portrait, short_speech, out, seed=4, size=256, steps=2, guidance=3.0)
    assert result.generator == "diffusers:DDPMPipeline" and result.frames == 40
    frames = list(iter_frames(out))
    assert len(frames) == 40 and frames[0].shape == (256, 256, 3)
    ev = read_manifest(out, workspace.trust_anchors_pem(), workspace.assertion_label)
    assert ev.state == TRUSTED and ev.ai_generated
    settings = ev.generation["settings"]
    assert settings["steps"] == 2 and settings["guidance"] == 3.0 and settings["seed"] == 4
    row = workspace.store().get_generation(result.generation_id)
    assert json.loads(row.settings)["pipeline"] == "DDPMPipeline"
    assert detect_file(out, workspace.watermark_key()).payload == result.generation_id


def test_the_same_seed_gives_the_same_frames(portrait):
    from emo_safe.faces import FaceAnalyzer
    from emo_safe.generators import GenerationInput, get_generator
    from emo_safe.media import load_image

    image = load_image(portrait)
    face = FaceAnalyzer().find_faces(image).faces[0]
    audio = Audio(np.zeros(8820, np.float32), 44100)  # 0.2 s: 5 frames

    def render(seed):
        gen = get_generator("diffusers:tiny_diffusers:make_pipeline")
        inp = GenerationInput(image, face, audio, seed=seed, size=64, options={"steps": 2})
        return np.stack(list(gen.generate(inp).frames))

    a, b, c = render(1), render(1), render(2)
    assert a.shape == (5, 64, 64, 3) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_refused_request_never_runs_the_pipeline(workspace, portrait, short_speech, tmp_path,
                                                   monkeypatch):
    calls = []
    original = tiny_diffusers.make_pipeline

    def counting():
        pipe = original()
        real_call = type(pipe).__call__
        monkeypatch.setattr(type(pipe), "__call__",
                            lambda self, *a, **k: calls.append(1) or real_call(self, *a, **k))
        return pipe

    monkeypatch.setattr(tiny_diffusers, "make_pipeline", counting)
    with pytest.raises(GenerationRefused):
        SafeGenerator(workspace, generator="diffusers:tiny_diffusers:make_pipeline").generate(
            portrait, short_speech, tmp_path / "x.mp4")  # no consent
    assert calls == [] and not (tmp_path / "x.mp4").exists()
