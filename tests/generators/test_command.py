"""The command: adapter: an external program behind the same gate, mark, sign and record."""

import json
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


def test_external_program_output_is_gated_marked_signed_and_recorded(
        workspace, consented, portrait, speech, tmp_path, private_tmp):
    out = tmp_path / "out" / "video.mp4"
    out.parent.mkdir()
    result = SafeGenerator(workspace, generator=command()).generate(portrait, speech, out)
    assert result.generator.startswith("command:")
    ev = read_manifest(out, workspace.trust_anchors_pem(), workspace.assertion_label)
    assert ev.state == TRUSTED and ev.ai_generated
    settings = ev.generation["settings"]
    assert settings["program"] == Path(sys.executable).name
    assert len(settings["template_sha256"]) == 64
    assert "fake_generator" not in json.dumps(ev.to_dict())  # the template itself is not shown
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


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("mode", ["detach", "detach-hang"])
def test_a_detached_grandchild_holding_stdout_neither_outlasts_the_run_nor_survives_it(
        workspace, consented, portrait, speech, tmp_path, private_tmp, mode):
    marker = tmp_path / "grandchild.pid"
    gen = SafeGenerator(workspace, generator=command(mode, marker), generator_timeout=4)
    t = time.monotonic()
    if mode == "detach":
        gen.generate(portrait, speech, tmp_path / "ok.mp4")  # succeeds at once...
    else:
        with pytest.raises(GeneratorError, match="did not finish within 4 s"):
            gen.generate(portrait, speech, tmp_path / "x.mp4")
    assert time.monotonic() - t < 40  # ...not after the grandchild's ten minutes
    pid = int(marker.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)  # killed although it left the process group and the session
    assert list(private_tmp.iterdir()) == []


def test_the_program_never_sees_emo_safes_secrets(workspace, consented, portrait, speech,
                                                  tmp_path, private_tmp, monkeypatch):
    monkeypatch.setenv("EMO_SAFE_KEY_PASSPHRASE", "correct horse")
    monkeypatch.setenv("EMO_SAFE_DATABASE_URL", workspace.database_url)
    marker = tmp_path / "env.json"
    SafeGenerator(workspace, generator=command("env", marker)).generate(
        portrait, speech, tmp_path / "o.mp4")
    env = json.loads(marker.read_text())
    assert not {k for k in env if k.startswith("EMO_SAFE_") and k != "EMO_SAFE_RUN"}
    assert "correct horse" not in marker.read_text()


def test_a_shell_template_gets_every_placeholder_quoted(workspace, consented, portrait, speech,
                                                        tmp_path, monkeypatch):
    odd = tmp_path / "tmp dir $(touch pwned) ;x"
    odd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(odd))
    template = (f"command:sh -c '{sys.executable} {SCRIPT} {{photo}} {{audio}} {{output}} ok'")
    out = tmp_path / "shell.mp4"
    SafeGenerator(workspace, generator=template).generate(portrait, speech, out)
    assert out.exists() and not (tmp_path / "pwned").exists() and not Path("pwned").exists()


def test_sigterm_during_a_run_removes_the_unmarked_output_and_the_inputs(
        workspace, consented, portrait, speech, tmp_path):
    import signal
    import subprocess

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    marker = tmp_path / "started"
    out = tmp_path / "never.mp4"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emo_safe.cli", "--workspace", str(workspace.root), "generate",
         "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
         "--generator", command("hang", marker)],
        env={**__import__("os").environ, "TMPDIR": str(system_tmp)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists() and list(system_tmp.iterdir())  # the run's inputs are there
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143 and b"Traceback" not in stderr
    assert list(system_tmp.iterdir()) == [] and not out.exists()
    assert list(tmp_path.glob(".emo-safe-*")) == []
