"""The workspace: where keys, the CA, the database, the gallery and the configuration live.

Location: ``--workspace DIR``, else ``$EMO_SAFE_HOME``, else the platform's per-user data dir.
Split by concern: :mod:`.layout` (paths), :mod:`.provision` (``init``: keys, CA, imports) and
:class:`Workspace` itself (state and accessors: config, keys, ledger, gallery).
"""

from __future__ import annotations

import os
import tomllib

from emo_safe import keys as _keys
from emo_safe.errors import WorkspaceError
from emo_safe.workspace.layout import HOME_ENV, WorkspaceLayout, default_location
from emo_safe.workspace.provision import DEFAULT_ASSERTION_LABEL, InitReport, Provisioning
from emo_safe.workspace.signing import Rotation, SigningSetup

__all__ = ["DEFAULT_ASSERTION_LABEL", "HOME_ENV", "InitReport", "Rotation", "Workspace",
           "default_location"]


class Workspace(WorkspaceLayout, Provisioning, SigningSetup):
    """A workspace directory. Construct with :meth:`locate`; call :meth:`init` to create it."""

    def is_initialized(self) -> bool:
        needed = [self.config_path, self.signer_chain_path, self.watermark_key_path,
                  self.trust_anchors_path, self.operator_key_path, self.operator_pub_path,
                  self.log_key_path, self.log_pub_path]
        if all(p.exists() for p in needed):
            # A key file only for a file signer (an HSM or KMS holds the others).
            return self.signer_spec != "file" or self.signer_key_path.exists()
        return False

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
    def watermark_key(self) -> bytes:
        self.require()
        return _keys.load_secret_key(self.watermark_key_path)

    def operator_key(self) -> _keys.OperatorKey:
        self.require()
        return _keys.OperatorKey.load(self.operator_key_path)

    def operator_public_key(self):
        self.require()
        return _keys.load_public_key(self.operator_pub_path)

    def _key_ring(self, current_path, name: str) -> _keys.PublicKeyRing:
        retired = sorted(self.retired_dir.glob(f"{name}-*.pub")) if self.retired_dir.is_dir() \
            else []
        return _keys.PublicKeyRing(_keys.load_public_key(current_path),
                                   [_keys.load_public_key(p) for p in retired])

    def operator_public_keys(self) -> _keys.PublicKeyRing:
        """The operator key and those it replaced: consent records keep verifying."""
        self.require()
        return self._key_ring(self.operator_pub_path, "operator")

    def log_public_keys(self) -> _keys.PublicKeyRing:
        """The log key and those it replaced: heads signed before a rotation verify."""
        self.require()
        return self._key_ring(self.log_pub_path, "log")

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
                           log_public_keys=self.log_public_keys,
                           create=create)

