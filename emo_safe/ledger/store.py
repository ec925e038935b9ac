"""SQLAlchemy store for consents, decisions and generations.

SQLite by default (a file in the workspace); any SQLAlchemy URL works, so PostgreSQL is a
matter of ``database_url`` in the workspace config. Face embeddings live only in the
``consents.face_template`` column of this database; every other table and every export carries
ids and hashes only.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from emo_safe.errors import WorkspaceError

# Key of the PostgreSQL advisory lock that serialises appends to the audit log ("emo-safe").
_PG_LOG_LOCK = int.from_bytes(b"emo-safe", "big") & 0x7FFF_FFFF_FFFF_FFFF


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_id() -> str:
    return uuid.uuid4().hex


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
        """Everything but the face template: safe to print or export."""
        return {
            "id": self.id,
            "name": self.name,
            "photo_sha256": self.photo_sha256,
            "scope": self.scopes,
            "created_at": _iso(self.created_at),
            "valid_from": _iso(self.valid_from),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
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
            "created_at": _iso(self.created_at),
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
    # JSON list of 64-bit perceptual hashes (hex), one a second: see emo_safe/fingerprint.py
    fingerprint: Mapped[str] = mapped_column(Text, default="[]")

    def public_dict(self) -> dict:
        return {
            "id": self.id,
            "decision_id": self.decision_id,
            "created_at": _iso(self.created_at),
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
            "fingerprint_seconds": len(json.loads(self.fingerprint or "[]")),
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
    """A signed tree head after each append: size, root, time, Ed25519 signature."""

    __tablename__ = "tree_heads"

    size: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    timestamp: Mapped[str] = mapped_column(String(40))
    frontier: Mapped[str] = mapped_column(Text)  # JSON: right-edge subtree roots (O(log n))
    key_id: Mapped[str] = mapped_column(String(64), default="")
    signature: Mapped[str] = mapped_column(String(128), default="")

    def signed_bytes(self) -> bytes:
        return tree_head_bytes(self.size, self.root, self.timestamp)


def tree_head_bytes(size: int, root_hex: str, timestamp: str) -> bytes:
    return f"emo-safe tree head v1\n{size}\n{root_hex}\n{timestamp}\n".encode()


def canonical(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _iso(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite drops the zone; everything is stored in UTC
        value = value.replace(tzinfo=dt.UTC)
    # PostgreSQL hands timestamptz back in the server's zone: the logged form is always UTC.
    return value.astimezone(dt.UTC).isoformat()


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class LedgerStore:
    """Connection to the ledger database. Cheap to create; one engine per URL and process."""

    _engines: dict[str, object] = {}

    def __init__(self, url: str, log_signer=None) -> None:
        """``log_signer``: a callable returning the key that signs tree heads (loaded on the
        first append only, so reading never needs the passphrase)."""
        self.url = url
        self._log_signer_loader = log_signer
        self._log_signer = None
        engine = self._engines.get(url)
        if engine is None:
            try:
                engine = create_engine(url, future=True)
            except (SQLAlchemyError, ImportError, ValueError) as exc:
                raise WorkspaceError(f"cannot use database URL: {type(exc).__name__}") from None
            if url.startswith("sqlite"):
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", _sqlite_begin_immediate)
            self._engines[url] = engine
            # A workspace made by an older version lacks the newer tables (e.g. tree_nodes):
            # create what is missing, once per process. Nothing existing is altered.
            try:
                Base.metadata.create_all(engine)
            except SQLAlchemyError:
                pass  # unreachable or read-only: the first real statement says so clearly
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def create_schema(self) -> None:
        try:
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise WorkspaceError(f"cannot create the ledger database: {exc.__class__.__name__}") \
                from None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with self._sessions() as s:
                try:
                    yield s
                    s.commit()
                except BaseException:
                    s.rollback()
                    raise
        except DBAPIError as exc:
            # Unreachable server, wrong password, disk full, a lock held too long: one clear
            # message, never the URL's password or the statement's parameters.
            if exc.connection_invalidated or isinstance(exc.orig, OSError) or \
                    "connect" in str(exc.orig).lower():
                raise WorkspaceError(f"cannot reach the ledger database {self.safe_url}: "
                                     f"{type(exc.orig).__name__}") from None
            raise WorkspaceError(f"the ledger database {self.safe_url} failed: "
                                 f"{type(exc.orig).__name__}") from None

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    # the audit log --------------------------------------------------------------------------
    def _append(self, s: Session, kind: str, data: dict) -> None:
        """Append an event and a signed tree head in the caller's transaction: the data row and
        its log entry commit together or not at all."""
        self._append_many(s, [(kind, data)])

    def _append_many(self, s: Session, events: list[tuple[str, dict]],
                     locked: bool = False) -> None:
        """Append events and one signed tree head covering them all, in the caller's
        transaction. Writers are serialised: SQLite by BEGIN IMMEDIATE, PostgreSQL by a
        transaction-scoped advisory lock taken before the latest head is read, so two
        processes can never extend the same head (a fork) or reuse a sequence number.
        ``locked``: the caller already took the lock in this transaction."""
        from emo_safe.ledger import merkle

        if not locked:
            self._lock_log(s)
        head = s.scalars(select(TreeHeadRow).order_by(TreeHeadRow.size.desc()).limit(1)).first()
        frontier = merkle.Frontier() if head is None else \
            merkle.Frontier.from_hex(head.size, json.loads(head.frontier))
        now = dt.datetime.now(dt.UTC).isoformat()
        for kind, data in events:
            body = canonical({"seq": frontier.size, "kind": kind, "time": now, "data": data})
            leaf = merkle.leaf_hash(body)
            s.add(AuditLeafRow(seq=frontier.size, kind=kind, body=body.decode(),
                               leaf_hash=leaf.hex()))
            for level, index, node in frontier.append(leaf):
                s.add(TreeNodeRow(level=level, index=index, hash=node.hex()))
        root = frontier.root().hex()
        signature, key_id = "", ""
        if self._log_signer_loader is not None:
            if self._log_signer is None:
                self._log_signer = self._log_signer_loader()
            signature = self._log_signer.sign(tree_head_bytes(frontier.size, root, now)).hex()
            key_id = self._log_signer.key_id
        s.add(TreeHeadRow(size=frontier.size, root=root, timestamp=now,
                          frontier=json.dumps(frontier.to_hex()), key_id=key_id,
                          signature=signature))
        s.flush()  # a concurrent writer with the same seq fails here; the append rolls back

    def _lock_log(self, s: Session) -> None:
        """Hold the log's write lock until the transaction ends (re-entrant). SQLite: already
        held, every transaction begins IMMEDIATE."""
        if self.dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOG_LOCK})

    @staticmethod
    def consent_event(row: ConsentRow) -> dict:
        import hashlib

        return {**row.public_dict(), "signature": row.signature,
                "revocation_signature": row.revocation_signature,
                "template_sha256": hashlib.sha256(row.face_template).hexdigest()}

    # consents ------------------------------------------------------------------------------
    def add_consent(self, row: ConsentRow) -> ConsentRow:
        with self.session() as s:
            s.add(row)
            self._append(s, "consent-added", self.consent_event(row))
        return row

    def get_consent(self, consent_id: str) -> ConsentRow | None:
        with self.session() as s:
            return s.get(ConsentRow, consent_id)

    def list_consents(self) -> list[ConsentRow]:
        with self.session() as s:
            return list(s.scalars(select(ConsentRow).order_by(ConsentRow.created_at)))

    def revoke_consent(self, consent_id: str, when: dt.datetime,
                       signature: str) -> ConsentRow | None:
        with self.session() as s:
            row = s.get(ConsentRow, consent_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = when
                row.revocation_signature = signature
                self._append(s, "consent-revoked", self.consent_event(row))
            return row

    # decisions and generations ---------------------------------------------------------------
    def add_decision(self, row: DecisionRow,
                     policy: tuple[str, str, str | None] | None = None) -> DecisionRow:
        """``policy``: (name, sha256, TOML text). The first decision under a policy version
        also logs that version's full text (a "policy" event), so an auditor can read exactly
        which rules every decision applied; a changed policy file is a new event."""
        with self.session() as s:
            s.add(row)
            events = []
            self._lock_log(s)  # before the lookup: two processes must not both log the policy
            if policy is not None and not self._policy_logged(s, policy[1]):
                events.append(("policy", {"name": policy[0], "sha256": policy[1],
                                          "text": policy[2]}))
            self._append_many(s, [*events, ("decision", row.public_dict())], locked=True)
        return row

    @staticmethod
    def _policy_logged(s: Session, sha256: str) -> bool:
        # Cheap: the kind index narrows the search to the few policy events.
        return s.scalars(select(AuditLeafRow.seq).where(
            AuditLeafRow.kind == "policy",
            AuditLeafRow.body.contains(f'"sha256":{json.dumps(sha256)}')).limit(1)).first() \
            is not None

    def log_event(self, kind: str, data: dict) -> None:
        """An event with no data row of its own (e.g. "keys": the workspace's key ids)."""
        with self.session() as s:
            self._append(s, kind, data)

    def add_decisions(self, rows: list[DecisionRow]) -> list[DecisionRow]:
        """Record many decisions in one transaction under one signed tree head (bulk imports
        and the audit benchmark); each decision is still its own log entry."""
        with self.session() as s:
            s.add_all(rows)
            s.flush()
            self._append_many(s, [("decision", row.public_dict()) for row in rows])
        return rows

    def add_generation(self, row: GenerationRow) -> GenerationRow:
        with self.session() as s:
            s.add(row)
            self._append(s, "generation", {**row.public_dict(),
                                           "fingerprint": json.loads(row.fingerprint or "[]")})
        return row

    def get_decision(self, decision_id: str) -> DecisionRow | None:
        with self.session() as s:
            return s.get(DecisionRow, decision_id)

    def list_decisions(self) -> list[DecisionRow]:
        with self.session() as s:
            return list(s.scalars(select(DecisionRow).order_by(DecisionRow.created_at)))

    def get_generation(self, generation_id: str) -> GenerationRow | None:
        with self.session() as s:
            return s.get(GenerationRow, generation_id)

    def find_generation(self, *, output_sha256: str | None = None,
                        watermark_payload: str | None = None) -> GenerationRow | None:
        with self.session() as s:
            q = select(GenerationRow)
            if output_sha256:
                q = q.where(GenerationRow.output_sha256 == output_sha256)
            elif watermark_payload:
                q = q.where(GenerationRow.watermark_payload == watermark_payload)
            else:
                return None
            return s.scalars(q.limit(1)).first()

    def list_generations(self) -> list[GenerationRow]:
        with self.session() as s:
            return list(s.scalars(select(GenerationRow).order_by(GenerationRow.created_at)))


def _sqlite_begin_immediate(conn) -> None:
    # Take the write lock at the start of every transaction, so two processes cannot both read
    # the same tree head and append the same sequence number (they queue on busy_timeout).
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
