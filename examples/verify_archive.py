"""Verify an archive on a Dask cluster, resumably: one JSON line per file in RESULTS, and a
run that was stopped is finished by running it again. The platform's backfill task.

    pip install 'emo-safe[cluster]'
    python examples/verify_archive.py s3://archive/2026/ --workspace ws \\
        --cluster tcp://scheduler:8786 --results rows.jsonl

Workers need the workspace at the same path and the key passphrase in their environment
(docs/scale.md); the inputs (local folders, file://, s3://, gs://) are read by the workers.
"""

import argparse
import sys
from collections import Counter
from contextlib import closing
from pathlib import Path

from emo_safe import EmoSafeError, Workspace
from emo_safe.batch import ResultsFile, expand_inputs, verify_many, worst_exit_code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="+", help="folders, files or fsspec URLs")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--cluster", default="local:2", help="local:N or tcp://HOST:PORT")
    ap.add_argument("--results", type=Path, required=True, help="JSON lines, appended")
    ap.add_argument("--profile", help="a detector profile (default: the workspace's)")
    args = ap.parse_args()

    try:
        workspace = Workspace.locate(args.workspace)
        items = expand_inputs(args.inputs)
        results = ResultsFile(args.results).open()  # locked while this run appends
    except EmoSafeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        todo, codes = results.pending(items)  # what has no row yet; the earlier rows' codes
        earlier = len(codes)
        outcomes: Counter = Counter()
        with closing(verify_many(workspace.root, todo, args.profile,
                                 cluster=args.cluster)) as rows:
            for row in rows:
                results.append(row)  # flushed and synced: a kill loses nothing verified
                codes.append(row.exit_code)
                outcomes[row.data["outcome"]] += 1
    except EmoSafeError as exc:  # the cluster or the profile, before any file
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        results.close()
    print(f"{len(todo)} verified, {earlier} already in {args.results}: "
          + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())))
    return worst_exit_code(codes)


if __name__ == "__main__":
    sys.exit(main())
