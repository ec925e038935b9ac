"""The verification service, against a real `emo-safe serve` process on loopback: verdicts,
recovered Content Credentials, the Soft Binding Resolution API, hostile uploads, the page in a
real browser, and nothing of an upload kept."""

from __future__ import annotations

import base64
import io
import json
import socket
import time
from pathlib import Path

import c2pa
import cv2
import numpy as np
import pytest
from factories import mark_residue, write_audio
from servers import start_server, stop_server

from emo_safe.media import iter_frames, load_image, read_audio_track, write_mp4
from emo_safe.watermark import DEFAULT_SCHEME

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def reencoded(deployment, tmp_path_factory):
    """The output re-encoded by FFmpeg (libx264, CRF 23): the manifest is gone."""
    _, _, out = deployment
    path = tmp_path_factory.mktemp("reencode") / "reposted.mp4"
    write_mp4(path, iter_frames(out), 25, read_audio_track(out), crf=23)
    return path


def post_file(client, path: Path, **kwargs):
    with open(path, "rb") as fh:
        return client.post("/v1/verify", files={"file": (path.name, fh, "video/mp4")}, **kwargs)


def test_the_output_itself_is_generated(server, deployment):
    _, result, out = deployment
    with server.client() as c:
        r = post_file(c, out)
    assert r.status_code == 200, r.text
    row = r.json()
    assert row["outcome"] == "generated" and row["ledger"]["id"] == result.generation_id
    assert row["c2pa"]["state"] == "trusted" and row["file"] == "upload"
    assert row["recovered_manifest"] is None  # the embedded one is there


def test_a_reencoded_copy_gets_its_credential_back_and_the_lookups_agree(
        server, deployment, reencoded):
    _, result, _ = deployment
    with server.client() as c:
        raw = c.post("/v1/verify", content=reencoded.read_bytes(),
                     headers={"Content-Type": "video/mp4"})
        row = raw.json()
        assert row["outcome"] == "generated-manifest-stripped", row["reasons"]
        rec = row["recovered_manifest"]
        assert rec["state"] == "trusted" and rec["generation_id"] == result.generation_id
        assert rec["manifest_id"] == result.manifest_label
        by_content = c.post("/v1/matches/byContent", content=reencoded.read_bytes(),
                            headers={"Content-Type": "video/mp4"}).json()
        value = base64.b64encode(bytes.fromhex(row["watermark"]["payload"])).decode()
        by_binding = c.get("/v1/matches/byBinding",
                           params={"alg": row["watermark"]["scheme"], "value": value}).json()
        posted = c.post("/v1/matches/byBinding", json={"alg": DEFAULT_SCHEME,
                                                      "value": value}).json()
        assert by_content == by_binding == posted == {
            "matches": [{"manifestId": result.manifest_label, "similarityScore": 100}]}
        store = c.get(f"/v1/manifests/{result.manifest_label}")
        assert store.status_code == 200
        assert store.headers["content-type"] == "application/c2pa"
        algs = c.get("/v1/services/supportedAlgorithms").json()
        assert algs == {"watermarks": [{"alg": "org.emo-safe.wm.audio.v1"},
                                       {"alg": "org.emo-safe.wm.v1"},
                                       {"alg": "org.emo-safe.wm.v2"}], "fingerprints": []}
    with c2pa.Reader("application/c2pa", io.BytesIO(store.content)) as reader:
        assert json.loads(reader.json())["active_manifest"] == result.manifest_label


def test_an_audio_only_repost_is_traced_by_its_audio_mark(server, deployment, tmp_path):
    """The output's audio ripped to MP3 (a voice note): the verdict, the recovered
    credential, and both soft-binding lookups by the audio mark."""
    _, result, out = deployment
    note = tmp_path / "voice-note.mp3"
    write_audio(note, read_audio_track(out).samples, 44_100, bitrate=64_000)
    with server.client() as c:
        r = c.post("/v1/verify", content=note.read_bytes(),
                   headers={"Content-Type": "audio/mpeg"})
        assert r.status_code == 200, r.text
        row = r.json()
        assert row["outcome"] == "generated-manifest-stripped", row["reasons"]
        assert row["audio"]["payload"] == result.generation_id and row["tracks"] == []
        assert row["recovered_manifest"]["manifest_id"] == result.manifest_label
        value = base64.b64encode(bytes.fromhex(result.generation_id)).decode()
        by_binding = c.get("/v1/matches/byBinding",
                           params={"alg": "org.emo-safe.wm.audio.v1", "value": value}).json()
        by_content = c.post("/v1/matches/byContent", content=note.read_bytes(),
                            params={"alg": "org.emo-safe.wm.audio.v1"}).json()
        assert by_binding == by_content == {
            "matches": [{"manifestId": result.manifest_label, "similarityScore": 100}]}


