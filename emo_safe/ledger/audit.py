"""Auditing the ledger: recompute the Merkle log, check every signed tree head and every data
row against its logged state, and give and check inclusion and consistency proofs.

Everything here runs against the :class:`~emo_safe.ledger.log.AuditLog` interface, never
against tables. The log holds one canonical JSON leaf per event (consent added or revoked,
decision, generation, keys, policy) and a signed head after every append. An attacker with
database access but without the log key can edit, delete, insert or reorder rows, and can even
recompute every hash, but cannot produce heads that verify; an append refuses to extend a head
that does not verify. Deleting the newest entries together with their heads (truncation)
leaves a shorter log that is consistent in itself: that is caught against a head an auditor
kept (``audit head`` / ``audit verify --head``), as transparency logs do with gossip.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from emo_safe.errors import InputError, IntegrityError
from emo_safe.keys import as_key_ring, verify_ed25519
from emo_safe.ledger import events, merkle
from emo_safe.ledger.log import AuditLog, canonical, extend_chain, revocation_state
from emo_safe.ledger.types import (
    ConsistencyProof,
    InclusionProof,
    TreeHead,
    proof_from_json,
)

_EMPTY_CHAIN = revocation_state([]).split(":", 1)[1]


@dataclass(frozen=True)
class AuditResult:
    ok: bool
    size: int
    root: str
    problems: tuple[str, ...] = ()
    first_bad: int | None = None  # sequence number of the first bad entry
    # key id -> number of heads it signed (which key signed what, for rotations)
    signers: dict = field(default_factory=dict)
    # which log key signed which heads, in log order: one row per key in force
    # ({"key_id", "first_head_size", "last_head_size", "heads"})
    key_periods: tuple = ()

    def to_dict(self) -> dict:
        return {"ok": self.ok, "size": self.size, "root": self.root, "first_bad": self.first_bad,
                "problems": list(self.problems), "signers": dict(self.signers),
                "key_periods": [dict(p) for p in self.key_periods]}


def _head_signed(public_key, head: TreeHead) -> bool:
    """Is this tree head signed by the log key it names? (stored heads and heads in proofs
    alike; ``public_key``: the log key or a ring of it and the keys it replaced)"""
    key = as_key_ring(public_key).get(head.key_id)
    if key is None:
        return False
    try:
        return verify_ed25519(key, bytes.fromhex(head.signature or ""), head.signed_bytes())
    except ValueError:
        return False


def _log_key_rotation(event: dict) -> str | None:
    """The new log key's id, when ``event`` is a log key rotation."""
    data = event.get("data") if event.get("kind") == "keys" else None
    rotated = data.get("rotated") if isinstance(data, dict) else None
    if isinstance(rotated, dict) and rotated.get("key") == "log":
        return str(rotated.get("new_id"))
    return None


def _digest(data: dict) -> bytes:
    return hashlib.sha256(canonical(data)).digest()


