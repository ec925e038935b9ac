"""`emo-safe tsa serve` as a real process: its routes, and what it does with bad requests."""

import base64

import httpx
import pytest
from asn1crypto import tsp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from servers import (
    consented_sample_workspace,
    emo_safe_settings_removed,
    free_port,
    run_cli,
    start_dev_authorities,
    stop_dev_authorities,
)

from emo_safe import keys


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("devserver")
    with emo_safe_settings_removed():
        ws = consented_sample_workspace(root / "ws")
    authorities = start_dev_authorities(ws.root, root / "tsa", free_port())
    yield ws, authorities, httpx.Client(base_url=f"http://127.0.0.1:{authorities.port}",
                                        timeout=30)
    code = stop_dev_authorities(authorities)
    assert code == 143  # SIGTERM: stopped cleanly, after closing the socket


def test_health_and_unknown_routes(served):
    _, _, client = served
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/nowhere").status_code == 404
    assert client.get("/tsa").status_code == 405
    assert client.post("/elsewhere", content=b"x").status_code == 404


def test_a_timestamp_request_over_http(served):
    _, _, client = served
    request = tsp.TimeStampReq({"version": "v1", "message_imprint": {
        "hash_algorithm": {"algorithm": "sha256"}, "hashed_message": b"\x01" * 32},
        "cert_req": True}).dump()
    answer = client.post("/tsa", content=request,
                         headers={"Content-Type": "application/timestamp-query"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    assert tsp.TimeStampResp.load(answer.content)["status"]["status"].native == "granted"


def test_ocsp_by_get_and_post_about_the_workspace_signer(served):
    ws, _, client = served
    leaf, ca = keys.load_cert_chain(ws.signer_chain_path)
    der = ocsp.OCSPRequestBuilder().add_certificate(leaf, ca, hashes.SHA1()).build() \
        .public_bytes(serialization.Encoding.DER)
    by_get = client.get("/ocsp/" + base64.b64encode(der).decode())
    by_post = client.post("/ocsp/", content=der,
                          headers={"Content-Type": "application/ocsp-request"})
    for answer in (by_get, by_post):
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/ocsp-response"
        assert ocsp.load_der_ocsp_response(answer.content).certificate_status == \
            ocsp.OCSPCertStatus.GOOD


def test_bad_requests_get_the_protocol_s_error_or_a_4xx_and_the_server_keeps_serving(served):
    _, authorities, client = served
    assert client.get("/ocsp/not*base64!").status_code == 400
    malformed = client.post("/ocsp/", content=b"garbage")
    assert ocsp.load_der_ocsp_response(malformed.content).response_status == \
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    assert client.post("/tsa", content=b"x" * (64 * 1024 + 1)).status_code == 413
    rejected = client.post("/tsa", content=b"\x30\x00")
    assert rejected.status_code == 200 and b"\x02\x01\x02" in rejected.content[:8]  # rejection
    assert client.get("/healthz").status_code == 200
    log = authorities.log.read_text()
    assert "garbage" not in log and "PRIVATE" not in log


def test_a_workspace_with_an_imported_chain_has_no_development_tsa(tmp_path):
    ca_key, ca_cert = keys.make_dev_ca("operator CA")
    key, cert = keys.issue_signer_cert(ca_key, ca_cert)
    keys.write_new_keypair(tmp_path / "k.pem", key, None)
    (tmp_path / "c.pem").write_bytes(keys.cert_pem(cert) + keys.cert_pem(ca_cert))
    assert run_cli(tmp_path / "ws", "init", "--signer-cert", str(tmp_path / "c.pem"),
                   "--signer-key", str(tmp_path / "k.pem")).returncode == 0
    served = run_cli(tmp_path / "ws", "tsa", "serve", "--port", str(free_port()))
    assert served.returncode == 2 and "no development CA" in served.stderr
    assert len(served.stderr.strip().splitlines()) == 1
