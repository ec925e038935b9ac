"""Content Credentials for strict C2PA 2.x conformance and long-term validation, end to end
with real processes: `emo-safe tsa serve` (the development TSA and OCSP responder of the
workspace CA) on a free loopback port, `emo-safe generate` and `emo-safe verify` as an operator
runs them, c2pa-python reading the outputs, and libfaketime moving the verifier's clock past
the signer certificate's expiry."""

import json
import shutil
from pathlib import Path

import c2pa
import pytest
from factories import write_tone
from servers import (
    reserve_dev_authorities_port,
    run_cli,
    run_cli_with,
    start_dev_authorities,
    stop_dev_authorities,
)

from emo_safe import keys
from emo_safe._resources import sample_path
from emo_safe.gate.consent import ConsentRegistry
from emo_safe.workspace import Workspace

ONLINE_PROFILE = """name = "online revocation"
[trust]
anchors = ["workspace"]
revocation = "online"
"""


@pytest.fixture
def pki(tmp_path):
    """A workspace whose signer certificate names its OCSP responder and whose config names
    its TSA, both served by a real `emo-safe tsa serve`; the sample portrait consented."""
    port = reserve_dev_authorities_port()
    ws = Workspace(tmp_path / "ws")
    ws.init(tsa_url=f"http://127.0.0.1:{port}/tsa", ocsp_url=f"http://127.0.0.1:{port}/ocsp/")
    ConsentRegistry.for_workspace(ws).add("sample", sample_path("portrait.jpg"))
    authorities = start_dev_authorities(ws.root, tmp_path / "tsa", port)
    yield ws, authorities
    assert stop_dev_authorities(authorities) in (0, 143)


def generate(ws: Workspace, out: Path, *extra: str):
    audio = out.with_suffix(".wav")
    if not audio.exists():
        write_tone(audio, seconds=1.2)
    return run_cli(ws.root, "generate", "--photo", str(sample_path("portrait.jpg")), "--audio",
                   str(audio), "-o", str(out), "--size", "128", "--json", *extra)


def c2pa_report(path: Path, anchors_pem: str) -> dict:
    settings = {"verify": {"verify_trust": True}, "trust": {"trust_anchors": anchors_pem}}
    with c2pa.Context.from_dict(settings) as context, open(path, "rb") as fh, \
            c2pa.Reader("video/mp4", fh, context=context) as reader:
        return json.loads(reader.json())


def codes(report: dict, kind: str) -> list[str]:
    return [c["code"] for c in report["validation_results"]["activeManifest"].get(kind, [])]


def test_a_demo_output_is_timestamped_carries_revocation_info_and_validates_without_failure(
        pki):
    ws, authorities = pki
    demo = run_cli(ws.root, "demo", "--json")
    assert demo.returncode == 0, demo.stderr
    out = Path(json.loads(demo.stdout)["generation"]["output"])

    report = c2pa_report(out, ws.trust_anchors_pem())
    assert report["validation_state"] == "Trusted"
    success = codes(report, "success")
    for code in ("claimSignature.validated", "timeStamp.validated", "timeStamp.trusted",
                 "signingCredential.trusted", "signingCredential.ocsp.notRevoked"):
        assert code in success, success
    assert codes(report, "failure") == []
    # c2pa-rs's only note is about its own BMFF hash exclusions, none about our assertions.
    assert set(codes(report, "informational")) <= {"assertion.bmffHash.additionalExclusionsPresent"}

    manifest = report["manifests"][report["active_manifest"]]
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    actions = assertions["c2pa.actions.v2"]["actions"]
    assert [a["action"] for a in actions] == ["c2pa.created", "c2pa.watermarked.bound"]
    assert len(actions[0]["parameters"]["ingredients"]) == 2  # hashed URIs to both inputs
    binding = assertions["c2pa.soft-binding"]
    scope = binding["blocks"][0]["scope"]["timespan"]
    assert scope["start"] == 0 and 7000 <= scope["end"] <= 8000  # the 7.6 s sample, in ms
    assert "c2pa.certificate-status" in assertions
    ingredients = manifest["ingredients"]
    assert [(i["relationship"], i["format"]) for i in ingredients] == \
        [("inputTo", "image/jpeg"), ("inputTo", "audio/mp4")]
    for ingredient in ingredients:
        assert ingredient["instance_id"].startswith("ni:///sha-256;")
        assert not {"thumbnail", "data", "manifest_data"} & set(ingredient)
    assert manifest["signature_info"].get("time")  # the TSA's time

    verdict = json.loads(run_cli(ws.root, "verify", str(out), "--json").stdout)
    assert verdict["outcome"] == "generated"
    assert verdict["c2pa"]["timestamp_trusted"] and verdict["c2pa"]["revocation"] == "not-revoked"
    assert any("RFC 3161 timestamp" in r for r in verdict["reasons"])
    assert json.loads(authorities.log.read_text().splitlines()[-1])["route"] in ("/tsa", "/ocsp/")


