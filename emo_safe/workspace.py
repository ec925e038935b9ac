"""Where keys, the CA, the database, the gallery and the configuration live.

Location: ``--workspace DIR``, else ``$EMO_SAFE_HOME``, else the platform's per-user data dir.

Layout::

    config.toml            database URL, assertion label namespace
    keys/ca.key            dev root CA key (0600; absent when an operator chain was imported)
    keys/ca.pem            dev root CA certificate
    keys/signer.key        C2PA signer key (0600; encrypted when EMO_SAFE_KEY_PASSPHRASE is set)
    keys/signer.pem        signer certificate chain (leaf first)
    keys/watermark.key     256-bit watermark key (0600)
    keys/operator.key      Ed25519 operator key: signs consent records (0600; encrypted like the
                           signer key)
    keys/operator.pub      its public key, for anyone who verifies a record
    keys/log.key           Ed25519 key that signs the audit log's tree heads (0600)
    keys/log.pub           its public key, for auditors (audit check-proof)
    gallery/               the public-figure gallery index (biometric; 0700, files 0600)
    trust/anchors.pem      trust anchors for reading manifests (the dev CA or the operator's root)
    policies/default.toml  the active default policy (a copy the operator may edit)
    emo-safe.db            the SQLite ledger (unless config.toml names another database URL)
"""

from __future__ import annotations

import os
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from emo_safe import keys as _keys
from emo_safe._resources import bundled_dir
from emo_safe.errors import InputError, KeyFileError, WorkspaceError

HOME_ENV = "EMO_SAFE_HOME"
DEFAULT_ASSERTION_LABEL = "org.emo-safe.generation"


def default_location() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("emo-safe", appauthor=False))


@dataclass
class InitReport:
    root: Path
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


