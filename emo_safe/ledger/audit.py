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

import datetime as dt
import hashlib
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
    TreeNodeRow,
    canonical,
    tree_head_bytes,
)
from emo_safe.provenance.keys import public_key_id, verify_ed25519

INCLUSION_FORMAT = "emo-safe inclusion proof v1"
CONSISTENCY_FORMAT = "emo-safe consistency proof v1"
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


def _signed(public_key, size: int, root: str, timestamp: str, signature: str | None) -> bool:
    """Is this tree head signed by the log key? (stored rows and heads in proofs alike)"""
    try:
        sig = bytes.fromhex(signature or "")
    except ValueError:
        return False
    return verify_ed25519(public_key, sig, tree_head_bytes(size, root, timestamp))


def _digest(data: dict) -> bytes:
    return hashlib.sha256(canonical(data)).digest()


def _data_rows(s):
    """Every data row as (table, id, its current state), streamed."""
    for r in s.scalars(select(ConsentRow).execution_options(yield_per=5000)):
        yield "consents", r.id, LedgerStore.consent_event(r)
    for r in s.scalars(select(DecisionRow).execution_options(yield_per=5000)):
        yield "decisions", r.id, r.public_dict()
    for r in s.scalars(select(GenerationRow).execution_options(yield_per=5000)):
        yield "generations", r.id, {**r.public_dict(), "fingerprint": json.loads(r.fingerprint)}


def verify_log(store: LedgerStore, public_key, known_head: dict | None = None,
               progress=None) -> AuditResult:
    """Recompute the log from its entries and check it against every signed tree head, then
    check every data row against its latest logged state. Streams: memory grows with the
    number of heads and rows (a digest each), not with the entries' size. ``progress`` is
    called with the number of entries checked so far."""
    frontier = merkle.Frontier()
    # (table, id) -> digest of the latest logged state of that row
    latest: dict[tuple[str, str], bytes] = {}
    kept_root = None

    def bad(seq: int | None, problem: str) -> AuditResult:
        return AuditResult(False, frontier.size, frontier.root().hex(), [problem], seq)

    with store.session() as s:
        heads = {h.size: h for h in s.scalars(select(TreeHeadRow))}
        last_covered = 0  # entries up to here are covered by a verified head
        leaves = s.execute(select(AuditLeafRow.seq, AuditLeafRow.body, AuditLeafRow.leaf_hash)
                           .order_by(AuditLeafRow.seq).execution_options(yield_per=10000))
        for expected, (seq, body_text, leaf_hex) in enumerate(leaves):
            if seq != expected:
                return bad(expected, f"entry {expected} is missing (deleted) or out of place")
            body = body_text.encode()
            try:
                event = json.loads(body)
            except ValueError:
                return bad(expected, f"entry {expected} is not valid JSON (edited)")
            if not isinstance(event, dict) or event.get("seq") != expected:
                seen = event.get("seq") if isinstance(event, dict) else None
                return bad(expected, f"entry {expected} carries sequence {seen} "
                                     "(entries reordered)")
            h = merkle.leaf_hash(body)
            if h.hex() != leaf_hex:
                return bad(expected, f"entry {expected} was edited: its hash does not match")
            frontier.append(h)
            head = heads.get(frontier.size)
            if head is not None:
                first = last_covered if frontier.size - last_covered > 1 else expected
                where = (f"entry {expected}" if first == expected
                         else f"entries {first}-{expected}")
                if head.root != frontier.root().hex():
                    return bad(first, f"the signed head for size {frontier.size} does not match "
                                      f"the recomputed tree ({where} edited, inserted, removed "
                                      "or reordered)")
                if not _signed(public_key, head.size, head.root, head.timestamp,
                               head.signature):
                    return bad(first, f"the tree head for size {frontier.size} is not signed by "
                                      f"the log key ({where} re-hashed or forged without the "
                                      "key)")
                last_covered = frontier.size
            if known_head is not None and frontier.size == int(known_head["size"]):
                kept_root = frontier.root().hex()
            table = _TABLES.get(event.get("kind"))
            data = event.get("data") or {}
            if table and isinstance(data, dict) and "id" in data:
                latest[(table, data["id"])] = _digest(data)
            if progress is not None and frontier.size % 10000 == 0:
                progress(frontier.size)
        if last_covered != frontier.size:
            return bad(last_covered, f"no signed tree head covers entry {last_covered} and "
                                     "after (inserted)")
        if any(size > frontier.size for size in heads):
            return bad(frontier.size, f"signed heads exist beyond the log's {frontier.size} "
                                      "entries (entries deleted from the end)")
        if known_head is not None:
            size, root = int(known_head["size"]), str(known_head["root"])
            if size > frontier.size:
                return bad(frontier.size, f"the log has {frontier.size} entries but a kept head "
                                          f"shows {size}: the log was truncated")
            if size == 0:
                kept_root = merkle.EMPTY_ROOT.hex()
            if kept_root != root:
                return bad(None, f"the log's first {size} entries do not match the kept head "
                                 "(history rewritten)")
        # Every data row must be exactly its latest logged state; every logged row must exist.
        for table, row_id, data in _data_rows(s):
            logged = latest.pop((table, row_id), None)
            if logged is None:
                return bad(None, f"{table} row {row_id} is not in the log (inserted directly)")
            if logged != _digest(data):
                return bad(None, f"{table} row {row_id} differs from its logged state (edited)")
    for (table, row_id) in latest:
        return bad(None, f"{table} row {row_id} is logged but missing (deleted)")
    return AuditResult(True, frontier.size, frontier.root().hex())


