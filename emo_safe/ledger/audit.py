"""Auditing the ledger: recompute the Merkle log, check every signed tree head and every data
row against its logged state, and give and check inclusion proofs.

The log (``audit_log``) holds one canonical JSON leaf per event (consent added or revoked,
decision, generation); ``tree_heads`` holds a head after every append, signed with the
workspace's log key (Ed25519). An attacker with database access but without the key can edit,
delete, insert or reorder rows, and can even recompute every hash, but cannot produce heads
that verify. Deleting the newest entries together with their heads (truncation) leaves a
shorter log that is consistent in itself: that is caught against a head an auditor kept
(``audit head`` / ``audit verify --head``), as transparency logs do with gossip.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select

from emo_safe.ledger import merkle
from emo_safe.ledger.store import (
    AuditLeafRow,
    ConsentRow,
    DecisionRow,
    GenerationRow,
    LedgerStore,
    TreeHeadRow,
    tree_head_bytes,
)
from emo_safe.provenance.keys import public_key_id, verify_ed25519

_TABLES = {"consent-added": "consents", "consent-revoked": "consents", "decision": "decisions",
           "generation": "generations"}


@dataclass
class AuditResult:
    ok: bool
    size: int
    root: str
    problems: list[str] = field(default_factory=list)
    first_bad: int | None = None  # sequence number of the first bad entry

    def to_dict(self) -> dict:
        return {"ok": self.ok, "size": self.size, "root": self.root, "first_bad": self.first_bad,
                "problems": self.problems}


def _head_ok(head: TreeHeadRow, public_key) -> bool:
    try:
        sig = bytes.fromhex(head.signature or "")
    except ValueError:
        return False
    return verify_ed25519(public_key, sig, tree_head_bytes(head.size, head.root, head.timestamp))


def verify_log(store: LedgerStore, public_key, known_head: dict | None = None) -> AuditResult:
    with store.session() as s:
        leaves = list(s.scalars(select(AuditLeafRow).order_by(AuditLeafRow.seq)))
        heads = {h.size: h for h in s.scalars(select(TreeHeadRow))}
        rows = {
            "consents": {r.id: LedgerStore.consent_event(r) for r in s.scalars(select(ConsentRow))},
            "decisions": {r.id: r.public_dict() for r in s.scalars(select(DecisionRow))},
            "generations": {r.id: {**r.public_dict(), "fingerprint": json.loads(r.fingerprint)}
                            for r in s.scalars(select(GenerationRow))},
        }
    frontier = merkle.Frontier()
    latest: dict[tuple[str, str], dict] = {}

    def bad(seq: int | None, problem: str) -> AuditResult:
        return AuditResult(False, frontier.size, frontier.root().hex(), [problem], seq)

    for expected, leaf in enumerate(leaves):
        if leaf.seq != expected:
            return bad(expected, f"entry {expected} is missing (deleted) or out of place")
        body = leaf.body.encode()
        try:
            event = json.loads(body)
        except ValueError:
            return bad(expected, f"entry {expected} is not valid JSON (edited)")
        if event.get("seq") != expected:
            return bad(expected, f"entry {expected} carries sequence {event.get('seq')} "
                                 "(entries reordered)")
        h = merkle.leaf_hash(body)
        if h.hex() != leaf.leaf_hash:
            return bad(expected, f"entry {expected} was edited: its hash does not match")
        frontier.append(h)
        head = heads.get(frontier.size)
        if head is None:
            return bad(expected, f"no signed tree head covers entry {expected} (inserted)")
        if head.root != frontier.root().hex():
            return bad(expected, f"the signed head for size {frontier.size} does not match the "
                                 "recomputed tree (entries edited, inserted, removed or reordered)")
        if not _head_ok(head, public_key):
            return bad(expected, f"the tree head for size {frontier.size} is not signed by the "
                                 "log key (re-hashed or forged without the key)")
        table = _TABLES.get(event.get("kind"))
        data = event.get("data") or {}
        if table and "id" in data:
            latest[(table, data["id"])] = data
    if any(size > frontier.size for size in heads):
        return bad(frontier.size, f"signed heads exist beyond the log's {frontier.size} entries "
                                  "(entries deleted from the end)")
    if known_head is not None:
        size, root = int(known_head["size"]), str(known_head["root"])
        if size > frontier.size:
            return bad(frontier.size, f"the log has {frontier.size} entries but a kept head "
                                      f"shows {size}: the log was truncated")
        if merkle.root([bytes.fromhex(leaf.leaf_hash) for leaf in leaves[:size]]).hex() != root:
            return bad(None, f"the log's first {size} entries do not match the kept head "
                             "(history rewritten)")
    # Every data row must be exactly its latest logged state, and every logged row must exist.
    for table, current in rows.items():
        for row_id, data in current.items():
            logged = latest.get((table, row_id))
            if logged is None:
                return bad(None, f"{table} row {row_id} is not in the log (inserted directly)")
            if logged != data:
                return bad(None, f"{table} row {row_id} differs from its logged state (edited)")
    for (table, row_id) in latest:
        if row_id not in rows[table]:
            return bad(None, f"{table} row {row_id} is logged but missing (deleted)")
    return AuditResult(True, frontier.size, frontier.root().hex())


def latest_head(store: LedgerStore) -> dict | None:
    with store.session() as s:
        head = s.scalars(select(TreeHeadRow).order_by(TreeHeadRow.size.desc()).limit(1)).first()
    if head is None:
        return None
    return {"size": head.size, "root": head.root, "timestamp": head.timestamp,
            "key_id": head.key_id, "signature": head.signature}


def prove(store: LedgerStore, generation_id: str) -> dict | None:
    """An inclusion proof of the generation's log entry against the latest signed head."""
    with store.session() as s:
        leaves = list(s.scalars(select(AuditLeafRow).order_by(AuditLeafRow.seq)))
    index = next((leaf.seq for leaf in leaves if leaf.kind == "generation"
                  and json.loads(leaf.body)["data"].get("id") == generation_id), None)
    head = latest_head(store)
    if index is None or head is None:
        return None
    hashes = [bytes.fromhex(leaf.leaf_hash) for leaf in leaves[: head["size"]]]
    return {"format": "emo-safe inclusion proof v1", "leaf_index": index,
            "entry": leaves[index].body, "tree_head": head,
            "audit_path": [h.hex() for h in merkle.inclusion_proof(index, hashes)]}


