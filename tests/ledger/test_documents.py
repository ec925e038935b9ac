"""Proof and tree-head files come from outside: a hostile one is one clear input error."""

from __future__ import annotations

import pytest
from servers import run_cli

from emo_safe.errors import InputError
from emo_safe.ledger.types import load_json_document


@pytest.mark.parametrize("text", [
    "[" * 200_000 + "]" * 200_000,                        # past the json module's recursion
    '{"a": ' * 20 + "1" + "}" * 20,                        # deeper than any proof of ours
    "[1, 2]",                                             # JSON, but not an object
    "not json",
])
def test_a_nested_or_malformed_proof_is_an_input_error(tmp_path, text):
    path = tmp_path / "proof.json"
    path.write_text(text)
    with pytest.raises(InputError, match="is not a JSON proof"):
        load_json_document(path, "proof")


def test_check_proof_on_a_deeply_nested_file_exits_2_without_a_traceback(workspace, tmp_path):
    path = tmp_path / "proof.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    r = run_cli(workspace.root, "audit", "check-proof", str(path))
    assert r.returncode == 2, r.stderr
    assert "is not a JSON proof" in r.stderr and "Traceback" not in r.stderr
