"""Workspace: keys, CA, database, policy copy; idempotent; keys are private."""

import stat

import pytest
from cryptography import x509

from emo_safe import keys
from emo_safe.errors import InputError, KeyFileError, WorkspaceError
from emo_safe.workspace import Workspace

KEY_FILES = ("ca.key", "signer.key", "watermark.key", "operator.key", "log.key", "tsa.key",
             "ocsp.key")


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_every_part_with_private_keys_0600(workspace):
    private = {p.name for p in workspace.keys_dir.iterdir() if p.suffix == ".key"}
    assert private == set(KEY_FILES)  # every private key there is, none forgotten
    for name in KEY_FILES:
        assert mode(workspace.keys_dir / name) == 0o600
    assert workspace.is_initialized()
    assert (workspace.policies_dir / "default.toml").exists()
    assert workspace.db_path.exists()
    assert len(keys.load_secret_key(workspace.watermark_key_path)) == 32


def test_signer_certificate_is_what_c2pa_needs(workspace):
    leaf, root = x509.load_pem_x509_certificates(workspace.signer_chain_path.read_bytes())
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert keys.C2PA_SIGNER_EKU in eku
    ski = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski
    assert leaf.issuer == root.subject


def test_init_is_idempotent_and_never_overwrites_a_key(workspace):
    before = {n: (workspace.keys_dir / n).read_bytes() for n in KEY_FILES}
    report = workspace.init()
    assert report.created == []
    assert {n: (workspace.keys_dir / n).read_bytes() for n in KEY_FILES} == before


def test_write_private_file_refuses_to_overwrite(tmp_path):
    p = tmp_path / "k"
    keys.write_private_file(p, b"one")
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        keys.write_private_file(p, b"two")
    assert p.read_bytes() == b"one"


def test_encrypted_key_needs_its_passphrase_and_never_leaks(tmp_path, monkeypatch):
    monkeypatch.setenv("EMO_SAFE_KEY_PASSPHRASE", "correct horse")
    ws = Workspace(tmp_path / "enc")
    ws.init()
    pem = ws.signer_key_path.read_bytes()
    assert b"ENCRYPTED" in pem
    assert ws.load_signer().alg == "es256"

    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE")
    with pytest.raises(KeyFileError, match="is encrypted") as no_pass:
        ws.load_signer()
    monkeypatch.setenv("EMO_SAFE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(KeyFileError, match="wrong passphrase") as wrong:
        ws.load_signer()
    body = pem.split(b"\n")[1].decode()
    for exc in (no_pass.value, wrong.value):
        assert body[:20] not in str(exc)
        assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


def test_signer_repr_hides_the_key(workspace):
    signer = workspace.load_signer()
    assert repr(signer) == "SignerKey(alg='es256')"
    assert "PRIVATE" not in repr(signer) + str(signer)


def test_operator_chain_can_be_imported(tmp_path, monkeypatch):
    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE", raising=False)
    ca_key, ca_cert = keys.make_dev_ca("Operator Root")
    key, cert = keys.issue_signer_cert(ca_key, ca_cert, "Operator signer")
    cert_path, key_path = tmp_path / "chain.pem", tmp_path / "signer.key"
    cert_path.write_bytes(keys.cert_pem(cert) + keys.cert_pem(ca_cert))
    keys.write_new_keypair(key_path, key, None)
    ws = Workspace(tmp_path / "op")
    ws.init(signer_cert=cert_path, signer_key=key_path)
    assert not ws.ca_key_path.exists()
    assert mode(ws.signer_key_path) == 0o600
    assert "Operator Root" in x509.load_pem_x509_certificate(
        ws.trust_anchors_path.read_bytes()).subject.rfc4514_string()
    with pytest.raises(WorkspaceError, match="already has a signer"):
        ws.init(signer_cert=cert_path, signer_key=key_path)


def test_imported_key_must_match_the_certificate(tmp_path):
    ca_key, ca_cert = keys.make_dev_ca()
    _, cert = keys.issue_signer_cert(ca_key, ca_cert)
    other, _ = keys.issue_signer_cert(ca_key, ca_cert)
    (tmp_path / "c.pem").write_bytes(keys.cert_pem(cert))
    keys.write_new_keypair(tmp_path / "k.pem", other, None)
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(KeyFileError, match="does not belong"):
        ws.init(signer_cert=tmp_path / "c.pem", signer_key=tmp_path / "k.pem")
    assert not ws.signer_key_path.exists()


def test_uninitialised_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(WorkspaceError, match="emo-safe init"):
        Workspace(tmp_path / "nothing").require()


def test_the_workspace_and_its_database_are_private(workspace, consents, portrait):
    consents.add("someone", portrait)  # the database now holds a face template
    assert mode(workspace.root) == 0o700 and mode(workspace.keys_dir) == 0o700
    for f in workspace.root.glob("emo-safe.db*"):
        assert mode(f) == 0o600, f


def test_the_watermark_key_is_encrypted_with_the_passphrase_too(tmp_path, monkeypatch):
    monkeypatch.setenv("EMO_SAFE_KEY_PASSPHRASE", "correct horse")
    ws = Workspace(tmp_path / "enc")
    ws.init()
    raw = ws.watermark_key_path.read_bytes()
    key = ws.watermark_key()
    assert len(key) == 32 and key.hex().encode() not in raw and b"encrypted" in raw
    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE")
    with pytest.raises(KeyFileError, match="is encrypted"):
        ws.watermark_key()
    monkeypatch.setenv("EMO_SAFE_KEY_PASSPHRASE", "wrong")
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        ws.watermark_key()


def test_config_values_are_set_in_place_keeping_comments_and_sections(workspace):
    workspace.set_config_values({"tsa_url": "http://tsa.example/tsa", "tsa_required": False})
    text = workspace.config_path.read_text()
    assert 'tsa_url = "http://tsa.example/tsa"' in text and "tsa_required = false" in text
    assert "# [policies]" in text  # the commented section stays
    assert workspace.tsa_url == "http://tsa.example/tsa" and workspace.tsa_required is False
    workspace.set_config_values({"tsa_url": "http://other.example/tsa"})
    assert workspace.config_path.read_text().count("tsa_url =") == 1
    workspace.config_path.write_text(workspace.config_path.read_text() +
                                     '\n[policies]\nallowed_sha256 = []\n')
    workspace.set_config_values({"ocsp_url": "http://ocsp.example/"})
    import tomllib

    parsed = tomllib.loads(workspace.config_path.read_text())
    assert parsed["ocsp_url"] == "http://ocsp.example/" and parsed["policies"] == \
        {"allowed_sha256": []}


def test_a_tsa_url_that_is_not_http_is_refused(workspace):
    with pytest.raises(InputError, match="--tsa-url"):
        workspace.init(tsa_url="ftp://tsa.example")
    workspace.set_config_values({"tsa_url": "file:///etc/passwd"})
    with pytest.raises(WorkspaceError, match="tsa_url must be an http"):
        assert workspace.tsa_url
