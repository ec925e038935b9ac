"""The ledger database: consents, decisions and generations, each written together with its
audit-log entry (``ledger/log.py``) in one transaction.

SQLite by default (a file in the workspace); any SQLAlchemy URL works, so PostgreSQL is a
matter of ``database_url`` in the workspace config. Face embeddings live only in the
``consents.face_template`` column of this database; every other table and every export carries
ids and hashes only.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from emo_safe.errors import IntegrityError, WorkspaceError
from emo_safe.ledger import events
from emo_safe.ledger.log import SqlAuditLog, SqlLogReader, canonical, revocation_state
from emo_safe.ledger.schema import (
    AuditLeafRow,
    Base,
    ConsentRow,
    DecisionRow,
    GenerationRow,
    ManifestRow,
    utcnow,
)

__all__ = ["ConsentRow", "DecisionRow", "GenerationRow", "LedgerStore", "RevocationIndex",
           "as_utc", "canonical", "new_id", "utcnow"]

# Key of the PostgreSQL advisory lock that serialises appends to the audit log ("emo-safe").
_PG_LOG_LOCK = int.from_bytes(b"emo-safe", "big") & 0x7FFF_FFFF_FFFF_FFFF
_READ_ONLY = "emo_safe_read_only"


def new_id() -> str:
    return uuid.uuid4().hex


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


class RevocationIndex:
    """The consent ids the signed log says are revoked. ``signed``: the latest tree head
    signs this exact set (False only for a log last written by emo-safe 0.1, whose heads
    predate the index: then the set is read from the log's own entries)."""

    def __init__(self, ids: frozenset[str], signed: bool) -> None:
        self.ids = ids
        self.signed = signed

    def __contains__(self, consent_id: str) -> bool:
        return consent_id in self.ids


class LedgerStore:
    """Connection to the ledger database. Cheap to create; one engine per URL and process.

    ``create=False`` (readers such as a detector): the database must already exist; nothing is
    created or upgraded, so a mistyped URL is an error instead of a new, empty ledger."""

    _engines: dict[str, object] = {}

    def __init__(self, url: str, log_signer: Callable[[], object] | None = None,
                 create: bool = True,
                 log_public_keys: Callable[[], object] | None = None) -> None:
        """``log_signer``: a callable returning the key that signs tree heads (loaded on the
        first append only, so reading never needs the passphrase). ``log_public_keys``: the
        log keys it replaced (a :class:`~emo_safe.keys.PublicKeyRing`), for the latest head
        when it was signed before a rotation."""
        self.url = url
        self.log = SqlAuditLog(self, log_signer, log_public_keys)
        engine = self._engines.get(url)
        if engine is None:
            if not create:
                _require_existing_sqlite(url)
            try:
                engine = create_engine(url, future=True)
            except (SQLAlchemyError, ImportError, ValueError) as exc:
                raise WorkspaceError(f"cannot use database URL: {type(exc).__name__}") from None
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", _sqlite_begin)
            if create:
                # A workspace made by an older version lacks the newer tables and columns:
                # add what is missing, once per process. Nothing existing is altered.
                try:
                    _upgrade_schema(engine)
                except SQLAlchemyError:
                    pass  # unreachable or read-only: the first real statement says so clearly
            self._engines[url] = engine
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        reading = engine.execution_options(**{_READ_ONLY: True})
        if engine.dialect.name == "postgresql":
            # One snapshot for a whole audit: READ COMMITTED would see appends mid-way.
            reading = reading.execution_options(isolation_level="REPEATABLE READ")
        self._readers = sessionmaker(reading, expire_on_commit=False)

    def create_schema(self) -> None:
        try:
            _upgrade_schema(self.engine)
        except SQLAlchemyError as exc:
            raise WorkspaceError(f"cannot create the ledger database: {exc.__class__.__name__}") \
                from None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read-write transaction (on SQLite it holds the write lock from its start)."""
        with self._guarded(self._sessions) as s:
            yield s

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only transaction over one consistent snapshot that never blocks writers."""
        with self._guarded(self._readers) as s:
            yield s

    @contextmanager
    def _guarded(self, factory) -> Iterator[Session]:
        try:
            with factory() as s:
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

    def lock_log(self, s: Session) -> None:
        """Hold the log's write lock until the transaction ends (re-entrant). SQLite: already
        held, every read-write transaction begins IMMEDIATE."""
        if self.dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOG_LOCK})

    # consents ------------------------------------------------------------------------------
    def add_consent(self, row: ConsentRow) -> ConsentRow:
        with self.session() as s:
            s.add(row)
            self.log.append_in(s, [("consent-added", events.row_event("consents", row))])
        return row

    def get_consent(self, consent_id: str) -> ConsentRow | None:
        with self.read_session() as s:
            return s.get(ConsentRow, consent_id)

    def list_consents(self) -> list[ConsentRow]:
        with self.read_session() as s:
            return list(s.scalars(select(ConsentRow).order_by(ConsentRow.created_at)))

    def revoke_consent(self, consent_id: str, when: dt.datetime,
                       signature: str) -> ConsentRow | None:
        with self.session() as s:
            row = s.get(ConsentRow, consent_id)
            if row is not None and row.revoked_at is None:
                row.revoked_at = when
                row.revocation_signature = signature
                self.log.append_in(s, [("consent-revoked", events.row_event("consents", row))])
            return row

    def revocations(self, log_public_key) -> RevocationIndex:
        """The revoked consent ids as the latest signed tree head commits to them. Raises
        IntegrityError when the index, or the head itself, does not verify.
        ``log_public_key``: the log key, or a :class:`~emo_safe.keys.PublicKeyRing`."""
        from emo_safe.keys import as_key_ring, verify_ed25519

        with self.read_session() as s:
            reader = self.log_reader(s)
            head = reader.latest_head()
            ids = reader.revoked_consents()
            if head is not None and head.version >= 2:
                key = as_key_ring(log_public_key).get(head.key_id)
                try:
                    signed = key is not None and verify_ed25519(
                        key, bytes.fromhex(head.signature), head.signed_bytes())
                except ValueError:
                    signed = False
                if not signed or revocation_state(ids) != head.revocations:
                    raise IntegrityError("the revocation index does not match the signed audit "
                                         "log (a revocation was removed or forged); run "
                                         "`emo-safe audit verify`")
                return RevocationIndex(frozenset(ids), True)
            # A log last written by emo-safe 0.1: its revocations are its own entries.
            legacy = {json.loads(body)["data"]["id"] for body in s.scalars(
                select(AuditLeafRow.body).where(AuditLeafRow.kind == "consent-revoked"))}
            return RevocationIndex(frozenset(legacy) | frozenset(ids), False)

    # decisions and generations ---------------------------------------------------------------
    def add_decision(self, row: DecisionRow,
                     policy: tuple[str, str, str | None] | None = None) -> DecisionRow:
        """``policy``: (name, sha256, TOML text). The first decision under a policy version
        also logs that version's full text (a "policy" event), so an auditor can read exactly
        which rules every decision applied; a changed policy file is a new event."""
        with self.session() as s:
            s.add(row)
            logged = []
            self.lock_log(s)  # before the lookup: two processes must not both log the policy
            if policy is not None and not self._policy_logged(s, policy[1]):
                logged.append(("policy", {"name": policy[0], "sha256": policy[1],
                                          "text": policy[2]}))
            logged.append(("decision", events.row_event("decisions", row)))
            self.log.append_in(s, logged, locked=True)
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
        self.log.append([(kind, data)])

    def add_decisions(self, rows: list[DecisionRow]) -> list[DecisionRow]:
        """Record many decisions in one transaction under one signed tree head (bulk imports
        and the audit benchmark); each decision is still its own log entry."""
        with self.session() as s:
            s.add_all(rows)
            s.flush()
            self.log.append_in(s, [("decision", events.row_event("decisions", row))
                                   for row in rows])
        return rows

    def add_generation(self, row: GenerationRow,
                       manifest: ManifestRow | None = None) -> GenerationRow:
        """The generation, its log entry and (when given) its manifest store for the manifest
        repository, in one transaction."""
        with self.session() as s:
            s.add(row)
            s.flush()
            if manifest is not None:
                s.add(manifest)
            self.log.append_in(s, [("generation", events.row_event("generations", row))])
        return row

    # the manifest repository -----------------------------------------------------------------
    def get_manifest(self, manifest_id: str) -> ManifestRow | None:
        with self.read_session() as s:
            return s.get(ManifestRow, manifest_id)

    def manifest_for_generation(self, generation_id: str) -> ManifestRow | None:
        with self.read_session() as s:
            return s.scalars(select(ManifestRow).where(
                ManifestRow.generation_id == generation_id).limit(1)).first()

    def manifests_by_binding(self, alg: str, value_hex: str, limit: int = 10) -> list[str]:
        """Manifest ids with a soft binding exactly (alg, value). A row keeps the video mark's
        algorithm; the audio mark carries the same value (the generation id), and a manifest
        binds it when its generation's settings name that audio scheme."""
        with self.read_session() as s:
            rows = s.execute(select(ManifestRow.manifest_id, ManifestRow.binding_alg,
                                    GenerationRow.settings)
                             .join(GenerationRow, GenerationRow.id == ManifestRow.generation_id,
                                   isouter=True)
                             .where(ManifestRow.binding_value == value_hex.lower())
                             .order_by(ManifestRow.created_at)).all()
        found = [m for m, binding_alg, settings in rows
                 if binding_alg == alg or _audio_scheme(settings) == alg]
        return found[:limit]

    def get_decision(self, decision_id: str) -> DecisionRow | None:
        with self.read_session() as s:
            return s.get(DecisionRow, decision_id)

    def list_decisions(self) -> list[DecisionRow]:
        with self.read_session() as s:
            return list(s.scalars(select(DecisionRow).order_by(DecisionRow.created_at)))

    def get_generation(self, generation_id: str) -> GenerationRow | None:
        with self.read_session() as s:
            return s.get(GenerationRow, generation_id)

    def find_generation(self, *, output_sha256: str | None = None,
                        watermark_payload: str | None = None) -> GenerationRow | None:
        with self.read_session() as s:
            q = select(GenerationRow)
            if output_sha256:
                q = q.where(GenerationRow.output_sha256 == output_sha256)
            elif watermark_payload:
                q = q.where(GenerationRow.watermark_payload == watermark_payload)
            else:
                return None
            return s.scalars(q.limit(1)).first()

    def list_generations(self) -> list[GenerationRow]:
        with self.read_session() as s:
            return list(s.scalars(select(GenerationRow).order_by(GenerationRow.created_at)))

    @staticmethod
    def log_reader(s: Session) -> SqlLogReader:
        return SqlLogReader(s)


