"""The append-only audit log as an interface (:class:`AuditLog`, :class:`LogReader`) and its
SQL implementation (:class:`SqlAuditLog`, on the ledger's own database).

Auditing (``ledger/audit.py``: verify, prove, export) runs against the interface only, so
another backend (a transparency-log service, object storage) is one class.

Invariants of every append:

- it happens in the caller's transaction, so a data row and its log entry commit together or
  not at all, under a lock that serialises writers (no fork, no reused sequence number);
- it never extends state it has not checked: the stored right-edge frontier must hash to the
  latest head's root, and that head must carry a valid signature of the log key. A frontier
  rewritten in the database (to graft an edited history onto the next signed head) makes the
  append fail instead of being signed over;
- every head it signs is version 2: it also signs the hash chain over every revoked consent id
  (``revocations``), which the gate checks consent records against.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select

from emo_safe.errors import IntegrityError
from emo_safe.keys import verify_ed25519
from emo_safe.ledger import merkle
from emo_safe.ledger.schema import (
    AuditLeafRow,
    ConsentRow,
    DecisionRow,
    GenerationRow,
    RevocationRow,
    TreeHeadRow,
    TreeNodeRow,
)
from emo_safe.ledger.types import LogEntry, TreeHead

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.orm import Session

    from emo_safe.ledger.store import LedgerStore
HEAD_VERSION = 2
_EMPTY_CHAIN = hashlib.sha256(b"emo-safe revocations v1").hexdigest()


def canonical(obj) -> bytes:
    """The one JSON encoding that is hashed and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def extend_chain(chain: str, consent_id: str) -> str:
    return hashlib.sha256(bytes.fromhex(chain) + consent_id.encode()).hexdigest()


def revocation_state(consent_ids: Sequence[str]) -> str:
    """``"COUNT:CHAIN"`` over revoked consent ids in the order they were revoked."""
    chain = _EMPTY_CHAIN
    for cid in consent_ids:
        chain = extend_chain(chain, cid)
    return f"{len(consent_ids)}:{chain}"


class LogReader(Protocol):
    """A consistent, read-only view of the log (and of the data rows it describes)."""

    def latest_head(self) -> TreeHead | None: ...

    def head_at(self, size: int) -> TreeHead | None: ...

    def heads(self) -> dict[int, TreeHead]: ...

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[LogEntry]: ...

    def subtree_root(self, start: int, end: int) -> bytes: ...

    def find_entries(self, kind: str, row_id: str) -> list[LogEntry]: ...

    def rows(self) -> Iterator[tuple[str, str, object]]:
        """Every data row the log describes, as (table, id, row), streamed."""
        ...

    def revoked_consents(self) -> list[str]: ...


class AuditLog(Protocol):
    def reader(self) -> contextmanager: ...

    def append(self, events: Sequence[tuple[str, dict]]) -> TreeHead: ...


