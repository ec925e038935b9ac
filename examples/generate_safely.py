"""Generate one video safely: enrol the person's consent, then gate, generate, watermark, sign
and record. The release engineer's task.

    python examples/generate_safely.py --workspace ws --name "Ada" --photo ada.jpg \
        --audio voice.wav -o ada.mp4
"""

import argparse
import sys

from emo_safe import ConsentRegistry, EmoSafeError, GenerationRefused, SafeGenerator, Workspace


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--name", required=True, help="the person (or a pseudonym)")
    ap.add_argument("--photo", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--generator", default="puppet")
    args = ap.parse_args()

    ws = Workspace.locate(args.workspace)
    if not ws.is_initialized():
        ws.init()  # development CA, keys, database
    try:
        # The signed consent record of the person in the photo (their release form's hash
        # would go in `evidence=`).
        consent = ConsentRegistry.for_workspace(ws).add(args.name, args.photo,
                                                        scope=("talking",))
        result = SafeGenerator(ws, generator=args.generator).generate(
            args.photo, args.audio, args.output, consent_ids=[consent.id])
    except GenerationRefused as refused:
        for finding in refused.decision.findings:
            print(f"refused [{finding.code}]: {finding.message}", file=sys.stderr)
        return 1
    except EmoSafeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(f"{result.output}: generation {result.generation_id}, manifest "
          f"{result.manifest_label}, {result.frames} frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
