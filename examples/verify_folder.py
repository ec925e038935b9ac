"""Check every file in a folder against this deployment: one line per file. The trust &
safety analyst's task.

    python examples/verify_folder.py inbox/ --workspace ws
"""

import argparse
import sys
from pathlib import Path

from emo_safe import Detector, EmoSafeError, Workspace


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--profile", help="a detector profile (default: the workspace's)")
    args = ap.parse_args()

    detector = Detector(Workspace.locate(args.workspace), profile=args.profile)
    worst = 0
    for path in sorted(p for p in args.folder.rglob("*") if p.is_file()):
        try:
            verdict = detector.verify(path)
        except EmoSafeError as exc:  # unreadable, not a video, over a limit: one line
            print(f"{path}\terror\t{exc}")
            worst = max(worst, exc.exit_code)
            continue
        generation = verdict.ledger["id"] if verdict.ledger else "-"
        print(f"{path}\t{verdict.outcome}\t{generation}\t{verdict.reasons[0]}")
        worst = max(worst, verdict.exit_code)
    return worst


if __name__ == "__main__":
    sys.exit(main())