def verify_log(log: AuditLog, public_key, known_head: TreeHead | None = None,
               progress: Callable[[int], None] | None = None) -> AuditResult:
    """Recompute the log from its entries and check it against every signed tree head (root,
    signature, and for version 2 heads the revocation index they sign), then check every data
    row against its latest logged state, re-derived at the event version it was logged with.
    ``public_key``: the log key, or a ring of it and the keys it replaced. Every head is
    signed by the key in force: the first head's, until a logged rotation names the next
    (the head covering the rotation is still the old key's); ``signers`` counts the heads per
    key id.
    Streams over one snapshot: memory grows with the number of heads and rows (a digest each),
    not with the entries' size. ``progress`` is called with the number of entries checked."""
    frontier = merkle.Frontier()
    # (table, id) -> (event version, digest of the latest logged state of that row)
    latest: dict[tuple[str, str], tuple[int, bytes]] = {}
    kept_root = None
    revoked: list[str] = []
    revoked_set: set[str] = set()
    chain = _EMPTY_CHAIN
    signers: dict[str, int] = {}
    ring = as_key_ring(public_key)
    in_force: str | None = None  # the key id that must sign the next head
    next_key: str | None = None  # named by a rotation entry the next head covers

    periods: list[dict] = []

    def bad(seq: int | None, problem: str) -> AuditResult:
        return AuditResult(False, frontier.size, frontier.root().hex(), (problem,), seq,
                           signers, tuple(periods))

    with log.reader() as r:
        heads = r.heads()
        last_covered = 0  # entries up to here are covered by a verified head
        for expected, entry in enumerate(r.entries()):
            if entry.seq != expected:
                return bad(expected, f"entry {expected} is missing (deleted) or out of place")
            body = entry.body.encode()
            try:
                event = json.loads(body)
            except ValueError:
                return bad(expected, f"entry {expected} is not valid JSON (edited)")
            if not isinstance(event, dict) or event.get("seq") != expected:
                seen = event.get("seq") if isinstance(event, dict) else None
                return bad(expected, f"entry {expected} carries sequence {seen} "
                                     "(entries reordered)")
            h = merkle.leaf_hash(body)
            if h.hex() != entry.leaf_hash:
                return bad(expected, f"entry {expected} was edited: its hash does not match")
            frontier.append(h)
            next_key = _log_key_rotation(event) or next_key
            data = event.get("data") or {}
            if event.get("kind") == "consent-revoked" and isinstance(data, dict) \
                    and data.get("id") not in revoked_set:
                revoked.append(data.get("id"))
                revoked_set.add(data.get("id"))
                chain = extend_chain(chain, str(data.get("id")))
            head = heads.get(frontier.size)
            if head is not None:
                first = last_covered if frontier.size - last_covered > 1 else expected
                where = (f"entry {expected}" if first == expected
                         else f"entries {first}-{expected}")
                if head.root != frontier.root().hex():
                    return bad(first, f"the signed head for size {frontier.size} does not match "
                                      f"the recomputed tree ({where} edited, inserted, removed "
                                      "or reordered)")
                key_id = head.key_id or ring.current_id
                if in_force is not None and key_id != in_force:
                    return bad(first, f"the tree head for size {frontier.size} is signed by "
                                      f"log key {key_id}, not by {in_force}, the key in force "
                                      f"there ({where}: a rotation forged or removed)")
                if not _head_signed(ring, head):
                    return bad(first, f"the tree head for size {frontier.size} is not signed by "
                                      f"the log key ({where} re-hashed or forged without the "
                                      "key)")
                in_force, next_key = (next_key or key_id), None
                if head.version >= 2 and head.revocations != f"{len(revoked)}:{chain}":
                    return bad(first, f"the tree head for size {frontier.size} signs another "
                                      f"set of revoked consents than the log holds ({where})")
                signers[head.key_id] = signers.get(head.key_id, 0) + 1
                if not periods or periods[-1]["key_id"] != key_id:
                    periods.append({"key_id": key_id, "first_head_size": head.size,
                                    "last_head_size": head.size, "heads": 0})
                periods[-1]["last_head_size"] = head.size
                periods[-1]["heads"] += 1
                last_covered = frontier.size
            if known_head is not None and frontier.size == known_head.size:
                kept_root = frontier.root().hex()
            table = events.TABLE_OF_KIND.get(event.get("kind"))
            if table and isinstance(data, dict) and "id" in data:
                latest[(table, data["id"])] = (events.event_version(data), _digest(data))
            if progress is not None and frontier.size % 10000 == 0:
                progress(frontier.size)
        if last_covered != frontier.size:
            return bad(last_covered, f"no signed tree head covers entry {last_covered} and "
                                     "after (inserted)")
        if any(size > frontier.size for size in heads):
            return bad(frontier.size, f"signed heads exist beyond the log's {frontier.size} "
                                      "entries (entries deleted from the end)")
        if in_force is not None and in_force != ring.current_id:
            return bad(None, f"the log's latest heads leave log key {in_force} in force, not "
                             f"the current key {ring.current_id} (a rotation was removed, or "
                             "the log was re-signed with a retired key)")
        if known_head is not None:
            if known_head.size > frontier.size:
                return bad(frontier.size, f"the log has {frontier.size} entries but a kept head "
                                          f"shows {known_head.size}: the log was truncated")
            if known_head.size == 0:
                kept_root = merkle.EMPTY_ROOT.hex()
            if kept_root != known_head.root:
                return bad(None, f"the log's first {known_head.size} entries do not match the "
                                 "kept head (history rewritten)")
        index = r.revoked_consents()
        if heads and max(heads.values(), key=lambda h: h.size).version >= 2 \
                and index != revoked:
            return bad(None, "the revoked-consent index differs from the log's revocations")
        # Every data row must be exactly its latest logged state; every logged row must exist.
        for table, row_id, row in r.rows():
            logged = latest.pop((table, row_id), None)
            if logged is None:
                return bad(None, f"{table} row {row_id} is not in the log (inserted directly)")
            version, digest = logged
            if version not in events.KNOWN_VERSIONS:
                return bad(None, f"{table} row {row_id} was logged in event format {version}, "
                                 "which this emo-safe does not know (upgrade it)")
            if digest != _digest(events.row_event(table, row, version)):
                return bad(None, f"{table} row {row_id} differs from its logged state (edited)")
    for (table, row_id) in latest:
        return bad(None, f"{table} row {row_id} is logged but missing (deleted)")
    return AuditResult(True, frontier.size, frontier.root().hex(), signers=signers,
                       key_periods=tuple(periods))


