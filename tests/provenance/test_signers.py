"""Claim signers: a key inside a PKCS#11 token (SoftHSM2, a real token in its own directory,
driven by the real command line), an external command (the shape of a cloud KMS CLI), and the
parts that need no token (URI parsing, signature formats, failures)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from factories import write_tone
from servers import run_cli, run_cli_with

from emo_safe import keys
from emo_safe._resources import sample_path
from emo_safe.errors import InputError, SigningError
from emo_safe.provenance.signers import (
    CommandSigner,
    Pkcs11Uri,
    _raw_ecdsa,
    open_signer,
    signer_kind,
)

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "246810"


@pytest.fixture
def token(tmp_path):
    """A fresh SoftHSM2 token labelled ``emo-test`` in its own directory: the environment
    that reaches it, and the signer URI of a key labelled ``signer`` in it."""
    assert Path(SOFTHSM_MODULE).exists(), "Debian's softhsm2 is needed"
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
    env = {"SOFTHSM2_CONF": str(conf)}
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "emo-test", "--pin",
                    PIN, "--so-pin", "13579"], check=True, capture_output=True,
                   env={**os.environ, **env})
    uri = f"pkcs11:token=emo-test;object=signer?module-path={SOFTHSM_MODULE}"
    return env, uri


INSPECT_KEY = textwrap.dedent("""
    import json, os, sys
    import pkcs11
    from pkcs11 import Attribute, ObjectClass
    token = pkcs11.lib(sys.argv[1]).get_token(token_label="emo-test")
    with token.open(user_pin=os.environ["PIN"]) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=sys.argv[2])
        print(json.dumps({"extractable": key[Attribute.EXTRACTABLE],
                          "sensitive": key[Attribute.SENSITIVE]}))
""")


def test_a_pkcs11_signer_signs_inside_the_token_end_to_end(token, tmp_path):
    env, uri = token
    ws = tmp_path / "ws"
    with_pin = {**env, "EMO_SAFE_PKCS11_PIN": PIN}
    init = run_cli_with(ws, with_pin, "init", "--signer", uri, "--json")
    assert init.returncode == 0, init.stderr
    assert not (ws / "keys" / "signer.key").exists()  # the key is in the token only
    inspected = subprocess.run([sys.executable, "-c", INSPECT_KEY, SOFTHSM_MODULE, "signer"],
                               capture_output=True, text=True, env={**os.environ, **env,
                                                                    "PIN": PIN})
    assert json.loads(inspected.stdout) == {"extractable": False, "sensitive": True}

    assert run_cli_with(ws, with_pin, "consent", "add", "--name", "sample", "--photo",
                        str(sample_path("portrait.jpg"))).returncode == 0
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    out = tmp_path / "out.mp4"
    gen = run_cli_with(ws, with_pin, "generate", "--photo", str(sample_path("portrait.jpg")),
                       "--audio", str(audio), "-o", str(out), "--size", "128")
    assert gen.returncode == 0, gen.stderr
    verdict = json.loads(run_cli(ws, "verify", str(out), "--json").stdout)
    assert verdict["outcome"] == "generated" and verdict["c2pa"]["state"] == "trusted"

    # A wrong PIN, a missing PIN, a missing token: one clear line, exit 2, nothing published.
    missing_token = uri.replace("token=emo-test", "token=no-such-token")
    for extra, config_signer, expect in (
            ({"EMO_SAFE_PKCS11_PIN": "999999"}, None, "wrong PIN"),
            ({}, None, "EMO_SAFE_PKCS11_PIN"),
            ({"EMO_SAFE_PKCS11_PIN": PIN}, missing_token, "no PKCS#11 token")):
        if config_signer:
            (ws / "config.toml").write_text((ws / "config.toml").read_text().replace(
                uri, config_signer))
        bad = tmp_path / "bad.mp4"
        failed = run_cli_with(ws, {**env, **extra}, "generate", "--photo",
                              str(sample_path("portrait.jpg")), "--audio", str(audio), "-o",
                              str(bad), "--size", "128")
        assert failed.returncode == 2, (expect, failed.stderr)
        assert expect in failed.stderr and PIN not in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
        assert not bad.exists()


def test_rotating_to_a_new_token_key_keeps_old_outputs_trusted(token, tmp_path):
    env, uri = token
    ws = tmp_path / "ws"
    with_pin = {**env, "EMO_SAFE_PKCS11_PIN": PIN}
    assert run_cli_with(ws, with_pin, "init", "--signer", uri).returncode == 0
    assert run_cli_with(ws, with_pin, "consent", "add", "--name", "sample", "--photo",
                        str(sample_path("portrait.jpg"))).returncode == 0
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    outputs = []
    for step in ("before", "after"):
        if step == "after":
            rotated = run_cli_with(ws, with_pin, "keys", "rotate", "--signer",
                                   uri.replace("object=signer", "object=signer-2"), "--json")
            assert rotated.returncode == 0, rotated.stderr
            assert (ws / json.loads(rotated.stdout)["retired"]).exists()
        out = tmp_path / f"{step}.mp4"
        assert run_cli_with(ws, with_pin, "generate", "--photo",
                            str(sample_path("portrait.jpg")), "--audio", str(audio), "-o",
                            str(out), "--size", "128").returncode == 0
        outputs.append(out)
    for out in outputs:
        verdict = json.loads(run_cli(ws, "verify", str(out), "--json").stdout)
        assert verdict["c2pa"]["state"] == "trusted", verdict["c2pa"]
    serials = {json.loads(run_cli(ws, "verify", str(o), "--json").stdout)["c2pa"]
               ["signer_serial"] for o in outputs}
    assert len(serials) == 2
    assert run_cli(ws, "audit", "verify").returncode == 0


KMS_SCRIPT = textwrap.dedent("""
    # A stand-in for a cloud KMS CLI: the key never enters emo-safe; bytes in, DER out.
    import sys
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
    sys.stdout.buffer.write(key.sign(sys.stdin.buffer.read(), ec.ECDSA(hashes.SHA256())))