def test_a_revoked_signer_fails_verification_online_and_signs_nothing_more(pki, tmp_path):
    ws, _ = pki
    before = tmp_path / "before.mp4"
    assert generate(ws, before).returncode == 0
    profile = tmp_path / "online.toml"
    profile.write_text(ONLINE_PROFILE)
    assert run_cli(ws.root, "verify", str(before), "--profile", str(profile)).returncode == 0

    revoke = run_cli(ws.root, "keys", "revoke", "--json")
    assert revoke.returncode == 0, revoke.stderr
    serial = json.loads(revoke.stdout)["serial"]

    online = run_cli(ws.root, "verify", str(before), "--profile", str(profile), "--json")
    assert online.returncode == 3
    verdict = json.loads(online.stdout)
    assert verdict["outcome"] == "signer-revoked"
    assert verdict["c2pa"]["state"] == "revoked" and verdict["c2pa"]["revocation"] == "revoked"
    assert any("revoked" in r and serial in r for r in verdict["reasons"])
    text = run_cli(ws.root, "verify", str(before), "--profile", str(profile))
    assert text.returncode == 3 and "revoked" in text.stdout

    after = tmp_path / "after.mp4"
    refused = generate(ws, after)
    assert refused.returncode == 2 and "revoked" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "Traceback" not in refused.stderr
    assert not after.exists()

    # A new signer certificate signs again; the audit log records both changes.
    assert run_cli(ws.root, "keys", "rotate").returncode == 0
    assert generate(ws, after).returncode == 0
    fresh = json.loads(run_cli(ws.root, "verify", str(after), "--profile", str(profile),
                               "--json").stdout)
    assert fresh["outcome"] == "generated", fresh["reasons"]
    assert run_cli(ws.root, "audit", "verify").returncode == 0
    export = json.loads(run_cli(ws.root, "audit", "export", "--format", "json").stdout)
    key_events = [json.loads(e["body"])["data"] for e in export["entries"] if e["kind"] == "keys"]
    assert any(e.get("revoked") == serial for e in key_events)
    rotation = next(e["rotated"] for e in key_events if "rotated" in e)
    assert rotation["old_id"] == serial and rotation["new_id"] != serial


def test_past_the_signer_certificate_expiry_a_timestamped_output_stays_trusted(pki, tmp_path):
    """A one-day signer certificate from the workspace CA, imported into a second workspace
    that uses the same TSA; the verifier runs three days later (libfaketime)."""
    faketime = shutil.which("faketime")
    assert faketime, "the faketime command (Debian package faketime) is needed"
    ws, authorities = pki
    ca_key, ca_cert = keys.load_ca(ws.ca_key_path, ws.ca_cert_path)
    key, cert = keys.issue_signer_cert(ca_key, ca_cert, "short-lived signer", days=1,
                                       ocsp_url=authorities.ocsp_url)
    ws.certificate_index().add(cert, "signer")
    (tmp_path / "short.pem").write_bytes(keys.cert_pem(cert) + keys.cert_pem(ca_cert))
    keys.write_new_keypair(tmp_path / "short.key", key, None)
    short = Workspace(tmp_path / "short")
    short.init(tmp_path / "short.pem", tmp_path / "short.key", tsa_url=authorities.tsa_url)
    ConsentRegistry.for_workspace(short).add("sample", sample_path("portrait.jpg"))

    stamped, bare = tmp_path / "stamped.mp4", tmp_path / "bare.mp4"
    assert generate(short, stamped).returncode == 0
    short.set_config_values({"tsa_url": ""})  # the same signer, no timestamp
    assert generate(short, bare).returncode == 0

    later = ("faketime", "-f", "+3d")
    now_ok = json.loads(run_cli(short.root, "verify", str(bare), "--json").stdout)
    assert now_ok["c2pa"]["state"] == "trusted"  # before expiry, both are trusted
    for path, state in ((stamped, "trusted"), (bare, "valid-untrusted")):
        result = run_cli_with(short.root, {}, "verify", str(path), "--json", prefix=later)
        verdict = json.loads(result.stdout)
        assert verdict["c2pa"]["state"] == state, verdict["c2pa"]
    verdict = json.loads(run_cli_with(short.root, {}, "verify", str(bare), "--json",
                                      prefix=later).stdout)
    assert "signingCredential.expired" in verdict["c2pa"]["failure_codes"]
    assert any("expired" in r for r in verdict["reasons"])


