"""Presets for upstream generators: each runs the project's documented program with exactly its
argument set (a stand-in with the upstream flags checks it), collects the video from where the
program writes it, and keeps every guarantee of command: (gated, marked, signed, recorded,
the unmarked output deleted)."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from emo_safe import SafeGenerator
from emo_safe.errors import InputError
from emo_safe.provenance.read import TRUSTED, read_manifest
from emo_safe.watermark import detect_file

STANDIN = Path(__file__).with_name("upstream_standin.py")
SCRIPTS = {"sadtalker": "inference.py", "hallo": "scripts/inference.py",
           "echomimic": "infer_audio2vid.py", "sonic": "demo.py", "memo": "inference.py"}
# Files the programs expect beside them in their checkout.
EXTRA = {"hallo": {"configs/inference/default.yaml": "data: {}\n"},
         "echomimic": {"configs/prompts/animation.yaml":
                       'pretrained_base_model_path: "./pretrained_weights/sd/"\n'
                       'weight_dtype: "fp16"\n\ntest_cases:\n  "./assets/a.png":\n'
                       '    - "./assets/a.wav"\n'},
         "memo": {"configs/inference.yaml": "fps: 30\n"}}


def expected_argv(project, root, work, photo, audio):
    return {
        "sadtalker": ["--driven_audio", audio, "--source_image", photo, "--result_dir",
                      f"{work}/results", "--checkpoint_dir", f"{root}/checkpoints", "--size",
                      "256", "--preprocess", "crop", "--pose_style", "0"],
        "hallo": ["--source_image", photo, "--driving_audio", audio, "--output",
                  f"{work}/output.mp4"],
        "echomimic": ["--config", f"{work}/animation.yaml", "-W", "512", "-H", "512", "--seed",
                      "0", "--fps", "25", "--steps", "30", "--cfg", "2.5"],
        "sonic": [photo, audio, f"{work}/output.mp4", "--seed", "0"],
        "memo": ["--config", f"{root}/configs/inference.yaml", "--input_image", photo,
                 "--input_audio", audio, "--output_dir", f"{work}/outputs", "--seed", "0"],
    }[project]


def checkout(tmp_path, project) -> Path:
    root = tmp_path / project
    script = root / SCRIPTS[project]
    script.parent.mkdir(parents=True)
    shutil.copy(STANDIN, script)
    for rel, text in EXTRA.get(project, {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("project", sorted(SCRIPTS))
def test_a_preset_runs_the_upstream_program_and_its_output_is_gated_marked_and_recorded(
        workspace, consented, portrait, speech, tmp_path, private_tmp, monkeypatch, project):
    root = checkout(tmp_path, project)
    record = tmp_path / "record.json"
    monkeypatch.setenv("STANDIN_PROJECT", project)
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    out = tmp_path / f"{project}.mp4"
    gen = SafeGenerator(workspace, generator=f"{project}:{root}",
                        generator_options={"python": sys.executable, "timeout": 120})
    result = gen.generate(portrait, speech, out)
    seen = json.loads(record.read_text())
    # The exact upstream argument set, with the gated inputs in a private work directory.
    photo, audio = seen["inputs"]
    assert photo.endswith(".png") and audio.endswith(".wav")
    work = Path(photo).parent
    assert work.parent == private_tmp
    assert seen["argv"] == expected_argv(project, root, work, photo, audio)
    assert Path(seen["cwd"]) == root and Path(seen["script"]) == root / SCRIPTS[project]
    if project in ("hallo", "echomimic"):
        assert seen["audio_rate"] == 16000
    # Gated, marked, signed, recorded; nothing unmarked is left, inside or outside the work
    # directory (EchoMimic writes under its own output/ folder).
    ev = read_manifest(out, workspace.trust_anchors_pem(), workspace.assertion_label)
    assert ev.state == TRUSTED and ev.generation["generator"]["name"] == project
    assert detect_file(out, workspace.watermark_key()).payload == result.generation_id
    assert workspace.store().get_generation(result.generation_id).generator == project
    assert list(private_tmp.iterdir()) == []
    assert not [p for p in root.rglob("*.mp4")]


def test_a_preset_without_its_checkout_or_with_an_unknown_option_is_an_input_error(
        workspace, consented, portrait, speech, tmp_path):
    with pytest.raises(InputError, match="not a sadtalker checkout"):
        SafeGenerator(workspace, generator=f"sadtalker:{tmp_path}")
    root = checkout(tmp_path, "sonic")
    gen = SafeGenerator(workspace, generator=f"sonic:{root}", generator_options={"steps": 3})
    with pytest.raises(InputError, match="does not take option"):
        gen.generate(portrait, speech, tmp_path / "x.mp4")
    assert workspace.store().list_decisions() == []  # refused before the gate: not a decision