""")


def test_an_external_command_signer_signs_like_a_kms(tmp_path):
    ca_key, ca_cert = keys.make_dev_ca("the operator's CA")
    key, cert = keys.issue_signer_cert(ca_key, ca_cert, "KMS signer")
    keys.write_new_keypair(tmp_path / "kms.key", key, None)
    (tmp_path / "chain.pem").write_bytes(keys.cert_pem(cert) + keys.cert_pem(ca_cert))
    (tmp_path / "kms.py").write_text(KMS_SCRIPT)
    ws = tmp_path / "ws"
    spec = f"command:{sys.executable} {tmp_path / 'kms.py'} {tmp_path / 'kms.key'}"
    init = run_cli(ws, "init", "--signer", spec, "--signer-cert", str(tmp_path / "chain.pem"))
    assert init.returncode == 0, init.stderr
    assert not (ws / "keys" / "signer.key").exists() and not (ws / "keys" / "ca.key").exists()
    assert run_cli(ws, "consent", "add", "--name", "sample", "--photo",
                   str(sample_path("portrait.jpg"))).returncode == 0
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    out = tmp_path / "out.mp4"
    gen = run_cli(ws, "generate", "--photo", str(sample_path("portrait.jpg")), "--audio",
                  str(audio), "-o", str(out), "--size", "128")
    assert gen.returncode == 0, gen.stderr
    verdict = json.loads(run_cli(ws, "verify", str(out), "--json").stdout)
    assert verdict["c2pa"]["state"] == "trusted"
    assert verdict["c2pa"]["signer_issuer"] == "emo-safe development"


# -- no token needed ---------------------------------------------------------------------
def test_a_pkcs11_uri_names_token_object_and_module_and_never_a_pin():
    uri = Pkcs11Uri("pkcs11:token=My%20HSM;object=c2pa-signer?module-path=/lib/p11.so")
    assert (uri.token, uri.object, uri.module_path) == ("My HSM", "c2pa-signer", "/lib/p11.so")
    with pytest.raises(InputError, match="PIN does not belong"):
        Pkcs11Uri("pkcs11:token=t;object=o?module-path=/m.so&pin-value=1234")
    with pytest.raises(InputError, match="token=... and object="):
        Pkcs11Uri("pkcs11:token=t?module-path=/m.so")
    with pytest.raises(InputError, match="module-path"):
        Pkcs11Uri("pkcs11:token=t;object=o")


def test_the_pin_comes_from_the_environment_or_a_pin_file(tmp_path, monkeypatch):
    monkeypatch.delenv("EMO_SAFE_PKCS11_PIN", raising=False)
    uri = Pkcs11Uri("pkcs11:token=t;object=o?module-path=/m.so")
    with pytest.raises(SigningError, match="EMO_SAFE_PKCS11_PIN"):
        uri.pin()
    monkeypatch.setenv("EMO_SAFE_PKCS11_PIN", "1111")
    assert uri.pin() == "1111"
    (tmp_path / "pin").write_text("2222\n")
    assert Pkcs11Uri(f"pkcs11:token=t;object=o?module-path=/m.so&pin-source=file:"
                     f"{tmp_path / 'pin'}").pin() == "2222"


def test_signer_kinds_are_looked_up_by_prefix():
    assert [signer_kind(s) for s in ("file", "pkcs11:token=a", "command:kms sign")] == \
        ["file", "pkcs11", "command"]
    with pytest.raises(InputError, match="unknown signer"):
        signer_kind("vault:secret/key")


def test_der_ecdsa_signatures_become_the_raw_r_s_cose_wants():
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.sign(b"claim", ec.ECDSA(hashes.SHA256()))
    raw = _raw_ecdsa(der, "es256")
    assert len(raw) == 64 and _raw_ecdsa(raw, "es256") == raw
    key.public_key().verify(encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                                 int.from_bytes(raw[32:], "big")),
                            b"claim", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(SigningError, match="not an ECDSA signature"):
        _raw_ecdsa(b"\x01\x02\x03", "es256")


def test_a_failing_or_missing_command_is_one_clear_signing_error(workspace, tmp_path):
    chain = workspace.signer_chain_pem()
    failing = CommandSigner(f"{sys.executable} -c 'import sys; sys.exit(5)'", chain)
    with pytest.raises(SigningError, match="exit 5"):
        failing.sign(b"data")
    with pytest.raises(SigningError, match="not found"):
        CommandSigner("/no/such/kms-cli sign", chain).check()
    assert "kms-cli" in repr(CommandSigner("/no/such/kms-cli --key secret-name", chain))
    assert "secret-name" not in repr(CommandSigner("/no/such/kms-cli --key secret-name", chain))


def test_the_file_signer_is_the_default_and_describes_no_secret(workspace):
    signer = open_signer(workspace.signer_spec, workspace)
    assert workspace.signer_spec == "file" and signer.describe() == {"kind": "file"}
    assert "PRIVATE" not in repr(signer)
