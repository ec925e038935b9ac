"""The command: adapter: an external program behind the same gate, mark, sign and record."""

import sys
import tempfile
import time
from pathlib import Path

import pytest

from emo_safe import GenerationRefused, SafeGenerator
from emo_safe.errors import GeneratorError
from emo_safe.provenance.read import TRUSTED, read_manifest
from emo_safe.watermark import detect_file

SCRIPT = Path(__file__).with_name("fake_generator.py")


def command(mode="ok", marker=None):
    extra = f" --marker {marker}" if marker else ""
    return f"command:{sys.executable} {SCRIPT} {{photo}} {{audio}} {{output}} {mode}{extra}"


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Where the adapter's private work directories go, to check that none is left behind."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_external_program_output_is_gated_marked_signed_and_recorded(
        workspace, consented, portrait, speech, tmp_path, private_tmp):
    out = tmp_path / "out" / "video.mp4"
    out.parent.mkdir()
    result = SafeGenerator(workspace, generator=command()).generate(portrait, speech, out)
    assert result.generator.startswith("command:")
    ev = read_manifest(out, workspace.trust_anchors_pem(), workspace.assertion_label)
    assert ev.state == TRUSTED and ev.ai_generated
    assert ev.generation["settings"]["command"].endswith("{output} ok")
    assert detect_file(out, workspace.watermark_key()).payload == result.generation_id
    row = workspace.store().get_generation(result.generation_id)
    assert row.generator == result.generator and row.frames == result.frames > 150
    assert list(private_tmp.iterdir()) == []  # the program's unmarked video is gone
    assert [p.name for p in out.parent.iterdir()] == ["video.mp4"]


def test_a_refused_request_never_starts_the_program(workspace, portrait, speech, tmp_path,
                                                    private_tmp):
    marker = tmp_path / "started"
    with pytest.raises(GenerationRefused):
        SafeGenerator(workspace, generator=command(marker=marker)).generate(
            portrait, speech, tmp_path / "x.mp4")  # no consent for this face
    assert not marker.exists() and list(private_tmp.iterdir()) == []


@pytest.mark.parametrize(("mode", "message"), [
    ("fail", "exit code 3: CUDA out of memory"),
    ("empty", "without writing"),
    ("hang", "did not finish within 3 s"),
])
def test_a_failing_or_hanging_program_is_a_clear_error_with_nothing_published(
        workspace, consented, portrait, speech, tmp_path, private_tmp, mode, message):
    out = tmp_path / "x.mp4"
    t = time.monotonic()
    gen = SafeGenerator(workspace, generator=command(mode), generator_timeout=3)
    with pytest.raises(GeneratorError, match=message):
        gen.generate(portrait, speech, out)
    assert time.monotonic() - t < 30
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".emo-safe-*")) == []
    assert list(private_tmp.iterdir()) == []
    assert workspace.store().list_generations() == []


def test_cli_runs_a_command_generator_with_a_timeout(cli, consented, portrait, speech, tmp_path):
    out = tmp_path / "cli.mp4"
    r = cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
            "--generator", command("hang"), "--timeout", "2")
    assert r.exit_code == 2 and "did not finish within 2 s" in r.stderr
    assert not out.exists()