def check_proof(proof: dict, public_key) -> tuple[bool, str]:
    """Offline: with only the log's public key, does the proof show the entry is in the log?"""
    try:
        head = proof["tree_head"]
        size, root = int(head["size"]), bytes.fromhex(head["root"])
        if head.get("key_id") and head["key_id"] != public_key_id(public_key):
            return False, "the tree head was signed by another key"
        if not verify_ed25519(public_key, bytes.fromhex(head["signature"]),
                              tree_head_bytes(size, head["root"], head["timestamp"])):
            return False, "the tree head's signature does not verify"
        leaf = merkle.leaf_hash(proof["entry"].encode())
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        if not merkle.verify_inclusion(leaf, int(proof["leaf_index"]), size, path, root):
            return False, "the audit path does not lead from the entry to the signed root"
    except (KeyError, TypeError, ValueError):
        return False, "the proof is malformed"
    return True, f"entry {proof['leaf_index']} is in the signed log of size {size}"


def export_entries(store: LedgerStore, since: str | None = None,
                   until: str | None = None) -> dict:
    """Log entries (optionally by time: ISO dates or datetimes, UTC) with the latest signed
    head. Each entry keeps its exact canonical body, so an auditor can re-hash a full export
    and check it against the signed root offline."""
    with store.session() as s:
        leaves = list(s.scalars(select(AuditLeafRow).order_by(AuditLeafRow.seq)))
    entries = []
    for leaf in leaves:
        event = json.loads(leaf.body)
        t = event.get("time", "")
        if (since and t < since) or (until and t >= until):
            continue
        entries.append({"seq": leaf.seq, "kind": leaf.kind, "time": t,
                        "leaf_hash": leaf.leaf_hash, "body": leaf.body})
    return {"format": "emo-safe audit export v1", "tree_head": latest_head(store),
            "complete": not since and not until, "entries": entries}


def export_root(export: dict) -> str:
    """The Merkle root over a complete export's entries, recomputed from their bodies."""
    return merkle.root([merkle.leaf_hash(e["body"].encode()) for e in export["entries"]]).hex()
