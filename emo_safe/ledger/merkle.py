"""Merkle tree hashing and proofs in the manner of RFC 6962 / RFC 9162 (Certificate
Transparency), for the audit log.

- leaf hash: SHA-256(0x00 || leaf bytes); interior node: SHA-256(0x01 || left || right);
- the tree over n leaves splits at the largest power of two smaller than n (MTH);
- inclusion proofs (audit paths) and consistency proofs are lists of sibling hashes, of
  logarithmic length, verified with only the two roots / the leaf and the root;
- :class:`Frontier` keeps the roots of the perfect subtrees on the right edge, so appending a
  leaf and computing the new root cost O(log n) without reading old leaves.

The verification functions implement RFC 9162 section 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes*."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = split_point(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_path(index: int, size: int,
                   subtree_root: Callable[[int, int], bytes]) -> list[bytes]:
    """PATH(index, D[size]) with ``subtree_root(start, end)`` giving MTH(D[start:end]): only
    O(log n) subtree roots are asked for, so a store that keeps the perfect subtrees' roots
    answers without reading every leaf."""
    if not 0 <= index < size:
        raise ValueError("leaf index out of range")

    def path(m: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = split_point(end - start)
        if m < k:
            return [*path(m, start, start + k), subtree_root(start + k, end)]
        return [*path(m - k, start + k, end), subtree_root(start, start + k)]

    return path(index, 0, size)


def consistency_path(m: int, size: int,
                     subtree_root: Callable[[int, int], bytes]) -> list[bytes]:
    """PROOF(m, D[size]) (RFC 9162 2.1.4.1), from subtree roots as in :func:`inclusion_path`."""
    if not 0 < m <= size:
        raise ValueError("consistency proof needs 0 < m <= n")

    def sub(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        if m == end - start:
            return [] if whole else [subtree_root(start, end)]
        k = split_point(end - start)
        if m <= k:
            return [*sub(m, start, start + k, whole), subtree_root(start + k, end)]
        return [*sub(m - k, start + k, end, False), subtree_root(start, start + k)]

    return sub(m, 0, size, True)


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) for leaf ``index`` among leaf hashes ``leaves``."""
    return inclusion_path(index, len(leaves), lambda a, b: root(leaves[a:b]))


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): the tree of size m is a prefix of the tree of size n."""
    return consistency_path(m, len(leaves), lambda a, b: root(leaves[a:b]))


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    """RFC 9162 2.1.3.2, with ``leaf`` the leaf hash."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2."""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    proof = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is a node of the proof
        proof.insert(0, first_root)
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


@dataclass
class Frontier:
    """Roots of the perfect subtrees along the right edge (largest first): O(log n) appends."""

    size: int = 0
    nodes: list[bytes] = field(default_factory=list)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; returns the perfect subtrees it completed as (level, index, root):
        the subtree of 2**level leaves starting at leaf index * 2**level."""
        self.nodes.append(leaf)
        self.size += 1
        # Merge equal-sized subtrees, like carrying in a binary counter.
        made = []
        n, level = self.size, 0
        while n & 1 == 0:
            right = self.nodes.pop()
            left = self.nodes.pop()
            self.nodes.append(node_hash(left, right))
            n >>= 1
            level += 1
            made.append((level, (self.size >> level) - 1, self.nodes[-1]))
        return made

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        r = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            r = node_hash(node, r)
        return r

    def to_hex(self) -> list[str]:
        return [n.hex() for n in self.nodes]

    @classmethod
    def from_hex(cls, size: int, nodes: list[str]) -> Frontier:
        return cls(size, [bytes.fromhex(n) for n in nodes])
