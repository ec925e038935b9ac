"""Typed documents of the audit log: signed tree heads, inclusion and consistency proofs.

Each has ``to_json()`` (the dict written by ``audit head``/``prove``/``consistency``) and
``from_json()``, which validates every field and raises :class:`~emo_safe.errors.InputError`
with one line on anything else, so a hand-edited, truncated or hostile file never reaches the
Merkle code as a half-formed dict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from emo_safe.errors import InputError, read_file_text

INCLUSION_FORMAT = "emo-safe inclusion proof v1"
CONSISTENCY_FORMAT = "emo-safe consistency proof v1"
_HEX64 = frozenset("0123456789abcdef")
# A proof holds at most ~64 hashes; anything nested deeper than this is not one of ours (and
# would otherwise end in RecursionError inside json).
_MAX_DEPTH = 8


def _hex(value, what: str, length: int | None = 64) -> str:
    if not isinstance(value, str) or (length is not None and len(value) != length) \
            or not set(value) <= _HEX64:
        raise InputError(f"{what} must be {length or 'some'} lower-case hex digits")
    return value


def _int(value, what: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InputError(f"{what} must be an integer >= {minimum}")
    return value


def _depth(obj, limit: int = _MAX_DEPTH) -> int:
    stack = [(obj, 1)]
    deepest = 0
    while stack:
        item, d = stack.pop()
        deepest = max(deepest, d)
        if d > limit:
            return d
        if isinstance(item, dict):
            stack.extend((v, d + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, d + 1) for v in item)
    return deepest


def load_json_document(path: Path, what: str) -> dict:
    """A small JSON object from a file: regular file, size-capped, not absurdly nested."""
    text = read_file_text(Path(path), what, InputError)
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError(f"{path} is not a JSON {what}") from None
    if not isinstance(obj, dict) or _depth(obj) > _MAX_DEPTH:
        raise InputError(f"{path} is not a JSON {what}")
    return obj


@dataclass(frozen=True)
class TreeHead:
    """A signed statement "the log had ``size`` entries with Merkle root ``root``".

    Version 1 heads sign size, root and time. Version 2 heads also sign ``revocations``
    (``"COUNT:CHAIN"``, the hash chain over every revoked consent id, see ledger/log.py), so
    the gate can tell whether a consent record's revocation was removed behind its back."""

    size: int
    root: str
    timestamp: str
    key_id: str = ""
    signature: str = ""
    version: int = 1
    revocations: str | None = None

    def signed_bytes(self) -> bytes:
        return tree_head_bytes(self.size, self.root, self.timestamp, self.version,
                               self.revocations)

    def to_json(self) -> dict:
        out = {"size": self.size, "root": self.root, "timestamp": self.timestamp,
               "key_id": self.key_id, "signature": self.signature}
        if self.version != 1:
            out["version"] = self.version
            out["revocations"] = self.revocations
        return out

    @classmethod
    def load(cls, path: Path, *, signed: bool = True) -> TreeHead:
        """A head saved with ``audit head``: one clear input error for anything else."""
        try:
            return cls.from_json(load_json_document(path, "tree head"), signed=signed)
        except InputError as exc:
            raise InputError(f"{path} is not a signed tree head from `emo-safe audit head` "
                             f"({exc.message})") from None

    @classmethod
    def from_json(cls, obj, *, signed: bool = True) -> TreeHead:
        """``signed=False``: only size and root are required (``audit verify --head``)."""
        if not isinstance(obj, dict):
            raise InputError("not a tree head from `emo-safe audit head`")
        try:
            size = _int(obj["size"], "the head's size")
            root = _hex(obj["root"], "the head's root")
            if signed:
                timestamp, signature = obj["timestamp"], obj["signature"]
                if not isinstance(timestamp, str):
                    raise InputError("the head's timestamp must be a string")
                _hex(signature, "the head's signature", None)
            else:
                timestamp, signature = str(obj.get("timestamp", "")), str(obj.get("signature", ""))
            version = _int(obj.get("version", 1), "the head's version", 1)
            revocations = obj.get("revocations")
            if revocations is not None and not isinstance(revocations, str):
                raise InputError("the head's revocations must be a string")
            key_id = obj.get("key_id", "")
            if not isinstance(key_id, str):
                raise InputError("the head's key_id must be a string")
        except KeyError as exc:
            raise InputError(f"a tree head needs {exc.args[0]!r}") from None
        return cls(size, root, timestamp, key_id, signature, version, revocations)


def tree_head_bytes(size: int, root_hex: str, timestamp: str, version: int = 1,
                    revocations: str | None = None) -> bytes:
    """What the log key signs. Frozen per version: a new field is a new version."""
    if version == 1:
        return f"emo-safe tree head v1\n{size}\n{root_hex}\n{timestamp}\n".encode()
    if version == 2:
        return (f"emo-safe tree head v2\n{size}\n{root_hex}\n{timestamp}\n"
                f"{revocations or ''}\n").encode()
    raise ValueError(f"unknown tree head version {version}")


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    entry: str  # the entry's exact canonical JSON body
    tree_head: TreeHead
    audit_path: tuple[str, ...]
    format: str = INCLUSION_FORMAT

    def to_json(self) -> dict:
        return {"format": self.format, "leaf_index": self.leaf_index, "entry": self.entry,
                "tree_head": self.tree_head.to_json(), "audit_path": list(self.audit_path)}

    @classmethod
    def from_json(cls, obj: dict) -> InclusionProof:
        try:
            if obj.get("format", INCLUSION_FORMAT) != INCLUSION_FORMAT:
                raise InputError("not an inclusion proof")
            entry = obj["entry"]
            if not isinstance(entry, str):
                raise InputError("the proof's entry must be a string")
            path = obj["audit_path"]
            if not isinstance(path, list) or len(path) > 64:
                raise InputError("the proof's audit path must be a list of hashes")
            return cls(_int(obj["leaf_index"], "the leaf index"), entry,
                       TreeHead.from_json(obj["tree_head"]),
                       tuple(_hex(h, "an audit path hash") for h in path))
        except KeyError as exc:
            raise InputError(f"an inclusion proof needs {exc.args[0]!r}") from None


@dataclass(frozen=True)
class ConsistencyProof:
    old_head: TreeHead
    new_head: TreeHead
    proof: tuple[str, ...]
    format: str = CONSISTENCY_FORMAT

    def to_json(self) -> dict:
        return {"format": self.format, "old_head": self.old_head.to_json(),
                "new_head": self.new_head.to_json(), "proof": list(self.proof)}

    @classmethod
    def from_json(cls, obj: dict) -> ConsistencyProof:
        try:
            path = obj["proof"]
            if not isinstance(path, list) or len(path) > 128:
                raise InputError("the consistency proof must be a list of hashes")
            return cls(TreeHead.from_json(obj["old_head"]), TreeHead.from_json(obj["new_head"]),
                       tuple(_hex(h, "a consistency proof hash") for h in path))
        except KeyError as exc:
            raise InputError(f"a consistency proof needs {exc.args[0]!r}") from None


def proof_from_json(obj: dict) -> InclusionProof | ConsistencyProof:
    """Either kind of proof, by its ``format``."""
    if obj.get("format") == CONSISTENCY_FORMAT:
        return ConsistencyProof.from_json(obj)
    return InclusionProof.from_json(obj)


@dataclass(frozen=True)
class LogEntry:
    """One leaf of the log as stored: its sequence number, canonical body and leaf hash."""

    seq: int
    kind: str
    body: str
    leaf_hash: str
