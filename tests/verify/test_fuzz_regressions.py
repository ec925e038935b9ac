"""Every crashing input benchmarks/fuzz_verify.py ever found, replayed: each must end in a
verdict or one clear per-file error (exit 2/3), never a traceback."""

import json
from pathlib import Path

import pytest

CASES = sorted((Path(__file__).parents[1] / "data" / "fuzz").glob("crash-*.mp4"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_fuzzed_input_is_a_clean_per_file_result(cli, case):
    r = cli("verify", str(case), "--json")
    assert "Traceback" not in r.stdout + r.stderr
    row = json.loads(r.stdout)
    assert r.exit_code in (1, 2, 3)
    if row["outcome"] == "error":
        assert r.exit_code == 2 and "internal error" not in row["error"]


def test_there_are_regression_cases():
    assert len(CASES) >= 1