def latest_head(store: LedgerStore) -> dict | None:
    with store.session() as s:
        return _head_at(s, None)


def _subtree_roots(s):
    """MTH(D[start:end]) from the stored perfect-subtree roots: O(log n) small reads per
    proof. A log written before nodes were kept falls back to hashing its leaves."""

    def leaf_hashes(start: int, end: int) -> list[bytes]:
        return [bytes.fromhex(h) for h in s.scalars(
            select(AuditLeafRow.leaf_hash).where(AuditLeafRow.seq >= start,
                                                 AuditLeafRow.seq < end)
            .order_by(AuditLeafRow.seq).execution_options(yield_per=50000))]

    def subtree_root(start: int, end: int) -> bytes:
        n = end - start
        if n == 1:
            (h,) = leaf_hashes(start, end) or [None]
            if h is None:
                raise LookupError(f"log entry {start} is missing")
            return h
        level = n.bit_length() - 1
        if n == 1 << level and start % n == 0:
            stored = s.get(TreeNodeRow, (level, start >> level))
            if stored is not None:
                return bytes.fromhex(stored.hash)
            hashes = leaf_hashes(start, end)
            if len(hashes) != n:
                raise LookupError(f"log entries {start}-{end - 1} are missing")
            return merkle.root(hashes)
        k = merkle._split(n)
        return merkle.node_hash(subtree_root(start, start + k), subtree_root(start + k, end))

    return subtree_root


def _head_at(s, size: int | None) -> dict | None:
    q = select(TreeHeadRow)
    q = q.order_by(TreeHeadRow.size.desc()).limit(1) if size is None \
        else q.where(TreeHeadRow.size == size)
    head = s.scalars(q).first()
    if head is None:
        return None
    return {"size": head.size, "root": head.root, "timestamp": head.timestamp,
            "key_id": head.key_id, "signature": head.signature}


def prove(store: LedgerStore, generation_id: str) -> dict | None:
    """An inclusion proof of the generation's log entry against the latest signed head."""
    with store.session() as s:
        # Canonical JSON has no spaces, and '"id":' cannot be the tail of another key.
        candidates = s.scalars(select(AuditLeafRow).where(
            AuditLeafRow.kind == "generation",
            AuditLeafRow.body.contains(f'"id":{json.dumps(generation_id)}')))
        leaf = next((c for c in candidates
                     if json.loads(c.body)["data"].get("id") == generation_id), None)
        head = _head_at(s, None)
        if leaf is None or head is None:
            return None
        path = _proof(merkle.inclusion_path, leaf.seq, head["size"], _subtree_roots(s))
    return {"format": INCLUSION_FORMAT, "leaf_index": leaf.seq, "entry": leaf.body,
            "tree_head": head, "audit_path": [h.hex() for h in path]}


