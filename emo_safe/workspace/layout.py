"""Where keys, the CA, the database, the gallery and the configuration live: paths only.

Location: ``--workspace DIR``, else ``$EMO_SAFE_HOME``, else the platform's per-user data dir.
Private keys are encrypted at rest when ``EMO_SAFE_KEY_PASSPHRASE`` is set.

Layout::

    config.toml            database URL, assertion label namespace, signer, tsa_url,
                           ocsp_url, [policies] allow-list
    keys/ca.key            dev root CA key (0600; absent when an operator chain was imported)
    keys/ca.pem            dev root CA certificate
    keys/ca-index.json     what the dev CA issued and revoked (read by its OCSP responder)
    keys/tsa.key, tsa.pem  the development TSA's key (0600) and certificate (timeStamping)
    keys/ocsp.key, ocsp.pem  the development OCSP responder's key (0600) and certificate
    keys/retired/          certificates and public keys replaced by `keys rotate` (kept so
                           that what they signed keeps verifying)
    keys/signer.key        C2PA signer key (0600; encrypted when EMO_SAFE_KEY_PASSPHRASE is set)
    keys/signer.pem        signer certificate chain (leaf first)
    keys/watermark.key     256-bit watermark key (0600; encrypted like the others)
    keys/operator.key      Ed25519 operator key: signs consent records (0600; encrypted like the
                           signer key)
    keys/operator.pub      its public key, for anyone who verifies a record
    keys/log.key           Ed25519 key that signs the audit log's tree heads (0600; encrypted)
    keys/log.pub           its public key, for auditors (audit check-proof)
    gallery/               the public-figure gallery index (biometric; 0700, files 0600)
    trust/anchors.pem      trust anchors for reading manifests (the dev CA or the operator's root)
    policies/default.toml  the active default policy (a copy the operator may edit)
    emo-safe.db            the SQLite ledger (0600: it holds consent face templates), unless
                           config.toml names another database URL
The folder itself is 0700.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

HOME_ENV = "EMO_SAFE_HOME"


def default_location() -> Path:
    env = os.environ.get(HOME_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("emo-safe", appauthor=False))


class WorkspaceLayout:
    """The paths of a workspace folder; nothing here touches the disk."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    @classmethod
    def locate(cls, explicit: str | os.PathLike | None = None):
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
    def ca_index_path(self) -> Path:
        return self.keys_dir / "ca-index.json"

    @property
    def tsa_key_path(self) -> Path:
        return self.keys_dir / "tsa.key"

    @property
    def tsa_cert_path(self) -> Path:
        return self.keys_dir / "tsa.pem"

    @property
    def ocsp_key_path(self) -> Path:
        return self.keys_dir / "ocsp.key"

    @property
    def ocsp_cert_path(self) -> Path:
        return self.keys_dir / "ocsp.pem"

    @property
    def retired_dir(self) -> Path:
        return self.keys_dir / "retired"

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