class SqlAuditLog:
    """The log in the ledger database: ``audit_log`` (leaves), ``tree_heads`` (signed heads
    with the frontier), ``tree_nodes`` (completed subtree roots, for O(log n) proofs) and
    ``revocations`` (the revoked-consent index the heads sign)."""

    def __init__(self, store: LedgerStore,
                 signer_loader: Callable[[], object] | None = None,
                 public_keys: Callable[[], object] | None = None) -> None:
        self.store = store
        self._signer_loader = signer_loader
        self._public_keys = public_keys
        self._signer = None

    def _load_signer(self):
        if self._signer is None:
            if self._signer_loader is None:
                raise IntegrityError("this ledger was opened without the log key, so nothing "
                                     "can be appended")
            self._signer = self._signer_loader()
        return self._signer

    # reading ---------------------------------------------------------------------------------
    @contextmanager
    def reader(self) -> Iterator[SqlLogReader]:
        with self.store.read_session() as s:
            yield SqlLogReader(s)

    # appending -------------------------------------------------------------------------------
    def append(self, events: Sequence[tuple[str, dict]]) -> TreeHead:
        with self.store.session() as s:
            return self.append_in(s, events)

    def append_in(self, s: Session, events: Sequence[tuple[str, dict]],
                  locked: bool = False) -> TreeHead:
        """Append ``events`` and one signed head covering them all, in the caller's
        transaction. ``locked``: the caller already holds the log's write lock."""
        if not locked:
            self.store.lock_log(s)
        signer = self._load_signer()
        head = s.scalars(select(TreeHeadRow).order_by(TreeHeadRow.size.desc()).limit(1)).first()
        key = signer.public_key
        if head is not None and head.key_id and head.key_id != signer.key_id \
                and self._public_keys is not None:
            # The latest head was signed by the key this one replaced (`keys rotate`).
            key = self._public_keys().get(head.key_id) or key
        frontier = self._checked_frontier(s, head, key)
        revoked = self._checked_revocations(s, head)
        chain = next(reversed(revoked.values())) if revoked else _EMPTY_CHAIN
        chain_count, known = len(revoked), set(revoked)
        now = dt.datetime.now(dt.UTC).isoformat()
        for kind, data in events:
            body = canonical({"seq": frontier.size, "kind": kind, "time": now, "data": data})
            leaf = merkle.leaf_hash(body)
            s.add(AuditLeafRow(seq=frontier.size, kind=kind, body=body.decode(),
                               leaf_hash=leaf.hex()))
            for level, index, node in frontier.append(leaf):
                s.add(TreeNodeRow(level=level, index=index, hash=node.hex()))
            if kind == "consent-revoked" and data["id"] not in known:
                chain = extend_chain(chain, data["id"])
                s.add(RevocationRow(consent_id=data["id"], seq=frontier.size - 1, chain=chain))
                chain_count += 1
                known.add(data["id"])
        new = TreeHead(frontier.size, frontier.root().hex(), now, signer.key_id, "",
                       HEAD_VERSION, f"{chain_count}:{chain}")
        new = TreeHead(**{**new.__dict__, "signature": signer.sign(new.signed_bytes()).hex()})
        s.add(TreeHeadRow(size=new.size, root=new.root, timestamp=new.timestamp,
                          frontier=json.dumps(frontier.to_hex()), key_id=new.key_id,
                          signature=new.signature, version=new.version,
                          revocations=new.revocations))
        s.flush()  # a concurrent writer with the same seq fails here; the append rolls back
        return new

    @staticmethod
    def _checked_frontier(s: Session, head, public_key) -> merkle.Frontier:
        if head is None:
            if s.scalars(select(AuditLeafRow.seq).limit(1)).first() is not None:
                raise IntegrityError("the audit log has entries but no signed tree head; "
                                     "refusing to append (run `emo-safe audit verify`)")
            return merkle.Frontier()
        try:
            frontier = merkle.Frontier.from_hex(head.size, json.loads(head.frontier))
            ok = frontier.root().hex() == head.root and verify_ed25519(
                public_key, bytes.fromhex(head.signature or ""), head_of(head).signed_bytes())
        except (ValueError, TypeError):
            ok = False
        if not ok:
            raise IntegrityError(f"the audit log's latest tree head (size {head.size}) does not "
                                 "verify against its signature or its stored frontier; "
                                 "refusing to append to a log that may have been rewritten "
                                 "(run `emo-safe audit verify`)")
        return frontier

    @staticmethod
    def _checked_revocations(s: Session, head) -> dict[str, str]:
        """The revocation index as the latest head signed it: consent id -> chain up to it, in
        revocation order. A head from before the index (version 1) has it built from the log's
        own consent-revoked entries."""
        rows = list(s.scalars(select(RevocationRow).order_by(RevocationRow.seq)))
        if head is not None and (head.version or 1) >= 2:
            if revocation_state([r.consent_id for r in rows]) != head.revocations:
                raise IntegrityError("the revocation index does not match the latest signed "
                                     "tree head; refusing to append (run `emo-safe audit "
                                     "verify`)")
            return {r.consent_id: r.chain for r in rows}
        if rows:
            raise IntegrityError("the revocation index has rows the log never signed")
        chain, index = _EMPTY_CHAIN, {}
        for leaf in s.scalars(select(AuditLeafRow).where(AuditLeafRow.kind == "consent-revoked")
                              .order_by(AuditLeafRow.seq)):
            cid = json.loads(leaf.body)["data"]["id"]
            if cid in index:
                continue
            chain = extend_chain(chain, cid)
            s.add(RevocationRow(consent_id=cid, seq=leaf.seq, chain=chain))
            index[cid] = chain
        return index


