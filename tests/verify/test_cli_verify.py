"""`emo-safe verify` on many files, over processes, with detector profiles."""

import json
import shutil

from factories import write_tone, write_video


def lines(result):
    return [json.loads(ln) for ln in result.stdout.splitlines() if ln.strip()]


def test_a_directory_of_mixed_and_hostile_files_gives_one_row_each(
        cli, consented, portrait, speech, tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    gen = cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o",
              str(folder / "ours.mp4"), "--generator", "still")
    assert gen.exit_code == 0, gen.stderr
    write_video(folder / "plain.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("this is not a video")
    data = (folder / "ours.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    shutil.copy(portrait, folder / "photo.jpg")
    write_tone(folder / "voice.m4a")
    r = cli("verify", str(folder), "--jobs", "2", "--json")
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in lines(r)}
    assert set(rows) == {"ours.mp4", "plain.mp4", "empty.mp4", "text.mp4", "truncated.mp4",
                         "photo.jpg", "voice.m4a"}
    assert rows["ours.mp4"]["outcome"] == "generated"
    assert rows["plain.mp4"]["outcome"] == "no-evidence"
    # an audio file is read for the audio mark: an unmarked tone is simply not ours
    assert rows["voice.m4a"]["outcome"] == "no-evidence"
    assert rows["voice.m4a"]["audio"]["detected"] is False and rows["voice.m4a"]["tracks"] == []
    for bad in ("empty.mp4", "text.mp4", "truncated.mp4", "photo.jpg"):
        assert rows[bad]["outcome"] == "error" and rows[bad]["error"], bad
    assert r.exit_code == 2  # an unreadable file outranks "no evidence"
    assert "Traceback" not in r.stderr

    human = cli("verify", str(folder / "ours.mp4"), str(folder / "plain.mp4"))
    assert human.exit_code == 1 and "no-evidence" in human.stdout and "generated" in human.stdout


def test_an_outside_verifier_profile_with_only_the_ca_certificate(cli, workspace, consented,
                                                                  portrait, speech, tmp_path):
    out = tmp_path / "ours.mp4"
    assert cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
               "--generator", "still").exit_code == 0
    pub = tmp_path / "published"
    pub.mkdir()
    shutil.copy(workspace.ca_cert_path, pub / "operator-ca.pem")
    (pub / "outside.toml").write_text(
        'name = "outside"\n[trust]\nanchors = ["operator-ca.pem"]\n'
        '[watermark]\nkey = "none"\n[ledger]\nurl = "none"\n')
    r = cli("verify", str(out), "--profile", str(pub / "outside.toml"), "--json")
    row = json.loads(r.stdout)
    assert r.exit_code == 0 and row["outcome"] == "generated" and row["profile"] == "outside"
    assert row["watermark"] is None and row["ledger"] is None

    (pub / "strangers.toml").write_text('name = "strangers"\n[trust]\nanchors = []\n'
                                        '[watermark]\nkey = "none"\n[ledger]\nurl = "none"\n')
    r = cli("verify", str(out), "--profile", str(pub / "strangers.toml"), "--json")
    assert r.exit_code == 1 and json.loads(r.stdout)["outcome"] == "no-evidence"


def test_malformed_profiles_are_one_line_exit_2(cli, tmp_path):
    video = write_video(tmp_path / "v.mp4")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[watermark]\nmax_p_value = 0.5\nscheme = "other"\n[extra]\n')
    r = cli("verify", str(video), "--profile", str(bad))
    assert r.exit_code == 2
    assert "watermark.max_p_value" in r.stderr and "unknown key 'extra'" in r.stderr
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('name = "x"\n[watermark]\nkey_id = "0000000000000000"\n')
    r = cli("verify", str(video), "--profile", str(wrong))
    assert r.exit_code == 2 and "not the one the profile names" in r.stderr


def test_html_report_is_self_contained_with_frames_scores_manifest_and_verdict(
        cli, consented, portrait, speech, tmp_path):
    out = tmp_path / "ours.mp4"
    assert cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
               "--generator", "still").exit_code == 0
    plain = write_video(tmp_path / "plain.mp4")
    report = tmp_path / "report.html"
    r = cli("verify", str(out), str(plain), "--report", str(report))
    assert r.exit_code == 1 and report.exists()
    page = report.read_text()
    assert page.count("<section>") == 2 and "generated" in page and "no-evidence" in page
    assert "<svg" in page and page.count('src="data:image/jpeg;base64,') >= 3
    assert "trusted" in page  # the manifest summary
    assert "http://" not in page and "https://" not in page  # nothing fetched when opened


def test_a_webm_reupload_is_traced_and_an_oversized_file_is_refused(cli, consented, portrait,
                                                                    speech, tmp_path):
    import av

    from emo_safe.media import iter_frames

    out = tmp_path / "ours.mp4"
    assert cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
               "--generator", "still").exit_code == 0
    webm = tmp_path / "reupload.webm"  # what a platform might serve: VP9 in WebM, no manifest
    with av.open(str(webm), "w") as c:
        vs = c.add_stream("libvpx-vp9", rate=25)
        vs.width = vs.height = 512
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "32", "b": "0", "deadline": "realtime", "cpu-used": "8"}
        for f in list(iter_frames(out))[:100]:
            for p in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in vs.encode():
            c.mux(p)
    r = cli("verify", str(webm), "--json")
    row = json.loads(r.stdout)
    assert row["outcome"] == "generated-manifest-stripped" and r.exit_code == 0
    assert row["ledger"]["frames"] > 100 and row["c2pa"]["state"] == "absent"

    small = tmp_path / "small.toml"
    small.write_text('name = "small"\n[limits]\nmax_file_mb = 0.01\n')
    r = cli("verify", str(out), "--profile", str(small), "--json")
    assert r.exit_code == 2 and "too large" in json.loads(r.stdout)["error"]


def test_the_ledger_finds_a_published_file_by_its_hash(cli, workspace, consented, portrait,
                                                       speech, tmp_path):
    out = tmp_path / "ours.mp4"
    gen = cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
              "--generator", "still", "--json")
    gid = json.loads(gen.stdout)["generation_id"]
    blind = tmp_path / "blind.toml"  # no anchors, no watermark key: only the ledger
    blind.write_text('name = "ledger-only"\n[trust]\nanchors = []\n[watermark]\nkey = "none"\n')
    row = json.loads(cli("verify", str(out), "--profile", str(blind), "--json").stdout)
    assert row["outcome"] == "generated" and row["ledger"]["id"] == gid
    assert row["c2pa"]["state"] == "valid-untrusted"
    assert any("byte for byte" in r for r in row["reasons"])
