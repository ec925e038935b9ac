"""The ledger's tables (SQLAlchemy models). Rows only; what each row means in the signed log
is ``ledger/events.py``, how to display it is ``public_dict()``.

Face embeddings live only in ``consents.face_template``; every other table carries ids and
hashes.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from emo_safe.ledger import events


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Base(DeclarativeBase):
    pass


class ConsentRow(Base):
    __tablename__ = "consents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Biometric: float32 bytes of the 128-d template. Never leaves this database.
    face_template: Mapped[bytes] = mapped_column(LargeBinary)
    photo_sha256: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of allowed uses
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    valid_from: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # sha256 of the signed release form or consent video (the evidence itself stays offline)
    evidence_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    issuer: Mapped[str] = mapped_column(String(64), default="")  # operator key id
    signature: Mapped[str] = mapped_column(String(128), default="")  # Ed25519, hex
    revocation_signature: Mapped[str | None] = mapped_column(String(128), nullable=True)

    @property
    def template(self) -> np.ndarray:
        return np.frombuffer(self.face_template, np.float32)

    @property
    def scopes(self) -> list[str]:
        return json.loads(self.scope or "[]")

    def public_dict(self) -> dict:
        """Everything but the face template: safe to print or export. Display only."""
        return {
            "id": self.id,
            "name": self.name,
            "photo_sha256": self.photo_sha256,
            "scope": self.scopes,
            "created_at": events.iso(self.created_at),
            "valid_from": events.iso(self.valid_from),
            "expires_at": events.iso(self.expires_at),
            "revoked_at": events.iso(self.revoked_at),
            "evidence_sha256": self.evidence_sha256,
            "issuer": self.issuer,
        }


class DecisionRow(Base):
    __tablename__ = "decisions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    allowed: Mapped[bool] = mapped_column(Boolean)
    policy_name: Mapped[str] = mapped_column(String(200))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    reasons: Mapped[str] = mapped_column(Text)  # JSON list of {code, message}
    matched: Mapped[str] = mapped_column(Text, default="{}")  # JSON: consent ids etc.
    photo_sha256: Mapped[str] = mapped_column(String(64))
    audio_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    generator: Mapped[str | None] = mapped_column(String(200), nullable=True)

    def public_dict(self) -> dict:
        return {
            "id": self.id,
            "created_at": events.iso(self.created_at),
            "allowed": self.allowed,
            "policy_name": self.policy_name,
            "policy_sha256": self.policy_sha256,
            "reasons": json.loads(self.reasons),
            "matched": json.loads(self.matched),
            "photo_sha256": self.photo_sha256,
            "audio_sha256": self.audio_sha256,
            "generator": self.generator,
        }


class GenerationRow(Base):
    __tablename__ = "generations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    decision_id: Mapped[str] = mapped_column(ForeignKey("decisions.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    generator: Mapped[str] = mapped_column(String(200))
    generator_version: Mapped[str] = mapped_column(String(100))
    settings: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    policy_sha256: Mapped[str] = mapped_column(String(64))
    photo_sha256: Mapped[str] = mapped_column(String(64))
    audio_sha256: Mapped[str] = mapped_column(String(64))
    output_sha256: Mapped[str] = mapped_column(String(64), index=True)
    manifest_id: Mapped[str] = mapped_column(String(200))
    watermark_payload: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    consent_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    frames: Mapped[int] = mapped_column(default=0)
    # JSON perceptual fingerprint (emo_safe/fingerprint.py): a list of 64-bit pHashes (hex) a
    # second, or {"v": 2, ...} with several independent hashes a second.
    fingerprint: Mapped[str] = mapped_column(Text, default="[]")

    def public_dict(self) -> dict:
        fingerprint = json.loads(self.fingerprint or "[]")
        seconds = len(fingerprint) if isinstance(fingerprint, list) else \
            len(fingerprint.get("phash", []))
        return {
            "id": self.id,
            "decision_id": self.decision_id,
            "created_at": events.iso(self.created_at),
            "generator": self.generator,
            "generator_version": self.generator_version,
            "settings": json.loads(self.settings),
            "policy_sha256": self.policy_sha256,
            "photo_sha256": self.photo_sha256,
            "audio_sha256": self.audio_sha256,
            "output_sha256": self.output_sha256,
            "manifest_id": self.manifest_id,
            "watermark_payload": self.watermark_payload,
            "consent_ids": json.loads(self.consent_ids),
            "frames": self.frames,
            "fingerprint_seconds": seconds,
        }


class AuditLeafRow(Base):
    """One event of the append-only audit log: its canonical JSON and RFC 6962 leaf hash."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    body: Mapped[str] = mapped_column(Text)  # canonical JSON: ids and hashes, never templates
    leaf_hash: Mapped[str] = mapped_column(String(64))


class TreeNodeRow(Base):
    """The root of a completed perfect subtree of the log (2**level leaves from leaf
    index * 2**level), kept so that proofs read O(log n) rows instead of every leaf. Derived
    data: proofs are checked against signed heads, so a damaged node makes a proof fail, never
    pass."""

    __tablename__ = "tree_nodes"

    level: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class TreeHeadRow(Base):
    """A signed tree head after each append: size, root, time, Ed25519 signature; version 2
    heads also sign the revocation index's state."""

    __tablename__ = "tree_heads"

    size: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[str] = mapped_column(String(40))
    frontier: Mapped[str] = mapped_column(Text)  # JSON: right-edge subtree roots (O(log n))
    key_id: Mapped[str] = mapped_column(String(64), default="")
    signature: Mapped[str] = mapped_column(String(128), default="")
    # Added in 0.2 (NULL in heads written by 0.1, which are version 1).
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    revocations: Mapped[str | None] = mapped_column(String(100), nullable=True)


class RevocationRow(Base):
    """The revoked-consent index: each revoked id once, in log order, with the hash chain up
    to it. The latest signed head signs the chain's end, so an index row removed (or a consent
    row "un-revoked") is visible to the gate without reading the log."""

    __tablename__ = "revocations"

    consent_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)  # the consent-revoked entry
    chain: Mapped[str] = mapped_column(String(64))


class ManifestRow(Base):
    """The manifest repository: each output's signed C2PA manifest store, exactly the bytes
    embedded in it, found by manifest id and by its soft-binding value (the watermark
    payload). Not covered by the audit log: what vouches for a stored manifest is its own C2PA
    signature, checked every time one is recovered."""

    __tablename__ = "manifests"

    manifest_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    generation_id: Mapped[str] = mapped_column(String(32), index=True)
    store: Mapped[bytes] = mapped_column(LargeBinary)
    binding_alg: Mapped[str] = mapped_column(String(100))
    binding_value: Mapped[str] = mapped_column(String(128), index=True)  # hex
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