def _proof(kind, m: int, size: int, subtree_root) -> list[bytes]:
    from emo_safe.errors import IntegrityError

    try:
        return kind(m, size, subtree_root)
    except LookupError as exc:
        raise IntegrityError(f"cannot build the proof: {exc}; run `emo-safe audit verify`") \
            from None


def prove_consistency(store: LedgerStore, old_head: dict, new_size: int | None = None) -> dict:
    """A consistency proof that the log at an older signed head (one an auditor kept) is a
    prefix of the log at a newer one (default: the latest): the log only grew."""
    from emo_safe.errors import InputError

    with store.session() as s:
        new = _head_at(s, new_size)
        if new is None:
            raise InputError("the log has no signed tree head" if new_size is None
                             else f"the log has no signed tree head of size {new_size}")
        old_size = int(old_head["size"])
        if not 0 < old_size <= new["size"]:
            raise InputError(f"the kept head's size {old_size} is not between 1 and the newer "
                             f"head's {new['size']}")
        path = _proof(merkle.consistency_path, old_size, new["size"], _subtree_roots(s))
    return {"format": CONSISTENCY_FORMAT, "old_head": old_head, "new_head": new,
            "proof": [h.hex() for h in path]}


def _check_head(head: dict, public_key, which: str) -> str | None:
    if head.get("key_id") and head["key_id"] != public_key_id(public_key):
        return f"the {which} tree head was signed by another key"
    if not _signed(public_key, int(head["size"]), head["root"], head["timestamp"],
                   head["signature"]):
        return f"the {which} tree head's signature does not verify"
    return None


def check_proof(proof: dict, public_key) -> tuple[bool, str]:
    """Offline, with only the log's public key: an inclusion proof shows the entry is in the
    signed log; a consistency proof shows the older signed log is a prefix of the newer."""
    try:
        if proof.get("format") == CONSISTENCY_FORMAT:
            old, new = proof["old_head"], proof["new_head"]
            for head, which in ((old, "older"), (new, "newer")):
                problem = _check_head(head, public_key, which)
                if problem:
                    return False, problem
            m, n = int(old["size"]), int(new["size"])
            if not merkle.verify_consistency(m, n, bytes.fromhex(old["root"]),
                                             bytes.fromhex(new["root"]),
                                             [bytes.fromhex(h) for h in proof["proof"]]):
                return False, (f"the log of size {m} is not a prefix of the log of size {n} "
                               "(history rewritten)")
            return True, f"the signed log of size {m} is a prefix of the signed log of size {n}"
        head = proof["tree_head"]
        size, root = int(head["size"]), bytes.fromhex(head["root"])
        problem = _check_head(head, public_key, "signed")
        if problem:
            return False, problem
        leaf = merkle.leaf_hash(proof["entry"].encode())
        path = [bytes.fromhex(h) for h in proof["audit_path"]]
        if not merkle.verify_inclusion(leaf, int(proof["leaf_index"]), size, path, root):
            return False, "the audit path does not lead from the entry to the signed root"
    except (KeyError, TypeError, ValueError, AttributeError):
        return False, "the proof is malformed"
    return True, f"entry {proof['leaf_index']} is in the signed log of size {size}"


def _entries_between(s, since: str | None, until: str | None):
    """(leaf row, parsed event) in log order, streamed, with since <= time < until (ISO, UTC;
    either bound optional)."""
    for leaf in s.scalars(select(AuditLeafRow).order_by(AuditLeafRow.seq)
                          .execution_options(yield_per=10000)):
        event = json.loads(leaf.body)
        t = event.get("time", "")
        if (since and t < since) or (until and t >= until):
            continue
        yield leaf, event


def export_entries(store: LedgerStore, since: str | None = None,
                   until: str | None = None) -> dict:
    """Log entries (optionally by time: ISO dates or datetimes, UTC) with the latest signed
    head. Each entry keeps its exact canonical body, so an auditor can re-hash a full export
    and check it against the signed root offline."""
    with store.session() as s:
        entries = [{"seq": leaf.seq, "kind": leaf.kind, "time": event.get("time", ""),
                    "leaf_hash": leaf.leaf_hash, "body": leaf.body}
                   for leaf, event in _entries_between(s, since, until)]
    return {"format": "emo-safe audit export v1", "tree_head": latest_head(store),
            "complete": not since and not until, "entries": entries}


