"""The CLI contract: exit codes, one-line errors, nothing half-written."""

import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
from factories import copy_to, write_huge_png, write_silence_flac, write_video


def one_clear_line(result):
    assert "Traceback" not in result.output + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("emo-safe: error:")
    return lines[0]


def test_consent_add_list_revoke(cli, portrait):
    add = cli("consent", "add", "--name", "Eileen", "--photo", str(portrait), "--json")
    assert add.exit_code == 0
    cid = json.loads(add.stdout)["id"]
    listed = json.loads(cli("consent", "list", "--json").stdout)["consents"]
    assert [c["id"] for c in listed] == [cid]
    assert "template" not in json.dumps(listed) and "embedding" not in json.dumps(listed)
    assert cli("consent", "revoke", cid).exit_code == 0
    assert json.loads(cli("consent", "list", "--json").stdout)["consents"][0]["revoked_at"]


def test_generate_then_verify_then_tamper(cli, consented, portrait, speech, tmp_path):
    out = tmp_path / "o.mp4"
    gen = cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
              "--json")
    assert gen.exit_code == 0, gen.stderr
    gid = json.loads(gen.stdout)["generation_id"]
    ver = cli("verify", str(out), "--json")
    assert ver.exit_code == 0
    v = json.loads(ver.stdout)
    assert v["outcome"] == "generated" and v["c2pa"]["state"] == "trusted"
    assert v["ledger"]["id"] == gid

    data = bytearray(out.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + (len(data) - mdat) // 2] ^= 0x80
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    tampered = cli("verify", str(bad), "--json")
    assert tampered.exit_code == 3
    c2pa = json.loads(tampered.stdout)["c2pa"]
    assert "assertion.bmffHash.mismatch" in c2pa["failure_codes"]
    assert c2pa["hard_binding_ok"] is False and v["c2pa"]["hard_binding_ok"] is True


def test_verify_unsigned_is_absent_exit_1(cli, tmp_path):
    r = cli("verify", str(write_video(tmp_path / "plain.mp4")), "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["c2pa"]["state"] == "absent"


def test_refusal_is_exit_1_with_reasons(cli, portrait, speech, tmp_path):
    out = tmp_path / "o.mp4"
    r = cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
            "--json")
    assert r.exit_code == 1 and not out.exists()
    assert json.loads(r.stdout)["reasons"][0]["code"] == "no-consent"
    assert cli("check", str(portrait)).exit_code == 1


@pytest.fixture
def bad_inputs(tmp_path, data_dir):
    d = tmp_path / "bad"
    d.mkdir()
    jpg = (data_dir / "obama.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(jpg[: len(jpg) // 3])
    (d / "text.jpg").write_text("hello, I am a text file\n")
    (d / "empty.wav").write_bytes(b"")
    write_silence_flac(d / "eight-hours.flac", hours=8)
    write_huge_png(d / "huge.png", 20000, 20000)
    return d


@pytest.mark.parametrize("photo,audio,needle", [
    ("truncated.jpg", None, "truncated JPEG"),
    ("text.jpg", None, "not a supported image"),
    ("huge.png", None, "too large"),
    ("missing.jpg", None, "not found"),
    (None, "empty.wav", "empty"),
    (None, "eight-hours.flac", "too long"),
    (None, "missing.wav", "not found"),
])
def test_bad_inputs_are_one_line_exit_2_nothing_written(cli, consented, bad_inputs, portrait,
                                                         speech, tmp_path, photo, audio, needle):
    from emo_safe.workspace import Workspace

    ws = Workspace.locate(os.environ["EMO_SAFE_HOME"])
    before = len(ws.store().list_decisions())
    out = tmp_path / "out.mp4"
    p = bad_inputs / photo if photo else portrait
    a = bad_inputs / audio if audio else speech
    r = cli("generate", "--photo", str(p), "--audio", str(a), "-o", str(out))
    assert r.exit_code == 2
    assert needle in one_clear_line(r)
    assert not out.exists() and list(tmp_path.glob(".emo-safe-*")) == []
    assert len(ws.store().list_decisions()) == before  # bad input is not a decision


def test_corrupt_mp4_given_to_verify(cli, tmp_path, speech):
    good = write_video(tmp_path / "g.mp4", frames=10)
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(good.read_bytes()[:300])
    r = cli("verify", str(bad))
    assert r.exit_code == 2
    assert "cannot read video" in one_clear_line(r)
    # audio without video is read for the audio mark (an unmarked voice: no evidence)
    r = cli("verify", str(copy_to(speech, tmp_path, "audio-only.mp4")))
    assert r.exit_code == 1 and "no-evidence" in r.stdout
    assert "audio watermark was not detected" in r.stdout


def test_existing_output_is_never_overwritten(cli, consented, portrait, speech, tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    r = cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out))
    assert r.exit_code == 2 and "already exists" in one_clear_line(r)
    assert out.read_bytes() == b"precious"


def test_fresh_demo_produces_a_trusted_playable_video(tmp_path):
    """The newcomer's path: the installed console script, a fresh workspace, `emo-safe demo`."""
    env = {**os.environ, "EMO_SAFE_HOME": str(tmp_path / "home")}
    env.pop("EMO_SAFE_KEY_PASSPHRASE", None)
    exe = os.path.join(os.path.dirname(sys.executable), "emo-safe")
    r = subprocess.run([exe, "demo", "--json"], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    video = report["generation"]["output"]
    with av.open(video) as c:
        assert sum(1 for _ in c.decode(video=0)) == report["generation"]["frames"]
    with av.open(video) as c:
        assert sum(f.samples for f in c.decode(audio=0)) > 0
    assert report["verdict"]["outcome"] == "generated"
    assert report["verdict"]["c2pa"]["state"] == "trusted"
    assert report["verdict"]["c2pa"]["ai_generated"]
    gid = report["generation"]["generation_id"]
    assert report["verdict"]["c2pa"]["generation"]["generation_id"] == gid
    # The demo output carries the watermark, and verify links it to the ledger row.
    assert report["verdict"]["watermark"]["detected"]
    assert report["verdict"]["watermark"]["payload"] == gid
    assert report["verdict"]["ledger"]["id"] == gid
    assert report["verdict"]["ledger"]["watermark_payload"] == gid


def test_stripped_and_reencoded_output_is_still_traced(cli, consented, portrait, speech,
                                                        tmp_path):
    from emo_safe import media

    out = tmp_path / "o.mp4"
    gid = json.loads(cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o",
                         str(out), "--json").stdout)["generation_id"]
    stripped = tmp_path / "reupload.mp4"  # a platform re-encode: no manifest, new bitstream
    media.write_mp4(stripped, media.iter_frames(out), 25, media.read_audio_track(out), crf=23)
    v = json.loads(cli("verify", str(stripped), "--json").stdout)
    assert v["outcome"] == "generated-manifest-stripped"
    assert v["c2pa"]["state"] == "absent"
    assert v["watermark"]["payload"] == gid and v["watermark"]["p_value"] < 1e-6
    assert v["ledger"]["id"] == gid


def test_watermark_embed_and_detect_commands(cli, tmp_path, portrait):
    from emo_safe import media

    img = media.load_image(portrait)[:256, :256]
    src = tmp_path / "src.mp4"
    media.write_mp4(src, (np.roll(img, i, axis=1) for i in range(25)), 25, None, crf=12)
    plain = cli("watermark", "detect", str(src), "--json")
    assert plain.exit_code == 1 and json.loads(plain.stdout)["detected"] is False
    dest = tmp_path / "marked.mp4"
    r = cli("watermark", "embed", str(src), "-o", str(dest), "--payload", "0badc0ffee00")
    assert r.exit_code == 0, r.stderr
    found = json.loads(cli("watermark", "detect", str(dest), "--json").stdout)
    assert set(found) >= {"detected", "p_value", "payload", "frames"}
    assert found["detected"] and found["payload"] == "0badc0ffee00" and found["frames"] == 25
    bad = cli("watermark", "embed", str(src), "-o", str(tmp_path / "x.mp4"), "--payload", "zz")
    assert bad.exit_code == 2 and "hex" in one_clear_line(bad)


def test_watermark_detect_reads_a_long_clip_until_its_mark_is_conclusive(cli, tmp_path,
                                                                        portrait):
    from emo_safe import media

    img = media.load_image(portrait)[:256, :256]
    src = tmp_path / "long.mp4"  # 16 s at 10 fps
    media.write_mp4(src, (np.roll(img, i, axis=1) for i in range(160)), 10, None, crf=18)
    dest = tmp_path / "marked.mp4"
    assert cli("watermark", "embed", str(src), "-o", str(dest), "--payload",
               "0badc0ffee00").exit_code == 0
    early = json.loads(cli("watermark", "detect", str(dest), "--json").stdout)
    every = json.loads(cli("watermark", "detect", str(dest), "--json", "--no-early-looks").stdout)
    assert early["payload"] == every["payload"] == "0badc0ffee00"
    assert (early["frames"], every["frames"]) == (80, 160)
    assert len(every["segment_z"]) == 16


def test_names_with_rich_markup_are_shown_as_typed_and_reason_codes_stay_visible(
        cli, portrait, tmp_path, data_dir):
    hostile = "Eve [/x] [bold]not bold[/bold] [link=http://e.x]y[/link]"
    add = cli("consent", "add", "--name", hostile, "--photo", str(portrait))
    assert add.exit_code == 0, add.stderr
    listed = cli("consent", "list")
    assert listed.exit_code == 0 and "[/x]" in listed.stdout and "[bold]" in listed.stdout
    g = cli("gallery", "add", "--name", "[/red] Famous", str(data_dir / "obama.jpg"))
    assert g.exit_code == 0 and "[/red] Famous" in cli("gallery", "list").stdout
    refused = cli("check", str(data_dir / "alex-lacamoire.png"))
    assert refused.exit_code == 1  # a refusal, not an "internal error" exit 2
    assert "[no-consent]" in refused.stdout


def test_two_runs_writing_the_same_output_never_lose_the_first_file(
        workspace, consented, portrait, speech, tmp_path, monkeypatch):
    """The second run checked that the output was free before the first one finished; when it
    publishes, the first one's file is there, and it refuses instead of replacing it."""
    from emo_safe import SafeGenerator
    from emo_safe.errors import InputError
    from emo_safe.provenance import sign

    out = tmp_path / "same.mp4"
    original = sign.sign_mp4

    def first_run_finishes_meanwhile(*args, **kwargs):
        store = original(*args, **kwargs)
        out.write_bytes(b"the first run's video")
        return store

    monkeypatch.setattr("emo_safe.pipeline.sign_mp4", first_run_finishes_meanwhile)
    with pytest.raises(InputError, match="already exists"):
        SafeGenerator(workspace, generator="still").generate(portrait, speech, out)
    assert out.read_bytes() == b"the first run's video"
    assert list(tmp_path.glob(".emo-safe-*")) == [] and list(tmp_path.glob(".*.partial")) == []


def test_a_planted_partial_symlink_is_never_followed(cli, workspace, tmp_path):
    from emo_safe import media

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("log.json", "marked.mp4"):
        (tmp_path / f".{name}.partial").symlink_to(victim)
    assert cli("audit", "export", "-o", str(tmp_path / "log.json")).exit_code == 0
    src = tmp_path / "src.mp4"
    media.write_mp4(src, (np.zeros((64, 64, 3), np.uint8) for _ in range(5)), 25)
    r = cli("watermark", "embed", str(src), "-o", str(tmp_path / "marked.mp4"), "--payload",
            "0123456789ab")
    assert r.exit_code == 0, r.stderr
    assert victim.read_text() == "precious"
    assert json.loads((tmp_path / "log.json").read_text())["entries"]


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_device_or_fifo_given_as_a_profile_policy_key_or_head_is_one_clear_error(
        cli, tmp_path, portrait, special):
    if special == "fifo":
        special = str(tmp_path / "pipe")
        os.mkfifo(special)
    for args in (["verify", str(portrait), "--profile", special],
                 ["check", str(portrait), "--policy", special],
                 ["audit", "verify", "--head", special],
                 ["audit", "check-proof", special, "--public-key", special]):
        r = subprocess.run([sys.executable, "-m", "emo_safe.cli", *args], capture_output=True,
                           text=True, timeout=60, check=False,
                           env={**os.environ})
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and "not a regular file" in r.stderr, r.stderr
