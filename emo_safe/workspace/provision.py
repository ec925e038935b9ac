"""Provisioning a workspace: the development CA and signer (or an imported chain), the
watermark, operator and log keys, the default policy, the config file and the database.
Idempotent: what exists is kept; a key is never overwritten."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from emo_safe import _fs
from emo_safe import keys as _keys
from emo_safe._resources import bundled_dir
from emo_safe.errors import InputError, KeyFileError, WorkspaceError

DEFAULT_ASSERTION_LABEL = "org.emo-safe.generation"


@dataclass
class InitReport:
    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the operator should do next


class Provisioning:
    """Mixed into :class:`~emo_safe.workspace.Workspace`: creating what is missing."""

    def _private_dirs(self) -> InitReport:
        """The workspace and keys/ directories, 0700 (the database holds consent face
        templates, keys/ the keys); a report to fill."""
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"workspace path {self.root} exists and is not a directory")
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.keys_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        return InitReport(self.root)

    def init(self, signer_cert: Path | None = None, signer_key: Path | None = None, *,
             signer: str | None = None, tsa_url: str | None = None,
             ocsp_url: str | None = None, tsa_required: bool | None = None) -> InitReport:
        """Create whatever is missing. Idempotent; an existing key is never overwritten.

        ``signer``: ``file`` (default), ``pkcs11:URI`` (a key in a token; generated there if
        the URI's object does not exist yet) or ``command:PROGRAM``; ``signer_cert`` imports
        a chain (with ``signer_key`` for a file signer) instead of the development CA's.
        ``tsa_url``/``ocsp_url``/``tsa_required`` go into ``config.toml`` (see
        :mod:`emo_safe.workspace.signing`)."""
        from emo_safe.provenance.signers import signer_kind

        kind = signer_kind(signer) if signer else "file"
        if kind == "file" and (signer_cert is None) != (signer_key is None):
            raise InputError("--signer-cert and --signer-key must be given together")
        if kind != "file" and signer_key is not None:
            raise InputError(f"a {kind} signer keeps its key outside the workspace: no "
                             "--signer-key")
        if kind == "command" and signer_cert is None:
            raise InputError("a command signer needs --signer-cert (the chain of its key)")
        for name, url in (("--tsa-url", tsa_url), ("--ocsp-url", ocsp_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise InputError(f"{name} must be an http:// or https:// URL")
        report = self._private_dirs()
        passphrase = _keys.passphrase_from_env()

        def note(path: Path, created: bool) -> None:
            (report.created if created else report.kept).append(str(path.relative_to(self.root)))

        if not self.config_path.exists():
            _fs.write_atomic(
                self.config_path,
                "# emo-safe workspace configuration\n"
                "# database_url = \"postgresql+psycopg://user@localhost/emo_safe\"\n"
                f"assertion_label = \"{DEFAULT_ASSERTION_LABEL}\"\n"
                "# The claim signer: file, pkcs11:URI or command:PROGRAM (docs/provenance.md)\n"
                "# signer = \"file\"\n"
                "# An RFC 3161 timestamp authority for every signature, and whether signing\n"
                "# may go ahead without it:\n"
                "# tsa_url = \"http://127.0.0.1:3161/tsa\"\n"
                "# tsa_required = true\n"
                "# The OCSP responder named in signer certificates the development CA issues:\n"
                "# ocsp_url = \"http://127.0.0.1:3161/ocsp/\"\n"
                "# ContentProducer of GB 45438's implicit label ([disclosure] implicit_label):\n"
                "# [labels]\n"
                "# producer = \"Example Lab (filing no. ...)\"\n"
                "# Policy files allowed besides policies/ and the bundled ones, by sha256:\n"
                "# [policies]\n"
                "# allowed_sha256 = []\n"
            )
            note(self.config_path, True)
        settings = {k: v for k, v in (("tsa_url", tsa_url), ("ocsp_url", ocsp_url),
                                      ("tsa_required", tsa_required)) if v is not None}
        if settings:
            self.set_config_values(settings)

        if self.signer_key_path.exists() or self.signer_chain_path.exists():
            if signer_cert is not None or signer is not None:
                raise WorkspaceError(
                    f"{self.root} already has a signer; refusing to replace it (use "
                    "`emo-safe keys rotate`)")
            note(self.signer_key_path if self.signer_key_path.exists()
                 else self.signer_chain_path, False)
        elif signer_cert is not None and kind == "file":
            self._import_signer(signer_cert, signer_key, passphrase)
            note(self.signer_key_path, True)
        elif kind != "file":
            self._external_signer(signer, signer_cert, passphrase)
            note(self.signer_chain_path, True)
        else:
            self._create_dev_signer(passphrase)
            note(self.ca_cert_path, True)
            note(self.signer_key_path, True)
        for created in self.ensure_dev_authorities():
            report.created.append(created)
        if ocsp_url and self.signer_chain_path.exists() and \
                ocsp_url not in _keys.ocsp_urls(self.signer_certificate()):
            report.notes.append("the signer certificate does not name this OCSP responder: "
                                "run `emo-safe keys rotate` for one that does")

        if self.watermark_key_path.exists():
            note(self.watermark_key_path, False)
        else:
            _keys.write_private_file(self.watermark_key_path, _keys.secret_key_file_bytes(
                _keys.new_secret_key(), passphrase))
            note(self.watermark_key_path, True)

        # Ed25519 keys: the operator's (consent records) and the log's (tree heads).
        for key_path, pub_path in ((self.operator_key_path, self.operator_pub_path),
                                   (self.log_key_path, self.log_pub_path)):
            if key_path.exists():
                note(key_path, False)
                continue
            key = _keys.new_operator_key()
            _keys.write_new_keypair(key_path, key, passphrase)
            _fs.write_atomic(pub_path, _keys.public_key_pem(key))
            note(key_path, True)

        default_policy = self.policies_dir / "default.toml"
        if not default_policy.exists():
            self.policies_dir.mkdir(exist_ok=True)
            shutil.copyfile(bundled_dir("policies") / "default.toml", default_policy)
            note(default_policy, True)

        from emo_safe.ledger.store import LedgerStore  # local: avoid a cycle at import time

        existed = self.db_path.exists()
        LedgerStore(self.database_url).create_schema()
        if self.database_url.startswith("sqlite") and self.db_path.exists():
            note(self.db_path, not existed)
        new_keys = [p for p in report.created if p.startswith(f"{self.keys_dir.name}/")]
        if new_keys:  # key changes are audit events too (ids and fingerprints only)
            self.store().log_event("keys", {"created": sorted(new_keys), **self.key_ids()})
        return report

    def init_replica(self, source) -> InitReport:
        """Make this workspace another host of ``source``'s deployment: the same keys (but the
        development CA's key, which a host does not need), certificate chain, trust anchors,
        policies, configuration and gallery, over the same shared ledger database. A SQLite
        ledger is one machine's file and cannot be shared: the source must use PostgreSQL.
        Run again to refresh the policies, gallery and trust anchors; a key is never replaced
        (a different key already here is an error)."""
        if not source.is_initialized():
            raise WorkspaceError(f"no emo-safe workspace at {source.root} to replicate")
        if source.root == self.root:
            raise WorkspaceError("a workspace cannot be a replica of itself")
        if source.database_url.startswith("sqlite"):
            raise WorkspaceError(
                f"{source.root} keeps its ledger in SQLite, one machine's file: replicas share "
                "a PostgreSQL ledger (set database_url in its config.toml; docs/scale.md)")
        report = self._private_dirs()
        secret = (source.signer_key_path, source.watermark_key_path, source.operator_key_path,
                  source.log_key_path)
        public = (source.signer_chain_path, source.operator_pub_path, source.log_pub_path,
                  source.ca_cert_path)
        for src in secret + public:
            if not src.exists():
                continue
            target = self.keys_dir / src.name
            data = src.read_bytes()
            if target.exists():
                if target.read_bytes() != data:
                    raise WorkspaceError(f"{target} differs from {src}: a replica holds the "
                                         "source's keys; refusing to replace a key")
                report.kept.append(f"keys/{src.name}")
                continue
            if src in secret:
                _keys.write_private_file(target, data)
            else:
                _fs.write_atomic(target, data)
            report.created.append(f"keys/{src.name}")
        # Retired certificates and public keys (`keys rotate`): what they signed verifies here.
        if source.retired_dir.is_dir():
            self.retired_dir.mkdir(mode=0o700, exist_ok=True)
            for f in sorted(source.retired_dir.iterdir()):
                if f.is_file() and not f.is_symlink() and f.suffix in (".pem", ".pub"):
                    _fs.write_atomic(self.retired_dir / f.name, f.read_bytes())
                    report.created.append(f"keys/retired/{f.name}")
        # The rest follows the source (a refresh replaces it): configuration, trust, policies,
        # the public-figure gallery (biometric: kept private like the source's).
        _fs.write_atomic(self.config_path, source.config_path.read_bytes())
        report.created.append("config.toml")
        self.trust_anchors_path.parent.mkdir(exist_ok=True)
        _fs.write_atomic(self.trust_anchors_path, source.trust_anchors_path.read_bytes())
        report.created.append("trust/anchors.pem")
        for folder, private in ((source.policies_dir, False), (source.gallery_dir, True)):
            if not folder.is_dir():
                continue
            target_dir = self.root / folder.name
            target_dir.mkdir(mode=0o700 if private else 0o755, exist_ok=True)
            for f in sorted(folder.iterdir()):
                if f.is_file() and not f.is_symlink():
                    _fs.write_atomic(target_dir / f.name, f.read_bytes(), private=private)
                    report.created.append(f"{folder.name}/{f.name}")
        if not self.is_initialized():
            raise WorkspaceError(f"{source.root} is missing keys a host needs")
        self.store().log_event("replica", {"host_workspace": str(self.root), **self.key_ids()})
        return report

    def key_ids(self) -> dict:
        """Public identifiers of the workspace's keys: safe to log, print and export."""
        import hashlib

        from emo_safe.keys import public_key_id
        from emo_safe.watermark import key_id

        chain = self.signer_chain_path.read_bytes() if self.signer_chain_path.exists() else b""
        return {
            "operator_key_id": public_key_id(self.operator_public_key()),
            "log_key_id": public_key_id(self.log_public_key()),
            "signer_chain_sha256": hashlib.sha256(chain).hexdigest(),
            "watermark_key_id": key_id(self.watermark_key()),
        }

    def _external_signer(self, spec: str, cert_path: Path | None,
                         passphrase: bytes | None) -> None:
        """A signer whose key lives in a token or a KMS: its certificate chain imported, or
        (PKCS#11 only) issued by the development CA for the token's public key."""
        from emo_safe.provenance.signers import pkcs11_public_key, signer_kind

        if cert_path is not None:
            chain = _keys.load_cert_chain(Path(cert_path))
            if signer_kind(spec) == "pkcs11":
                if not _keys.same_public_key(pkcs11_public_key(spec), chain[0].public_key()):
                    raise KeyFileError(f"{cert_path} is not the certificate of the token's key")
            _fs.write_atomic(self.signer_chain_path, b"".join(_keys.cert_pem(c) for c in chain))
            self.trust_anchors_path.parent.mkdir(exist_ok=True)
            _fs.write_atomic(self.trust_anchors_path, _keys.cert_pem(chain[-1]))
        else:
            public = pkcs11_public_key(spec, create=True)
            self._create_dev_signer(passphrase, public_key=public)
        self.set_config_values({"signer": spec})

    def _create_dev_signer(self, passphrase: bytes | None, public_key=None) -> None:
        if self.ca_key_path.exists():  # a CA left by an earlier, interrupted init
            ca_key, ca_cert = _keys.load_ca(self.ca_key_path, self.ca_cert_path)
        else:
            ca_key, ca_cert = _keys.make_dev_ca()
        signer_key, signer_cert = _keys.issue_signer_cert(
            ca_key, ca_cert, public_key=public_key, ocsp_url=self.ocsp_url)
        # Keys first (O_EXCL), then the public parts; a crash leaves an incomplete workspace
        # that `init` reports as such instead of silently mixing two CAs.
        if not self.ca_key_path.exists():
            _keys.write_new_keypair(self.ca_key_path, ca_key, passphrase)
            _fs.write_atomic(self.ca_cert_path, _keys.cert_pem(ca_cert))
        if signer_key is not None:  # None: the key lives in a token
            _keys.write_new_keypair(self.signer_key_path, signer_key, passphrase)
        _fs.write_atomic(self.signer_chain_path,
                         _keys.cert_pem(signer_cert) + _keys.cert_pem(ca_cert))
        self.trust_anchors_path.parent.mkdir(exist_ok=True)
        _fs.write_atomic(self.trust_anchors_path, _keys.cert_pem(ca_cert))

    def _import_signer(self, cert_path: Path, key_path: Path, passphrase: bytes | None) -> None:
        chain = _keys.load_cert_chain(Path(cert_path))
        key = _keys.load_private_key(Path(key_path), passphrase)
        if not _keys.public_keys_match(key, chain[0]):
            raise KeyFileError(
                f"{key_path} does not belong to the first certificate in {cert_path}"
            )
        _keys.signer_alg_for(key)  # rejects unsupported key types before anything is written
        _keys.import_private_key(Path(key_path), self.signer_key_path, passphrase)
        _fs.write_atomic(self.signer_chain_path, b"".join(_keys.cert_pem(c) for c in chain))
        # Trust the chain's last certificate: the operator's root (or highest intermediate).
        self.trust_anchors_path.parent.mkdir(exist_ok=True)
        _fs.write_atomic(self.trust_anchors_path, _keys.cert_pem(chain[-1]))

    # loading -----------------------------------------------------------------------------

