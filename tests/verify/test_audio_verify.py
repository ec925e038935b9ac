"""`emo-safe verify` on the audio mark: audio ripped from an output, an output's audio dubbed
onto other footage, and frames and audio from two different generations."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from factories import still_outputs, transcode_audio, write_audio, write_video

from emo_safe import media
from emo_safe._resources import sample_path
from emo_safe.cli import main
from emo_safe.provenance.read import read_manifest
from emo_safe.watermark import DEFAULT_SCHEME

AUDIO = "org.emo-safe.wm.audio.v1"
VIDEO = DEFAULT_SCHEME


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """One workspace with two generations (made once for the module: each takes seconds)."""
    return still_outputs(tmp_path_factory, "audio", {"first": None, "second": None})


@pytest.fixture
def generate(deployment):
    _, made = deployment
    return lambda name="first": made["second" if name == "second" else "first"]


@pytest.fixture
def cli(deployment, monkeypatch):
    ws, _ = deployment
    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("EMO_SAFE_DATABASE_URL", raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(main, ["--workspace", str(ws.root), *args],
                                       catch_exceptions=False)


@pytest.fixture
def workspace(deployment):
    return deployment[0]


def verify(cli, path):
    r = cli("verify", str(path), "--json")
    return r.exit_code, json.loads(r.stdout)


def test_the_manifest_binds_both_marks_each_scoped_to_its_track(generate, workspace):
    out, gid = generate("ours")
    ev = read_manifest(out, workspace.trust_anchors_pem(), workspace.assertion_label)
    bindings = {b["alg"]: b for b in ev.soft_bindings}
    assert set(bindings) == {VIDEO, AUDIO}
    for binding in bindings.values():
        (block,) = binding["blocks"]
        assert block["value"] == gid and block["scope"]["timespan"]["start"] == 0
        assert 7000 <= block["scope"]["timespan"]["end"] <= 7700  # the 7.5 s voice
    assert ev.generation["audio_watermark"]["scheme"] == AUDIO
    assert ev.binds(AUDIO, gid) and not ev.binds(AUDIO, "000000000000")


@pytest.mark.parametrize("suffix,bitrate", [(".mp3", 64_000), (".m4a", 64_000),
                                            (".ogg", 48_000), (".flac", None),
                                            (".wav", None)])
def test_audio_ripped_from_an_output_is_traced_to_its_generation(generate, cli, tmp_path,
                                                                 suffix, bitrate):
    out, gid = generate("ours")
    ripped = transcode_audio(media.read_audio_track(out), tmp_path, suffix, bitrate,
                             name="voice-note")
    path = tmp_path / f"voice-note{suffix}"
    assert ripped.samples.size
    code, row = verify(cli, path)
    assert code == 0, row
    assert row["outcome"] == "generated-manifest-stripped"
    assert row["tracks"] == [] and row["watermark"] is None
    assert row["audio"]["payload"] == gid and row["audio"]["medium"] == "audio"
    assert row["ledger"]["id"] == gid
    assert any("no video track" in r for r in row["reasons"])
    # it sounds like the generation: the copy check compared it with the recorded audio
    assert row["audio_fingerprint_agreement"] >= 0.8
    assert any("sounds like the generation's recorded audio" in r for r in row["reasons"])
    # its Content Credential comes back: the stored manifest's soft binding names this mark
    assert row["recovered_manifest"]["generation_id"] == gid


def test_an_outputs_audio_dubbed_onto_other_footage(generate, cli, tmp_path):
    out, gid = generate("ours")
    other = write_video(tmp_path / "other.mp4", frames=150, size=(240, 320))
    dub = tmp_path / "dub.mp4"
    media.write_mp4(dub, media.iter_frames(other), 25.0, media.read_audio_track(out))
    code, row = verify(cli, dub)
    assert code == 0 and row["outcome"] == "generated-manifest-stripped", row
    assert row["watermark"]["detected"] is False and row["audio"]["payload"] == gid
    assert row["ledger"]["id"] == gid
    assert any("only the audio does" in r for r in row["reasons"])


def test_frames_and_audio_of_two_generations_are_inconsistent(generate, cli, tmp_path):
    first, first_id = generate("first")
    second, second_id = generate("second")
    remix = tmp_path / "remix.mp4"
    media.write_mp4(remix, media.iter_frames(first), 25.0, media.read_audio_track(second))
    code, row = verify(cli, remix)
    assert code == 3 and row["outcome"] == "inconsistent", row
    assert row["watermark"]["payload"] == first_id and row["audio"]["payload"] == second_id
    assert any(first_id in r and second_id in r for r in row["reasons"])


def test_the_report_shows_the_audio_mark(generate, cli, tmp_path):
    out, gid = generate("ours")
    transcode_audio(media.read_audio_track(out), tmp_path, ".m4a", 64_000, name="voice")
    report = tmp_path / "report.html"
    r = cli("verify", str(tmp_path / "voice.m4a"), "--report", str(report))
    assert r.exit_code == 0, r.stdout
    page = report.read_text()
    assert "<h3>Audio mark</h3><p>detected" in page and gid in page


def test_unmarked_audio_files_are_no_evidence(cli):
    code, row = verify(cli, sample_path("speech.m4a"))
    assert code == 1 and row["outcome"] == "no-evidence" and row["audio"]["detected"] is False
    assert any("audio watermark was not detected" in r for r in row["reasons"])


def test_a_clip_too_short_to_read_is_not_passed_off_as_unmarked(generate, cli, tmp_path):
    out, gid = generate("ours")
    track = media.read_audio_track(out)
    write_audio(tmp_path / "blip.wav", track.samples[: int(track.rate * 0.4)], track.rate)
    code, row = verify(cli, tmp_path / "blip.wav")
    assert code == 1 and row["audio"]["payload"] is None, row
    assert any("the audio is 0.40 s long: under 3 s the audio mark may be too weak to read"
               in r for r in row["reasons"]), row["reasons"]
    # a short clip whose payload does come back needs no such warning
    write_audio(tmp_path / "clip.wav", track.samples[: track.rate * 2], track.rate)
    code, row = verify(cli, tmp_path / "clip.wav")
    assert code == 0 and row["audio"]["payload"] == gid, row
    assert not any("too weak to read" in r for r in row["reasons"])
    _, whole = verify(cli, sample_path("speech.m4a"))  # 7.5 s, unmarked: simply not ours
    assert not any("too weak to read" in r for r in whole["reasons"])


@pytest.mark.parametrize("name,content,message", [
    ("empty.wav", b"", "media file is empty"),
    ("words.mp3", b"not audio at all\n" * 50, "not a readable media file"),
])
def test_an_unreadable_audio_file_is_one_line_exit_2(cli, tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    r = cli("verify", str(tmp_path / name))
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_watermark_detect_reads_an_audio_file(generate, cli, tmp_path):
    out, gid = generate("ours")
    transcode_audio(media.read_audio_track(out), tmp_path, ".mp3", 64_000, name="note")
    r = cli("watermark", "detect", str(tmp_path / "note.mp3"), "--json")
    found = json.loads(r.stdout)
    assert r.exit_code == 0 and found["scheme"] == AUDIO and found["payload"] == gid
    assert found["media"]["video"] is None
    both = json.loads(cli("watermark", "detect", str(out), "--json").stdout)
    assert both["scheme"] == VIDEO  # the frames' evidence stays on top for a video
    assert both["media"]["audio"]["payload"] == both["media"]["video"]["payload"] == gid


def test_the_audio_mark_copied_onto_other_audio_is_inconsistent(generate, cli, tmp_path):
    """The copy attack on the audio mark at its strongest: the generation's exact mark on
    other audio (here made with `watermark embed` and the generation's payload, which is
    more than an outsider estimating the mark from outputs could do)."""
    _, gid = generate("ours")
    speech = media.load_audio(sample_path("speech.m4a"))
    other = media.Audio(np.ascontiguousarray(speech.samples[::-1]), speech.rate)  # other sounds
    host = tmp_path / "other.wav"
    media.write_audio(host, other)
    forged = tmp_path / "forged.flac"
    r = cli("watermark", "embed", str(host), "-o", str(forged), "--payload", gid)
    assert r.exit_code == 0, r.output
    transcode_audio(media.load_audio(forged), tmp_path, ".m4a", 64_000, name="forged")
    code, row = verify(cli, tmp_path / "forged.m4a")
    assert row["audio"]["payload"] == gid  # the mark itself reads perfectly
    assert code == 3 and row["outcome"] == "inconsistent", row
    assert row["audio_fingerprint_agreement"] < 0.66
    assert any("does not sound like that generation" in r and gid in r
               for r in row["reasons"])
    assert row["recovered_manifest"] is None  # nothing is vouched for