def _forget_inherited_connections() -> None:
    """In a forked child (a ``--jobs`` pool process, a forked cluster worker): the parent's
    pooled connections are the parent's — a PostgreSQL socket or an SQLite handle used from two
    processes at once corrupts both. The child drops them unclosed and opens its own."""
    for engine in LedgerStore._engines.values():
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_inherited_connections)


def _require_existing_sqlite(url: str) -> None:
    """A reader's SQLite URL must name a database that exists (SQLite would create it)."""
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError):
        return  # create_engine reports it
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).is_file():
        raise WorkspaceError(f"no ledger database at {database}")


def _upgrade_schema(engine) -> None:
    """Create missing tables and add missing (nullable) columns of existing ones."""
    with engine.begin() as conn:  # one connection: SQLite's write lock is per connection
        Base.metadata.create_all(conn)
        inspector = inspect(conn)
        for table in Base.metadata.sorted_tables:
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have and column.nullable:
                    kind = column.type.compile(dialect=engine.dialect)
                    conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN '
                                      f'"{column.name}" {kind}'))


def _sqlite_begin(conn) -> None:
    # Read-write transactions take the write lock at their start, so two processes cannot both
    # read the same tree head and append the same sequence number (they queue on
    # busy_timeout). Readers begin DEFERRED: in WAL mode they see one snapshot and never block.
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
    if os.name == "posix":
        _private_sqlite_files(dbapi_conn)


def _private_sqlite_files(dbapi_conn) -> None:
    """The database holds face templates: it and its WAL files are 0600."""
    try:
        row = dbapi_conn.execute("PRAGMA database_list").fetchone()
    except Exception:  # noqa: BLE001 - best effort; the workspace root is 0700 anyway
        return
    path = row[2] if row else ""
    for suffix in ("", "-wal", "-shm"):
        try:
            os.chmod(path + suffix, 0o600)
        except OSError:
            pass


def _audio_scheme(settings: str | None) -> str | None:
    try:
        value = json.loads(settings or "{}").get("audio_watermark")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
