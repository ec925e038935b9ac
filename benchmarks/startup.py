"""Command start-up time: this checkout against a baseline commit, in one run.

    python benchmarks/startup.py [--baseline 8e6d9f2] [--runs 15]

For each tree (the baseline unpacked with `git archive` into a temporary folder, put first on
PYTHONPATH), runs `python -c "import emo_safe.cli"` and `emo-safe --help` (as the console
script does: `main(["--help"])`) alternately, and reports the median wall time and the ratio.
The default baseline is the last commit before the lazy package root and the split CLI.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import write_report  # noqa: E402

COMMANDS = {
    "python -c 'import emo_safe.cli'": "import emo_safe.cli",
    "emo-safe --help": "import sys; from emo_safe.cli import main; sys.argv = ['emo-safe', "
                       "'--help']; main()",
}


def timed(code: str, tree: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t = time.perf_counter()
    # cwd too: "python -c" puts the working directory first on sys.path.
    subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, check=True,
                   capture_output=True)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="8e6d9f2")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--out", default="benchmarks/out/startup.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        trees = {"baseline": base, "now": ROOT}
        results = {(label, tree): [] for label in COMMANDS for tree in trees}
        for code in COMMANDS.values():
            for tree in trees:  # warm the caches (bytecode, page cache) once each
                timed(code, trees[tree])
        for _ in range(args.runs):
            for label, code in COMMANDS.items():
                for tree in trees:
                    results[(label, tree)].append(timed(code, trees[tree]))
    lines = [f"## Command start-up ({args.runs} runs each, alternating; median wall time)", "",
             f"| command | baseline {args.baseline} s | now s | speed-up |", "|---|---|---|---|"]
    for label in COMMANDS:
        b = statistics.median(results[(label, "baseline")])
        n = statistics.median(results[(label, "now")])
        lines.append(f"| `{label}` | {b:.3f} | {n:.3f} | {b / n:.1f}x |")
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