def head_of(row) -> TreeHead:
    return TreeHead(row.size, row.root, row.timestamp, row.key_id or "", row.signature or "",
                    row.version or 1, row.revocations)


class SqlLogReader:
    def __init__(self, s: Session) -> None:
        self.s = s

    def latest_head(self) -> TreeHead | None:
        row = self.s.scalars(select(TreeHeadRow).order_by(TreeHeadRow.size.desc())
                             .limit(1)).first()
        return head_of(row) if row is not None else None

    def head_at(self, size: int) -> TreeHead | None:
        row = self.s.get(TreeHeadRow, size)
        return head_of(row) if row is not None else None

    def heads(self) -> dict[int, TreeHead]:
        return {h.size: head_of(h) for h in self.s.scalars(select(TreeHeadRow))}

    def entries(self, start: int = 0, end: int | None = None) -> Iterator[LogEntry]:
        q = select(AuditLeafRow.seq, AuditLeafRow.kind, AuditLeafRow.body,
                   AuditLeafRow.leaf_hash).where(AuditLeafRow.seq >= start)
        if end is not None:
            q = q.where(AuditLeafRow.seq < end)
        for seq, kind, body, leaf in self.s.execute(
                q.order_by(AuditLeafRow.seq).execution_options(yield_per=10000)):
            yield LogEntry(seq, kind, body, leaf)

    def find_entries(self, kind: str, row_id: str) -> list[LogEntry]:
        # Canonical JSON has no spaces, and '"id":' cannot be the tail of another key.
        rows = self.s.scalars(select(AuditLeafRow).where(
            AuditLeafRow.kind == kind,
            AuditLeafRow.body.contains(f'"id":{json.dumps(row_id)}')).order_by(AuditLeafRow.seq))
        return [LogEntry(r.seq, r.kind, r.body, r.leaf_hash) for r in rows
                if json.loads(r.body).get("data", {}).get("id") == row_id]

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) from the stored perfect-subtree roots: O(log n) small reads. A log
        written before nodes were kept falls back to hashing its leaves."""
        n = end - start
        if n == 1:
            (h,) = [bytes.fromhex(e.leaf_hash) for e in self.entries(start, end)] or [None]
            if h is None:
                raise LookupError(f"log entry {start} is missing")
            return h
        level = n.bit_length() - 1
        if n == 1 << level and start % n == 0:
            stored = self.s.get(TreeNodeRow, (level, start >> level))
            if stored is not None:
                return bytes.fromhex(stored.hash)
            hashes = [bytes.fromhex(e.leaf_hash) for e in self.entries(start, end)]
            if len(hashes) != n:
                raise LookupError(f"log entries {start}-{end - 1} are missing")
            return merkle.root(hashes)
        k = merkle.split_point(n)
        return merkle.node_hash(self.subtree_root(start, start + k),
                                self.subtree_root(start + k, end))

    def rows(self) -> Iterator[tuple[str, str, object]]:
        for table, model in (("consents", ConsentRow), ("decisions", DecisionRow),
                             ("generations", GenerationRow)):
            for r in self.s.scalars(select(model).execution_options(yield_per=5000)):
                yield table, r.id, r

    def revoked_consents(self) -> list[str]:
        return list(self.s.scalars(select(RevocationRow.consent_id)
                                   .order_by(RevocationRow.seq)))