def latest_head(log: AuditLog) -> TreeHead | None:
    with log.reader() as r:
        return r.latest_head()


def _proof(kind, m: int, size: int, subtree_root) -> list[bytes]:
    try:
        return kind(m, size, subtree_root)
    except LookupError as exc:
        raise IntegrityError(f"cannot build the proof: {exc}; run `emo-safe audit verify`") \
            from None


def prove(log: AuditLog, generation_id: str) -> InclusionProof | None:
    """An inclusion proof of the generation's log entry against the latest signed head."""
    with log.reader() as r:
        found = r.find_entries("generation", generation_id)
        head = r.latest_head()
        if not found or head is None:
            return None
        leaf = found[0]
        path = _proof(merkle.inclusion_path, leaf.seq, head.size, r.subtree_root)
    return InclusionProof(leaf.seq, leaf.body, head, tuple(h.hex() for h in path))


def prove_consistency(log: AuditLog, old_head: TreeHead,
                      new_size: int | None = None) -> ConsistencyProof:
    """A consistency proof that the log at an older signed head (one an auditor kept) is a
    prefix of the log at a newer one (default: the latest): the log only grew."""
    with log.reader() as r:
        new = r.latest_head() if new_size is None else r.head_at(new_size)
        if new is None:
            raise InputError("the log has no signed tree head" if new_size is None
                             else f"the log has no signed tree head of size {new_size}")
        if not 0 < old_head.size <= new.size:
            raise InputError(f"the kept head's size {old_head.size} is not between 1 and the "
                             f"newer head's {new.size}")
        path = _proof(merkle.consistency_path, old_head.size, new.size, r.subtree_root)
    return ConsistencyProof(old_head, new, tuple(h.hex() for h in path))


def _check_head(head: TreeHead, public_key, which: str) -> str | None:
    if head.key_id and as_key_ring(public_key).get(head.key_id) is None:
        return f"the {which} tree head was signed by another key"
    if not _head_signed(public_key, head):
        return f"the {which} tree head's signature does not verify"
    return None