def test_a_tsa_that_does_not_answer_fails_the_generation_unless_timestamps_are_optional(
        workspace, consented, tmp_path):
    from servers import free_port

    workspace.set_config_values({"tsa_url": f"http://127.0.0.1:{free_port()}/tsa"})
    out = tmp_path / "out.mp4"
    failed = generate(workspace, out)
    assert failed.returncode == 2
    assert "timestamp authority" in failed.stderr and "did not answer" in failed.stderr
    assert not out.exists() and not list(tmp_path.glob("*.mp4"))

    workspace.set_config_values({"tsa_required": False})
    done = generate(workspace, out)
    assert done.returncode == 0, done.stderr
    verdict = json.loads(run_cli(workspace.root, "verify", str(out), "--json").stdout)
    assert verdict["outcome"] == "generated" and not verdict["c2pa"]["timestamp_trusted"]


def test_a_revocation_with_a_reason_spares_what_was_timestamped_before_it(pki, tmp_path):
    """RFC 5280 semantics as c2pa-rs applies them: with a reason code, a signature whose
    trusted timestamp precedes the revocation still validates; without one, nothing does."""
    import datetime as dt
    import time

    ws, _ = pki
    before = tmp_path / "before.mp4"
    assert generate(ws, before).returncode == 0
    profile = tmp_path / "online.toml"
    profile.write_text(ONLINE_PROFILE)
    signed_at = dt.datetime.fromisoformat(json.loads(run_cli(
        ws.root, "verify", str(before), "--json").stdout)["c2pa"]["signed_at"])
    # RFC 3161 and OCSP times have one-second resolution: a revocation in the second of the
    # signature is not "after" it. Let that second pass (at most one second).
    while dt.datetime.now(dt.UTC).replace(microsecond=0) <= signed_at:
        time.sleep(0.05)
    revoke = run_cli(ws.root, "keys", "revoke", "--reason", "superseded", "--json")
    assert revoke.returncode == 0, revoke.stderr
    assert json.loads(revoke.stdout)["reason"] == "superseded"
    listed = json.loads(run_cli(ws.root, "keys", "list", "--json").stdout)
    signer = next(e for e in listed["issued"] if e["serial"] == listed["current"]["serial"])
    assert signer["revoked_at"] and signer["reason"] == "superseded"
    spared = json.loads(run_cli(ws.root, "verify", str(before), "--profile", str(profile),
                                "--json").stdout)
    assert spared["outcome"] == "generated" and spared["c2pa"]["timestamp_trusted"]


def test_keys_commands_refuse_what_they_cannot_do(workspace, tmp_path):
    from servers import run_cli as run

    bad_serial = run(workspace.root, "keys", "revoke", "not-hex")
    assert bad_serial.returncode == 2 and "hexadecimal" in bad_serial.stderr
    unknown = run(workspace.root, "keys", "revoke", "abc123")
    assert unknown.returncode == 2 and "not issued by this CA" in unknown.stderr
    no_cert = run(tmp_path / "kms", "init", "--signer", "command:/usr/bin/true")
    assert no_cert.returncode == 2 and "needs --signer-cert" in no_cert.stderr
    twice = run(workspace.root, "init", "--signer", "command:/usr/bin/true",
                "--signer-cert", str(workspace.signer_chain_path))
    assert twice.returncode == 2 and "keys rotate" in twice.stderr
    mixed = run(workspace.root, "keys", "rotate", "--key", "log", "--cert",
                str(workspace.signer_chain_path))
    assert mixed.returncode == 2 and "--key signer" in mixed.stderr