def export_root(export: dict) -> str:
    """The Merkle root over a complete export's entries, recomputed from their bodies."""
    return merkle.root([merkle.leaf_hash(e["body"].encode()) for e in export["entries"]]).hex()


@dataclass
class AuditSummary:
    """What an audit report shows, computed from the log entries themselves (the record the
    signed heads cover), never from the mutable data tables."""

    integrity: AuditResult
    head: dict | None
    since: str | None
    until: str | None
    decisions: int = 0
    refusals: int = 0
    generations: int = 0
    # period ("2026-11-24") -> {"generated": n, "refused:<reason code>": n}
    by_period: dict[str, dict[str, int]] = field(default_factory=dict)
    period: str = "day"
    refusal_reasons: dict[str, int] = field(default_factory=dict)
    # consent id -> {"name", "scope", "state", "generations"}
    consents: dict[str, dict] = field(default_factory=dict)
    policies: dict[str, dict] = field(default_factory=dict)  # sha256 -> {"name", "decisions"}
    recent_generations: list[dict] = field(default_factory=list)
    generations_shown: int = 500
    key_events: list[dict] = field(default_factory=list)  # {"time", "created", key ids...}


def summarize(store: LedgerStore, public_key, since: str | None = None,
              until: str | None = None, progress=None) -> AuditSummary:
    """Verify the log, then count what it holds (optionally by time: ISO, UTC)."""
    integrity = verify_log(store, public_key, progress=progress)
    summary = AuditSummary(integrity, latest_head(store), since, until)
    with store.session() as s:
        events = [(event.get("time", ""), event.get("kind"), event.get("data") or {})
                  for _, event in _entries_between(s, since, until)]
    if events:
        span = (_parse(events[-1][0]) - _parse(events[0][0])).days
        summary.period = "day" if span <= 62 else "week" if span <= 7 * 60 else "month"
    for t, kind, data in events:
        bucket = summary.by_period.setdefault(_bucket(t, summary.period), {})
        if kind in ("consent-added", "consent-revoked"):
            c = summary.consents.setdefault(data.get("id", "?"), {"generations": 0})
            c.update(name=data.get("name"), scope=data.get("scope") or [],
                     expires_at=data.get("expires_at"),
                     state="revoked" if data.get("revoked_at") else "active")
        elif kind == "policy":
            p = summary.policies.setdefault(data.get("sha256", "?"),
                                            {"name": data.get("name"), "decisions": 0})
            p.update(first_used=t, text_logged=bool(data.get("text")))
        elif kind == "keys":
            summary.key_events.append({"time": t, **data})
        elif kind == "decision":
            summary.decisions += 1
            p = summary.policies.setdefault(data.get("policy_sha256", "?"),
                                            {"name": data.get("policy_name"), "decisions": 0})
            p["decisions"] += 1
            if not data.get("allowed"):
                summary.refusals += 1
                codes = sorted({r.get("code", "?") for r in data.get("reasons") or []}) or ["?"]
                for code in codes:
                    summary.refusal_reasons[code] = summary.refusal_reasons.get(code, 0) + 1
                    bucket[f"refused:{code}"] = bucket.get(f"refused:{code}", 0) + 1
        elif kind == "generation":
            summary.generations += 1
            bucket["generated"] = bucket.get("generated", 0) + 1
            for cid in data.get("consent_ids") or []:
                c = summary.consents.setdefault(cid, {"generations": 0, "state": "unknown"})
                c["generations"] += 1
            summary.recent_generations.append(
                {k: data.get(k) for k in ("id", "created_at", "generator", "manifest_id",
                                          "watermark_payload", "consent_ids", "output_sha256",
                                          "decision_id")})
    summary.recent_generations = summary.recent_generations[-summary.generations_shown:][::-1]
    return summary


def _parse(t: str) -> dt.datetime:
    return dt.datetime.fromisoformat(t)


def _bucket(t: str, period: str) -> str:
    when = _parse(t)
    if period == "day":
        return when.date().isoformat()
    if period == "week":
        year, week, _ = when.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{when.year}-{when.month:02d}"