def test_a_copied_watermark_is_inconsistent_with_no_credential(server, deployment, data_dir,
                                                               tmp_path):
    _, _, out = deployment
    ours = list(iter_frames(out))
    residue = mark_residue(ours)
    other = cv2.resize(load_image(data_dir / "lin-manuel-miranda.png"), (560, 560))
    forged = tmp_path / "forged.mp4"
    write_mp4(forged, [np.clip(other[24 + int(20 * np.sin(t / 15)):][:512, 24:536]
                               .astype(np.float32) + residue, 0, 255).astype(np.uint8)
                       for t in range(len(ours))], 25, None, crf=18)
    with server.client() as c:
        row = post_file(c, forged).json()
    assert row["outcome"] == "inconsistent" and row["recovered_manifest"] is None


@pytest.fixture
def bad_uploads(tmp_path, data_dir, deployment):
    _, _, out = deployment
    d = tmp_path / "bad"
    d.mkdir()
    (d / "notes.txt").write_text("hello, I am text, not a video\n")
    (d / "photo.mp4").write_bytes((data_dir / "obama.jpg").read_bytes())  # a lying name
    data = out.read_bytes()
    (d / "truncated.mp4").write_bytes(data[:2000])  # cut inside the header (moov)
    (d / "empty.mp4").write_bytes(b"")
    # an MP3 by its first bytes, nothing decodable after them
    (d / "voice.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(range(256)) * 8)
    return d


@pytest.mark.parametrize(("name", "status", "code"), [
    ("notes.txt", 415, "unsupported-type"),
    ("photo.mp4", 415, "unsupported-type"),
    ("truncated.mp4", 422, "unreadable"),
    ("empty.mp4", 400, "empty"),
    ("voice.mp3", 422, "unreadable"),
])
def test_hostile_uploads_get_the_right_4xx_and_the_server_keeps_serving(
        server, bad_uploads, name, status, code):
    with server.client() as c:
        r = post_file(c, bad_uploads / name)
        assert r.status_code == status, r.text
        body = r.json()
        assert body["error"]["code"] == code and body["error"]["message"]
        assert "Traceback" not in r.text and "/tmp" not in body["error"]["message"]
        assert c.get("/healthz").status_code == 200
    assert "Traceback" not in server.log_text()


def test_a_file_cut_after_its_header_is_a_verdict_not_an_error(server, deployment, tmp_path):
    """What still decodes is judged: our output with its tail cut off no longer matches its
    signed hash, which is exactly what the verdict says."""
    _, _, out = deployment
    cut = tmp_path / "cut.mp4"
    data = out.read_bytes()
    cut.write_bytes(data[: len(data) // 4])
    with server.client() as c:
        r = post_file(c, cut)
    assert r.status_code == 200 and r.json()["outcome"] == "tampered"


def test_api_errors_are_json(server):
    with server.client() as c:
        cases = [c.get("/v1/matches/byBinding", params={"alg": "x", "value": "AAAA"}),
                 c.get("/v1/matches/byBinding", params={"alg": "org.emo-safe.wm.v1",
                                                       "value": "not base64!"}),
                 c.post("/v1/matches/byBinding", content=b"{nope"),
                 c.get("/v1/manifests/not-an-id"),
                 c.get("/v1/manifests/urn:c2pa:00000000-0000-0000-0000-000000000000"),
                 c.get("/v1/nowhere")]
    assert [r.status_code for r in cases] == [400, 400, 400, 400, 404, 404]
    for r in cases:
        assert set(r.json()["error"]) == {"code", "message"}


def test_nothing_of_an_upload_is_kept_and_the_log_has_no_secrets(server, deployment):
    ws, _, out = deployment
    with server.client() as c:
        post_file(c, out)
    assert server.upload_files() == []  # deleted when the answer was sent
    log = server.log_text()
    lines = [json.loads(ln) for ln in log.splitlines() if ln.startswith("{")]
    verify_lines = [ln for ln in lines if ln["route"] == "/v1/verify"]
    assert verify_lines and {"time", "route", "status", "outcome", "ms", "bytes"} <= set(
        verify_lines[-1])
    assert ws.watermark_key().hex() not in log and "PRIVATE KEY" not in log


def test_the_page_has_security_headers_and_no_scripts(server):
    with server.client() as c:
        r = c.get("/")
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in r.text and "http://" not in r.text.replace(
        'content="width', "")
    assert "access-control-allow-origin" not in {k.lower() for k in r.headers}


def test_the_page_in_a_real_browser_uploads_and_shows_the_verdict(server, reencoded):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(java_script_enabled=False)  # the plain form is enough
            blocked = []
            page.on("requestfailed", lambda req: blocked.append(req.url))
            page.goto(server.url + "/")
            page.set_input_files("#file", str(reencoded))
            page.click("button[type=submit]")
            page.wait_for_selector(".outcome", timeout=120_000)
            text = page.inner_text("body")
            page.screenshot(path=str(ARTIFACTS / "service-verdict.png"), full_page=True)
        finally:
            browser.close()
    assert "generated-manifest-stripped" in text
    assert "recovered from the manifest repository" in text
    assert "invisible watermark" in text  # the plain-language headline
    assert not blocked
    assert (ARTIFACTS / "service-verdict.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def strict_server(deployment, tmp_path_factory):
    ws, _, _ = deployment
    s = start_server(ws.root, tmp_path_factory.mktemp("strict"), "--max-upload-mb", "1",
                     "--max-in-flight", "1")
    yield s
    stop_server(s)


def test_an_oversized_upload_is_refused_before_its_body_is_read(strict_server):
    host, port = strict_server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
                     b"Content-Length: 500000000\r\n\r\n")  # 500 MB promised, none sent
        t = time.monotonic()
        answer = b""
        while b"}}" not in answer and time.monotonic() - t < 10:
            answer += sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413") and time.monotonic() - t < 10
    assert b"too-large" in answer


def test_beyond_the_verifications_in_flight_the_answer_is_503_with_retry_after(
        strict_server, deployment):
    _, _, out = deployment
    host, port = strict_server.url.removeprefix("http://").split(":")
    data = out.read_bytes()[:300_000]
    with socket.create_connection((host, int(port)), timeout=30) as slow:
        # One upload holds the only slot, sending its body slowly...
        slow.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
                     + f"Content-Length: {len(data)}\r\n\r\n".encode() + data[:1000])
        time.sleep(1.0)
        with strict_server.client() as c:
            busy = c.post("/v1/verify", content=b"\x00" * 100,
                          headers={"Content-Type": "video/mp4"})
        slow.sendall(data[1000:])
        slow.recv(4096)
    assert busy.status_code == 503 and busy.headers["retry-after"]
    assert busy.json()["error"]["code"] == "busy"


def test_sigterm_stops_the_server_cleanly_and_leaves_no_upload_folder(deployment,
                                                                        tmp_path):
    ws, _, _ = deployment
    s = start_server(ws.root, tmp_path / "short")
    assert list(s.tmpdir.glob("emo-safe-uploads-*"))
    assert stop_server(s) == 143  # 128 + SIGTERM, after a graceful shutdown (README)
    assert list(s.tmpdir.glob("emo-safe-uploads-*")) == []
    assert "Traceback" not in s.log_text()


def test_a_verification_never_writes_to_the_audit_log(server, deployment, reencoded):
    from emo_safe.ledger.audit import latest_head

    ws, _, _ = deployment
    before = latest_head(ws.store().log).size
    with server.client() as c:
        assert post_file(c, reencoded).status_code == 200
    assert latest_head(ws.store().log).size == before


def test_a_stored_credential_whose_soft_binding_names_another_watermark_is_not_reported(
        server, deployment, tmp_path):
    """Two more generations; their stored manifest stores swapped behind the repository's
    back. Each is still validly signed, but names the other's watermark."""
    from sqlalchemy import text

    from emo_safe import SafeGenerator

    ws, _, _ = deployment
    gen = SafeGenerator(ws, generator="still")
    a = gen.generate(sample_photo(), sample_audio(), tmp_path / "a.mp4", seed=7)
    b = gen.generate(sample_photo(), sample_audio(), tmp_path / "b.mp4", seed=8)
    with ws.store().engine.begin() as conn:
        conn.execute(text("UPDATE manifests SET generation_id = CASE generation_id "
                          "WHEN :a THEN :b ELSE :a END WHERE generation_id IN (:a, :b)"),
                     {"a": a.generation_id, "b": b.generation_id})
    stripped = tmp_path / "b-reposted.mp4"
    write_mp4(stripped, iter_frames(tmp_path / "b.mp4"), 25, None, crf=23)
    with server.client() as c:
        row = post_file(c, stripped).json()
    assert row["outcome"] == "generated-manifest-stripped"
    assert row["ledger"]["id"] == b.generation_id and row["recovered_manifest"] is None
    assert "soft binding does not name this file's watermark" in " ".join(row["reasons"])


def test_past_its_time_budget_a_verification_is_504_and_its_upload_still_goes(
        deployment, tmp_path):
    ws, _, out = deployment
    s = start_server(ws.root, tmp_path / "hurried", "--timeout", "0.1")
    try:
        with s.client() as c:
            r = post_file(c, out)
        assert r.status_code == 504 and r.json()["error"]["code"] == "timeout"
        deadline = time.monotonic() + 60
        while s.upload_files() and time.monotonic() < deadline:
            time.sleep(0.2)  # the verification thread finishes, then the file goes
        assert s.upload_files() == []
    finally:
        stop_server(s)


def sample_photo():
    from emo_safe._resources import sample_path

    return sample_path("portrait.jpg")


def sample_audio():
    from emo_safe._resources import sample_path

    return sample_path("speech.m4a")
