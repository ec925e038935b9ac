"""The workspace's signing setup: which claim signer, the timestamp authority, the development
CA's TSA and OCSP responder, revocation and key rotation.

Configuration (``config.toml``, top level)::

    signer = "file"                      # or "pkcs11:token=...;object=...?module-path=..."
                                         # or "command:/usr/local/bin/kms-sign --key K"
    tsa_url = "http://127.0.0.1:3161/tsa"  # RFC 3161; every signature carries a timestamp
    tsa_required = true                  # false: sign without one when the TSA is down
    ocsp_url = "http://127.0.0.1:3161/ocsp/"  # put into the signer certificates the dev CA
                                         # issues; signing records its answer
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from emo_safe import _fs
from emo_safe import keys as _keys
from emo_safe.errors import InputError, KeyFileError, WorkspaceError


@dataclass(frozen=True)
class Rotation:
    """What ``keys rotate`` changed (public identifiers only)."""

    key: str  # "signer", "operator" or "log"
    old_id: str
    new_id: str
    retired: str  # where the old certificate or public key is kept

    def to_dict(self) -> dict:
        return {"key": self.key, "old_id": self.old_id, "new_id": self.new_id,
                "retired": self.retired}


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(str(value))  # a TOML basic string for this ASCII-safe text


class SigningSetup:
    """Mixed into :class:`~emo_safe.workspace.Workspace`."""

    # configuration -----------------------------------------------------------------------
    @property
    def signer_spec(self) -> str:
        spec = self.config.get("signer", "file")
        if not isinstance(spec, str) or not spec:
            raise WorkspaceError(f"{self.config_path}: signer must be a string")
        return spec

    def _url_setting(self, name: str) -> str | None:
        url = self.config.get(name) or None
        if url is not None and (not isinstance(url, str) or
                                not url.startswith(("http://", "https://"))):
            raise WorkspaceError(f"{self.config_path}: {name} must be an http(s) URL")
        return url

    @property
    def tsa_url(self) -> str | None:
        return self._url_setting("tsa_url")

    @property
    def tsa_required(self) -> bool:
        return bool(self.config.get("tsa_required", True))

    @property
    def ocsp_url(self) -> str | None:
        return self._url_setting("ocsp_url")

    @property
    def label_producer(self) -> str:
        """ContentProducer of GB 45438's implicit label: ``[labels] producer`` (the service
        provider's name or filing code), else emo-safe and this deployment's operator key id."""
        labels = self.config.get("labels", {})
        producer = labels.get("producer") if isinstance(labels, dict) else None
        if producer is not None and (not isinstance(producer, str) or not producer.strip()):
            raise WorkspaceError(f"{self.config_path}: [labels] producer must be a non-empty "
                                 "string")
        if producer:
            return producer
        from emo_safe.keys import public_key_id

        return f"emo-safe:{public_key_id(self.operator_public_key())}"

    def set_config_values(self, values: dict) -> None:
        """Set top-level keys of ``config.toml`` (an existing line, commented or not, is
        replaced in place; comments and sections are kept)."""
        text = self.config_path.read_text() if self.config_path.exists() else ""
        for key, value in values.items():
            line = f"{key} = {_toml_value(value)}"
            pattern = re.compile(rf"^#?\s*{re.escape(key)}\s*=.*$", re.M)
            if pattern.search(text):
                text = pattern.sub(line.replace("\\", "\\\\"), text, count=1)
            else:
                section = re.search(r"^\s*#?\s*\[", text, re.M)
                at = section.start() if section else len(text)
                text = text[:at] + line + "\n" + text[at:]
        try:
            tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{self.config_path}: the new setting would not parse: "
                                 f"{exc}") from None
        _fs.write_atomic(self.config_path, text)

    # the claim signer --------------------------------------------------------------------
    def signer_chain_pem(self) -> str:
        try:
            return self.signer_chain_path.read_text()
        except FileNotFoundError:
            raise WorkspaceError(f"{self.signer_chain_path} is missing: run `emo-safe init`") \
                from None

    def signer_certificate(self):
        return _keys.load_cert_chain(self.signer_chain_path)[0]

    def load_file_signer(self) -> _keys.SignerKey:
        key = _keys.load_private_key(self.signer_key_path)
        return _keys.SignerKey(key, self.signer_chain_pem(), _keys.signer_alg_for(key))

    def load_signer(self):
        """The claim signer ``signer`` names, checked (token, PIN, key) before it is used."""
        from emo_safe.provenance.signers import open_signer

        self.require()
        signer = open_signer(self.signer_spec, self)
        signer.check()
        return signer

    # the development CA's services -------------------------------------------------------
    def certificate_index(self):
        from emo_safe.provenance.ocsp import CertificateIndex

        return CertificateIndex(self.ca_index_path)

    def ensure_dev_authorities(self) -> list[str]:
        """The development TSA's and OCSP responder's certificates (issued by the dev CA),
        and the CA's index with the signer in it, if missing. Nothing when the chain was
        imported (no CA key here)."""
        if not self.ca_key_path.exists():
            return []
        created = []
        ca_key, ca_cert = _keys.load_ca(self.ca_key_path, self.ca_cert_path)
        index = self.certificate_index()
        passphrase = _keys.passphrase_from_env()
        for key_path, cert_path, issue, purpose in (
                (self.tsa_key_path, self.tsa_cert_path, _keys.issue_tsa_cert, "tsa"),
                (self.ocsp_key_path, self.ocsp_cert_path, _keys.issue_ocsp_cert, "ocsp")):
            if key_path.exists() and cert_path.exists():
                continue
            key, cert = issue(ca_key, ca_cert)
            _keys.write_new_keypair(key_path, key, passphrase)
            _fs.write_atomic(cert_path, _keys.cert_pem(cert))
            index.add(cert, purpose)
            created.append(f"keys/{cert_path.name}")
        if self.signer_chain_path.exists():
            leaf = self.signer_certificate()
            if leaf.issuer == ca_cert.subject and leaf.serial_number not in index.entries():
                index.add(leaf, "signer")
        return created

    def dev_authorities(self):
        """The development TSA and OCSP responder, ready to serve."""
        from emo_safe.provenance.devserver import DevAuthorities
        from emo_safe.provenance.ocsp import OcspResponder
        from emo_safe.provenance.timestamp import TimeStampAuthority

        self.require()
        if not self.ca_key_path.exists():
            raise WorkspaceError(f"{self.root} has no development CA (its chain was imported): "
                                 "use your CA's own TSA and OCSP responder")
        self.ensure_dev_authorities()
        ca_cert = _keys.load_cert_chain(self.ca_cert_path)[0]
        tsa = TimeStampAuthority(_keys.load_private_key(self.tsa_key_path),
                                 _keys.load_cert_chain(self.tsa_cert_path)[0], [ca_cert])
        ocsp = OcspResponder(_keys.load_private_key(self.ocsp_key_path),
                             _keys.load_cert_chain(self.ocsp_cert_path)[0], ca_cert,
                             self.certificate_index())
        return DevAuthorities(tsa, ocsp)

    def revoke_certificate(self, serial: int | None = None, reason: str = "unspecified",
                           when=None):
        """Mark a certificate the dev CA issued as revoked (default: the current signer's);
        its OCSP responder answers "revoked" from then on. Logged in the audit log."""
        import datetime as dt

        self.require()
        if not self.ca_key_path.exists():
            raise WorkspaceError("this workspace's chain was imported: revoke the certificate "
                                 "at the CA that issued it")
        self.ensure_dev_authorities()
        serial = serial if serial is not None else self.signer_certificate().serial_number
        entry = self.certificate_index().revoke_at_time(
            serial, when or dt.datetime.now(dt.UTC), reason)
        self.store().log_event("keys", {"revoked": format(serial, "x"), "reason": entry.reason,
                                        "revoked_at": entry.revoked_at,
                                        "purpose": entry.purpose})
        return entry

    # rotation ----------------------------------------------------------------------------
    def _retire(self, path: Path, name: str) -> str:
        self.retired_dir.mkdir(mode=0o700, exist_ok=True)
        target = self.retired_dir / name
        _fs.write_atomic(target, path.read_bytes(), replace=False)
        return str(target.relative_to(self.root))

    def rotate_signer(self, signer: str | None = None, cert: Path | None = None,
                      key: Path | None = None) -> Rotation:
        """A new signer certificate: issued by the dev CA for a new key (a new key file, or
        the key ``signer`` names in a PKCS#11 token), or imported (``cert`` with ``key`` for
        a key file, ``cert`` alone for a PKCS#11 or command signer). The old certificate is
        kept in ``keys/retired/``; what it signed keeps verifying (its chain is in each
        manifest, its timestamps prove when). The old key file is destroyed."""
        from emo_safe.provenance.signers import pkcs11_public_key, signer_kind

        self.require()
        spec = signer or self.signer_spec
        kind = signer_kind(spec)
        old_leaf = self.signer_certificate()
        old_id = format(old_leaf.serial_number, "x")
        passphrase = _keys.passphrase_from_env()
        new_key_path = self.keys_dir / "signer.key.new"
        new_key = None
        if cert is not None:
            chain = _keys.load_cert_chain(Path(cert))
            if kind == "file":
                if key is None:
                    raise InputError("an imported file signer needs --key with --cert")
                new_key = _keys.load_private_key(Path(key), passphrase)
                if not _keys.public_keys_match(new_key, chain[0]):
                    raise KeyFileError(f"{key} does not belong to the first certificate in "
                                       f"{cert}")
            elif kind == "pkcs11" and not _keys.same_public_key(pkcs11_public_key(spec),
                                                           chain[0].public_key()):
                raise KeyFileError(f"{cert} is not the certificate of the token's key")
            chain_pem = b"".join(_keys.cert_pem(c) for c in chain)
        else:
            if kind == "command":
                raise InputError("a command signer's key is outside emo-safe: rotate it in "
                                 "the KMS and import its certificate with --cert")
            ca_key, ca_cert = _keys.load_ca(self.ca_key_path, self.ca_cert_path)
            public = pkcs11_public_key(spec, create=True) if kind == "pkcs11" else None
            if kind == "pkcs11" and _keys.same_public_key(public, old_leaf.public_key()):
                raise InputError("that token key already signs: name a new object= label "
                                 "to rotate to")
            new_key, leaf = _keys.issue_signer_cert(ca_key, ca_cert, public_key=public,
                                                    ocsp_url=self.ocsp_url)
            chain_pem = _keys.cert_pem(leaf) + _keys.cert_pem(ca_cert)
            self.certificate_index().add(leaf, "signer")
        new_leaf = _keys.load_cert_chain_bytes(chain_pem)[0]
        retired = self._retire(self.signer_chain_path, f"signer-{old_id}.pem")
        if new_key is not None:
            if new_key_path.exists():
                new_key_path.unlink()  # left by a rotation that failed before the swap
            _keys.write_new_keypair(new_key_path, new_key, passphrase)
            os.replace(new_key_path, self.signer_key_path)  # the old key file is gone
        elif self.signer_key_path.exists():
            self.signer_key_path.unlink()  # the key now lives in the token or KMS
        _fs.write_atomic(self.signer_chain_path, chain_pem)
        if spec != self.signer_spec:
            self.set_config_values({"signer": spec})
        root = _keys.load_cert_chain_bytes(chain_pem)[-1]
        anchors = self.trust_anchors_pem()
        if _keys.cert_pem(root).decode() not in anchors:  # a new CA: trust it, keep the old
            _fs.write_atomic(self.trust_anchors_path, anchors + _keys.cert_pem(root).decode())
        rotation = Rotation("signer", old_id, format(new_leaf.serial_number, "x"), retired)
        self.store().log_event("keys", {"rotated": rotation.to_dict(), **self.key_ids()})
        return rotation


    def rotate_ed25519_key(self, which: str) -> Rotation:
        """A new operator key (signs consent records) or log key (signs tree heads). The old
        public key is kept in ``keys/retired/`` so that what it signed keeps verifying; the
        rotation is logged first, under the old log key, naming the new key's id, so the log
        itself says which key signs from then on (`audit verify` enforces it)."""
        if which not in ("operator", "log"):
            raise InputError(f"no {which} key to rotate (signer, operator or log)")
        self.require()
        key_path, pub_path = ((self.operator_key_path, self.operator_pub_path)
                              if which == "operator" else (self.log_key_path, self.log_pub_path))
        old = _keys.OperatorKey.load(key_path)
        new = _keys.new_operator_key()
        new_id = _keys.public_key_id(new.public_key())
        staged = key_path.with_name(key_path.name + ".new")
        if staged.exists():
            staged.unlink()  # left by a rotation that failed before the swap
        _keys.write_new_keypair(staged, new, _keys.passphrase_from_env())
        retired = self._retire(pub_path, f"{which}-{old.key_id}.pub")
        rotation = Rotation(which, old.key_id, new_id, retired)
        self.store().log_event("keys", {"rotated": rotation.to_dict()})
        os.replace(staged, key_path)
        _fs.write_atomic(pub_path, _keys.public_key_pem(new))
        return rotation
