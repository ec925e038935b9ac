"""The examples work as their docstrings say: a third-party generator package installs and
generates through the entry-point registry, and each task script runs end to end."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True,
                          check=False, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """examples/custom_generator built and installed (into a folder of its own, on the
    path of the processes below) with pip, as a user would."""
    target = tmp_path_factory.mktemp("site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--no-index", "--target", str(target),
                        str(EXAMPLES / "custom_generator")],
                       capture_output=True, text=True, check=False, timeout=600)
    assert r.returncode == 0, r.stderr
    return target


def test_a_third_party_generator_installed_by_entry_point_generates_through_the_pipeline(
        installed_example, workspace, consented, portrait, speech, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_example),
                                                        os.environ.get("PYTHONPATH", "")])}
    listed = run("-c", "from emo_safe.generators import available; print(available())", env=env)
    assert "kenburns" in listed.stdout and "puppet" in listed.stdout, listed.stderr
    out = tmp_path / "kb.mp4"
    r = run("-m", "emo_safe.cli", "--workspace", workspace.root, "generate", "--generator",
            "kenburns", "--generator-option", "zoom=1.3", "--photo", portrait, "--audio",
            speech, "-o", out, "--json", env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["generator"] == "kenburns"
    row = workspace.store().get_generation(result["generation_id"])
    assert json.loads(row.settings)["zoom"] == 1.3
    v = run("-m", "emo_safe.cli", "--workspace", workspace.root, "verify", out, "--json",
            env=env)
    assert v.returncode == 0 and json.loads(v.stdout)["outcome"] == "generated"
    bad = run("-m", "emo_safe.cli", "--workspace", workspace.root, "generate", "--generator",
              "kenburns", "--generator-option", "zoom=9", "--photo", portrait, "--audio",
              speech, "-o", tmp_path / "no.mp4", env=env)
    assert bad.returncode == 2 and "above 2" in bad.stderr and not (tmp_path / "no.mp4").exists()


def test_the_task_scripts_generate_verify_and_prove(tmp_path, portrait, speech, monkeypatch):
    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE", raising=False)
    ws, inbox = tmp_path / "ws", tmp_path / "inbox"
    inbox.mkdir()
    gen = run(EXAMPLES / "generate_safely.py", "--workspace", ws, "--name", "sample person",
              "--photo", portrait, "--audio", speech, "-o", inbox / "ours.mp4",
              "--generator", "still")
    assert gen.returncode == 0, gen.stderr
    generation_id = gen.stdout.split("generation ", 1)[1].split(",", 1)[0]
    (inbox / "notes.txt").write_text("not a video")
    ver = run(EXAMPLES / "verify_folder.py", inbox, "--workspace", ws)
    lines = dict(line.split("\t", 1) for line in ver.stdout.splitlines())
    assert lines[str(inbox / "ours.mp4")].startswith(f"generated\t{generation_id}")
    assert lines[str(inbox / "notes.txt")].startswith("error")
    assert ver.returncode == 2  # the unreadable file
    note = tmp_path / "voice-note.mp3"
    from emo_safe import media

    media.write_audio(note, media.read_audio_track(inbox / "ours.mp4"), bitrate=64_000)
    traced = run(EXAMPLES / "trace_audio_repost.py", note, "--workspace", ws)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert f"payload {generation_id}" in traced.stdout
    assert "generated-manifest-stripped" in traced.stdout
    voice = media.read_audio_track(inbox / "ours.mp4")  # reposted 5 % faster, pitch too
    faster = tmp_path / "faster.mp3"
    media.write_audio(faster, media.Audio(media.resample(voice.samples, round(voice.rate * 1.05),
                                                         voice.rate), voice.rate), bitrate=64_000)
    traced = run(EXAMPLES / "trace_audio_repost.py", faster, "--workspace", ws)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert f"payload {generation_id}" in traced.stdout
    found_scale = float(re.search(r"time scale ([0-9.]+)", traced.stdout).group(1))
    assert found_scale == pytest.approx(1.05, abs=0.002)  # the search's 0.1 % steps
    plain = run(EXAMPLES / "trace_audio_repost.py", faster, "--workspace", ws,
                "--no-time-scale-search")
    assert plain.returncode == 1 and "no payload" in plain.stdout, plain.stdout
    mirrored = tmp_path / "mirrored.mp4"
    media.write_mp4(mirrored, (f[:, ::-1] for f in media.iter_frames(inbox / "ours.mp4")), 25,
                    None, crf=23)
    edited = run(EXAMPLES / "trace_edited_repost.py", mirrored, "--workspace", ws)
    assert edited.returncode == 0, edited.stdout + edited.stderr
    assert f"org.emo-safe.wm.v2 payload {generation_id}" in edited.stdout
    assert "edit undone: mirrored" in edited.stdout
    assert "generated-manifest-stripped" in edited.stdout
    rows = tmp_path / "rows.jsonl"
    arch = run(EXAMPLES / "verify_archive.py", inbox, "--workspace", ws, "--cluster", "local:2",
               "--results", rows)
    assert arch.returncode == 2, arch.stderr  # the unreadable file, as verify_folder says
    assert "2 verified, 0 already" in arch.stdout and "1 generated" in arch.stdout
    again = run(EXAMPLES / "verify_archive.py", inbox, "--workspace", ws, "--cluster",
                "local:2", "--results", rows)
    assert again.returncode == 2 and "0 verified, 2 already" in again.stdout
    assert len(rows.read_text().splitlines()) == 2
    proof = tmp_path / "proof.json"
    pr = run(EXAMPLES / "prove_generation.py", generation_id, "--workspace", ws, "-o", proof)
    assert pr.returncode == 0, pr.stderr
    assert "log: intact" in pr.stdout and "valid" in pr.stdout
    assert json.loads(proof.read_text())["format"] == "emo-safe inclusion proof v1"


def test_durable_credentials_timestamps_and_records_revocation_status(tmp_path, portrait):
    from factories import write_tone

    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    r = run(EXAMPLES / "durable_credentials.py", "--workspace", tmp_path / "ws", "--photo",
            portrait, "--audio", audio, "-o", tmp_path / "out.mp4")
    assert r.returncode == 0, r.stderr
    assert "generated; timestamped 20" in r.stdout and "revocation: not-revoked" in r.stdout
