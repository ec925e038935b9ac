"""Was this mirrored, turned, cropped or re-padded clip made by our deployment? Reads the
frames' watermark (every scheme the profile lists: v2 undoes mirrors, rotations, zooms, pads
and stretches; v1 reads older outputs), names the generation and says what edit was undone.
The trust & safety analyst's task for a repost that lost its Content Credential.

    python examples/trace_edited_repost.py repost.mp4 --workspace ws

Exit 0: made by this deployment; 1: no evidence; 2: unreadable; 3: inconsistent (e.g. the
mark names a generation the frames do not look like: a copied mark, or a crop or rotation
the fingerprint check cannot see through -- the geometry printed says which).
"""

import argparse
import sys
from pathlib import Path

from emo_safe import Detector, EmoSafeError, Workspace
from emo_safe.watermark import describe_geometry


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--workspace", required=True)
    args = ap.parse_args()
    try:
        verdict = Detector(Workspace.locate(args.workspace)).verify(args.file)
    except EmoSafeError as exc:  # unreadable, over a limit: one line
        print(f"{args.file}: {exc}")
        return exc.exit_code
    mark = verdict.watermark
    if mark is None or not mark.payload:
        print(f"{args.file}: no watermark of this deployment (verdict {verdict.outcome})")
        return verdict.exit_code
    print(f"{args.file}: {mark.scheme} payload {mark.payload} (p = {mark.p_value:.1e}); "
          f"edit undone: {describe_geometry(mark.geometry)}")
    print(f"verdict: {verdict.outcome}")
    for reason in verdict.reasons:
        print(f"  - {reason}")
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