def check_proof(proof: InclusionProof | ConsistencyProof | dict,
                public_key) -> tuple[bool, str]:
    """Offline, with only the log's public key: an inclusion proof shows the entry is in the
    signed log; a consistency proof shows the older signed log is a prefix of the newer."""
    if isinstance(proof, dict):
        try:
            proof = proof_from_json(proof)
        except InputError as exc:
            return False, f"the proof is malformed: {exc.message}"
    if isinstance(proof, ConsistencyProof):
        old, new = proof.old_head, proof.new_head
        for head, which in ((old, "older"), (new, "newer")):
            problem = _check_head(head, public_key, which)
            if problem:
                return False, problem
        if not merkle.verify_consistency(old.size, new.size, bytes.fromhex(old.root),
                                         bytes.fromhex(new.root),
                                         [bytes.fromhex(h) for h in proof.proof]):
            return False, (f"the log of size {old.size} is not a prefix of the log of size "
                           f"{new.size} (history rewritten)")
        return True, (f"the signed log of size {old.size} is a prefix of the signed log of "
                      f"size {new.size}")
    head = proof.tree_head
    problem = _check_head(head, public_key, "signed")
    if problem:
        return False, problem
    leaf = merkle.leaf_hash(proof.entry.encode())
    path = [bytes.fromhex(h) for h in proof.audit_path]
    if not merkle.verify_inclusion(leaf, proof.leaf_index, head.size, path,
                                   bytes.fromhex(head.root)):
        return False, "the audit path does not lead from the entry to the signed root"
    return True, f"entry {proof.leaf_index} is in the signed log of size {head.size}"


def _entries_between(r, since: str | None, until: str | None):
    """(entry, parsed event) in log order, streamed, with since <= time < until (ISO, UTC;
    either bound optional)."""
    for entry in r.entries():
        event = json.loads(entry.body)
        t = event.get("time", "")
        if (since and t < since) or (until and t >= until):
            continue
        yield entry, event


def export_entries(log: AuditLog, since: str | None = None,
                   until: str | None = None) -> dict:
    """Log entries (optionally by time: ISO dates or datetimes, UTC) with the latest signed
    head. Each entry keeps its exact canonical body, so an auditor can re-hash a full export
    and check it against the signed root offline."""
    with log.reader() as r:
        entries = [{"seq": e.seq, "kind": e.kind, "time": event.get("time", ""),
                    "leaf_hash": e.leaf_hash, "body": e.body}
                   for e, event in _entries_between(r, since, until)]
        head = r.latest_head()
    return {"format": "emo-safe audit export v1", "tree_head": head.to_json() if head else None,
            "complete": not since and not until, "entries": entries}


def export_csv(export: dict) -> str:
    """An export as CSV: one row per entry (sequence, kind, time, row id, allowed, reason
    codes, leaf hash), for spreadsheets."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["seq", "kind", "time", "id", "allowed", "reasons", "leaf_hash"])
    for e in export["entries"]:
        d = json.loads(e["body"])["data"]
        reasons = ";".join(r.get("code", "") for r in d.get("reasons", [])) \
            if isinstance(d.get("reasons"), list) else ""
        w.writerow([e["seq"], e["kind"], e["time"], d.get("id", ""), d.get("allowed", ""),
                    reasons, e["leaf_hash"]])
    return buf.getvalue()


def export_root(export: dict) -> str:
    """The Merkle root over a complete export's entries, recomputed from their bodies."""
    return merkle.root([merkle.leaf_hash(e["body"].encode()) for e in export["entries"]]).hex()


@dataclass
class AuditSummary:
    """What an audit report shows, computed from the log entries themselves (the record the
    signed heads cover), never from the mutable data tables."""

    integrity: AuditResult
    head: TreeHead | None
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
    # the compliance checklist (ledger/compliance.py), for one framework or all
    checklist: list = field(default_factory=list)
    framework: str | None = None


def summarize(log: AuditLog, public_key, since: str | None = None,
              until: str | None = None, progress=None,
              framework: str | None = None) -> AuditSummary:
    """Verify the log, then count what it holds (optionally by time: ISO, UTC) and answer the
    compliance checklist (``framework``: eu, cn or c2pa; None for all)."""
    from emo_safe.ledger.compliance import checklist

    integrity = verify_log(log, public_key, progress=progress)
    summary = AuditSummary(integrity, latest_head(log), since, until, framework=framework)
    with log.reader() as r:
        entries = list(_entries_between(r, since, until))
    summary.checklist = checklist(entries, integrity, framework)
    logged = [(event.get("time", ""), event.get("kind"), event.get("data") or {})
              for _, event in entries]
    if logged:
        span = (_parse(logged[-1][0]) - _parse(logged[0][0])).days
        summary.period = "day" if span <= 62 else "week" if span <= 7 * 60 else "month"
    for t, kind, data in logged:
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