class Workspace:
    """A workspace directory. Construct with :meth:`locate`; call :meth:`init` to create it."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    @classmethod
    def locate(cls, explicit: str | os.PathLike | None = None) -> Workspace:
        return cls(Path(explicit) if explicit else default_location())

    # paths -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def ca_key_path(self) -> Path:
        return self.keys_dir / "ca.key"

    @property
    def ca_cert_path(self) -> Path:
        return self.keys_dir / "ca.pem"

    @property
    def signer_key_path(self) -> Path:
        return self.keys_dir / "signer.key"

    @property
    def signer_chain_path(self) -> Path:
        return self.keys_dir / "signer.pem"

    @property
    def watermark_key_path(self) -> Path:
        return self.keys_dir / "watermark.key"

    @property
    def operator_key_path(self) -> Path:
        return self.keys_dir / "operator.key"

    @property
    def operator_pub_path(self) -> Path:
        return self.keys_dir / "operator.pub"

    @property
    def log_key_path(self) -> Path:
        return self.keys_dir / "log.key"

    @property
    def log_pub_path(self) -> Path:
        return self.keys_dir / "log.pub"

    @property
    def gallery_dir(self) -> Path:
        return self.root / "gallery"

    @property
    def trust_anchors_path(self) -> Path:
        return self.root / "trust" / "anchors.pem"

    @property
    def policies_dir(self) -> Path:
        return self.root / "policies"

    @property
    def db_path(self) -> Path:
        return self.root / "emo-safe.db"

    # state -------------------------------------------------------------------------------
    def is_initialized(self) -> bool:
        return all(
            p.exists()
            for p in (self.config_path, self.signer_key_path, self.signer_chain_path,
                      self.watermark_key_path, self.trust_anchors_path,
                      self.operator_key_path, self.operator_pub_path,
                      self.log_key_path, self.log_pub_path)
        )

    def require(self) -> Workspace:
        if not self.is_initialized():
            raise WorkspaceError(
                f"no emo-safe workspace at {self.root}: run `emo-safe init` "
                f"(or pass --workspace / set {HOME_ENV})"
            )
        return self

    @property
    def config(self) -> dict:
        try:
            with self.config_path.open("rb") as fh:
                return tomllib.load(fh)
        except FileNotFoundError:
            return {}
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(f"{self.config_path}: invalid TOML: {exc}") from None

    @property
    def database_url(self) -> str:
        url = os.environ.get("EMO_SAFE_DATABASE_URL") or self.config.get("database_url")
        return url or f"sqlite:///{self.db_path}"

    def allowed_policy_hashes(self) -> frozenset[str]:
        """The sha256 of every policy file the operator allows beyond the workspace's own
        ``policies/`` folder and the bundled policies (``[policies] allowed_sha256``)."""
        section = self.config.get("policies", {})
        allowed = section.get("allowed_sha256", []) if isinstance(section, dict) else []
        if not isinstance(allowed, list) or not all(isinstance(h, str) for h in allowed):
            raise WorkspaceError(f"{self.config_path}: [policies] allowed_sha256 must be a list "
                                 "of sha256 strings")
        return frozenset(h.lower() for h in allowed)

    def load_policy(self, spec=None):
        """A policy by name or file, checked against the workspace's allow-list."""
        from emo_safe.gate.policy import load_policy

        return load_policy(spec, self.policies_dir, self.allowed_policy_hashes())

    @property
    def assertion_label(self) -> str:
        return self.config.get("assertion_label", DEFAULT_ASSERTION_LABEL)

    # creation ----------------------------------------------------------------------------
    def init(self, signer_cert: Path | None = None, signer_key: Path | None = None) -> InitReport:
        """Create whatever is missing. Idempotent; an existing key is never overwritten."""
        if (signer_cert is None) != (signer_key is None):
            raise InputError("--signer-cert and --signer-key must be given together")
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"workspace path {self.root} exists and is not a directory")
        report = InitReport(self.root)
        # Private: the database holds consent face templates, keys/ the keys.
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.keys_dir.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        passphrase = _keys.passphrase_from_env()

        def note(path: Path, created: bool) -> None:
            (report.created if created else report.kept).append(str(path.relative_to(self.root)))

        if self.signer_key_path.exists() or self.signer_chain_path.exists():
            if signer_cert is not None:
                raise WorkspaceError(
                    f"{self.root} already has a signer; refusing to replace it with an imported one"
                )
            note(self.signer_key_path, False)
        elif signer_cert is not None:
            self._import_signer(signer_cert, signer_key, passphrase)
            note(self.signer_key_path, True)
        else:
            self._create_dev_signer(passphrase)
            note(self.ca_cert_path, True)
            note(self.signer_key_path, True)

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
            pub_path.write_bytes(_keys.public_key_pem(key))
            note(key_path, True)

        default_policy = self.policies_dir / "default.toml"
        if not default_policy.exists():
            self.policies_dir.mkdir(exist_ok=True)
            shutil.copyfile(bundled_dir("policies") / "default.toml", default_policy)
            note(default_policy, True)

        if not self.config_path.exists():
            self.config_path.write_text(
                "# emo-safe workspace configuration\n"
                "# database_url = \"postgresql+psycopg://user@localhost/emo_safe\"\n"
                f"assertion_label = \"{DEFAULT_ASSERTION_LABEL}\"\n"
            )
            note(self.config_path, True)

        from emo_safe.ledger.store import LedgerStore  # local: avoid a cycle at import time

        existed = self.db_path.exists()
        LedgerStore(self.database_url).create_schema()
        if self.database_url.startswith("sqlite") and self.db_path.exists():
            note(self.db_path, not existed)
        new_keys = [p for p in report.created if p.startswith(f"{self.keys_dir.name}/")]
        if new_keys:  # key changes are audit events too (ids and fingerprints only)
            self.store().log_event("keys", {"created": sorted(new_keys), **self.key_ids()})
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

    def _create_dev_signer(self, passphrase: bytes | None) -> None:
        ca_key, ca_cert = _keys.make_dev_ca()
        signer_key, signer_cert = _keys.issue_signer_cert(ca_key, ca_cert)
        # Keys first (O_EXCL), then the public parts; a crash leaves an incomplete workspace
        # that `init` reports as such instead of silently mixing two CAs.
        _keys.write_new_keypair(self.ca_key_path, ca_key, passphrase)
        _keys.write_new_keypair(self.signer_key_path, signer_key, passphrase)
        self.ca_cert_path.write_bytes(_keys.cert_pem(ca_cert))
        self.signer_chain_path.write_bytes(_keys.cert_pem(signer_cert) + _keys.cert_pem(ca_cert))
        self.trust_anchors_path.parent.mkdir(exist_ok=True)
        self.trust_anchors_path.write_bytes(_keys.cert_pem(ca_cert))

    def _import_signer(self, cert_path: Path, key_path: Path, passphrase: bytes | None) -> None:
        chain = _keys.load_cert_chain(Path(cert_path))
        key = _keys.load_private_key(Path(key_path), passphrase)
        if not _keys.public_keys_match(key, chain[0]):
            raise KeyFileError(
                f"{key_path} does not belong to the first certificate in {cert_path}"
            )
        _keys.signer_alg_for(key)  # rejects unsupported key types before anything is written
        _keys.import_private_key(Path(key_path), self.signer_key_path, passphrase)
        self.signer_chain_path.write_bytes(b"".join(_keys.cert_pem(c) for c in chain))
        # Trust the chain's last certificate: the operator's root (or highest intermediate).
        self.trust_anchors_path.parent.mkdir(exist_ok=True)
        self.trust_anchors_path.write_bytes(_keys.cert_pem(chain[-1]))

    # loading -----------------------------------------------------------------------------
    def load_signer(self) -> _keys.SignerKey:
        self.require()
        key = _keys.load_private_key(self.signer_key_path)
        chain = self.signer_chain_path.read_text()
        return _keys.SignerKey(key, chain, _keys.signer_alg_for(key))

    def watermark_key(self) -> bytes:
        self.require()
        return _keys.load_secret_key(self.watermark_key_path)

    def operator_key(self) -> _keys.OperatorKey:
        self.require()
        return _keys.OperatorKey.load(self.operator_key_path)

    def operator_public_key(self):
        self.require()
        return _keys.load_public_key(self.operator_pub_path)

    def gallery(self):
        from emo_safe.gate.gallery import Gallery

        self.require()
        return Gallery(self.gallery_dir)

    def trust_anchors_pem(self) -> str:
        try:
            return self.trust_anchors_path.read_text()
        except FileNotFoundError:
            return ""

    def log_public_key(self):
        self.require()
        return _keys.load_public_key(self.log_pub_path)

    def store(self, create: bool = True):
        """The ledger. ``create=False`` (readers): never create or upgrade the database."""
        from emo_safe.ledger.store import LedgerStore

        self.require()
        return LedgerStore(self.database_url,
                           log_signer=lambda: _keys.OperatorKey.load(self.log_key_path),
                           create=create)
