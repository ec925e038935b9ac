"""RFC 6962 Merkle hashing: roots, the O(log n) frontier, inclusion and consistency proofs
that verify, stay logarithmic, and fail when anything is altered."""

import hashlib
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from emo_safe.ledger import merkle


def leaves(n):
    return [merkle.leaf_hash(f"event {i}".encode()) for i in range(n)]


def test_known_answers_from_rfc_6962_structure():
    a, b, c = leaves(3)
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.root([a]) == a
    assert merkle.root([a, b, c]) == merkle.node_hash(merkle.node_hash(a, b), c)
    assert merkle.leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300))
def test_frontier_root_equals_the_full_tree_root(n):
    ls = leaves(n)
    f = merkle.Frontier()
    for leaf in ls:
        f.append(leaf)
    assert f.root() == merkle.root(ls)
    assert len(f.nodes) == bin(n).count("1")  # O(log n) state
    g = merkle.Frontier.from_hex(f.size, f.to_hex())
    assert g.root() == f.root()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300))
def test_the_frontier_reports_every_perfect_subtree_it_completes(n):
    """What the store keeps to build proofs from O(log n) rows: (level, index) -> root of
    leaves [index * 2**level, (index + 1) * 2**level), every one of them, each once."""
    ls = leaves(n)
    f = merkle.Frontier()
    made = [node for leaf in ls for node in f.append(leaf)]
    expected = {(lv, i) for lv in range(1, n.bit_length()) for i in range(n >> lv)}
    assert {(lv, i) for lv, i, _ in made} == expected and len(made) == len(expected)
    for lv, i, node in made:
        assert node == merkle.root(ls[i << lv:(i + 1) << lv])


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 200), st.data())
def test_inclusion_proofs_verify_and_fail_when_altered(n, data):
    ls = leaves(n)
    r = merkle.root(ls)
    i = data.draw(st.integers(0, n - 1))
    proof = merkle.inclusion_proof(i, ls)
    assert len(proof) <= math.ceil(math.log2(n)) if n > 1 else proof == []
    assert merkle.verify_inclusion(ls[i], i, n, proof, r)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), i, n, proof, r)
    if n > 1:
        assert not merkle.verify_inclusion(ls[i], (i + 1) % n, n, proof, r)
        bad = list(proof)
        bad[0] = bytes(32)
        assert not merkle.verify_inclusion(ls[i], i, n, bad, r)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 200), st.data())
def test_consistency_proofs_verify_and_fail_when_history_is_rewritten(n, data):
    ls = leaves(n)
    m = data.draw(st.integers(1, n))
    proof = merkle.consistency_proof(m, ls)
    r_m, r_n = merkle.root(ls[:m]), merkle.root(ls)
    assert merkle.verify_consistency(m, n, r_m, r_n, proof)
    if m < n:
        rewritten = list(ls)
        rewritten[data.draw(st.integers(0, m - 1))] = merkle.leaf_hash(b"edited")
        assert not merkle.verify_consistency(m, n, merkle.root(rewritten[:m]), r_n, proof)
        assert not merkle.verify_consistency(m, n, r_m, merkle.root(rewritten), proof)
        assert len(proof) <= 2 * math.ceil(math.log2(n)) + 1
