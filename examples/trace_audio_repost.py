"""Was this voice note, song or dub cut from one of our videos? Reads the audio mark of an
audio file (WAV, MP3, M4A, OGG/Opus, FLAC) or of a video's soundtrack and names the
generation, and says whether the frames (if any) agree. The journalist's task.

    python examples/trace_audio_repost.py voice-note.mp3 --workspace ws [--no-time-scale-search]

Exit 0: the audio comes from a generation of this deployment; 1: no evidence; 2: unreadable;
3: the frames and the audio name different generations.
"""

import argparse
import sys
from pathlib import Path

from emo_safe import Detector, EmoSafeError, Workspace
from emo_safe.verify import load_profile


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--no-time-scale-search", action="store_true",
                    help="do not undo speed and tempo changes of 0.90-1.10x (faster on "
                         "audio that carries no mark)")
    args = ap.parse_args()

    workspace = Workspace.locate(args.workspace)
    profile, _ = load_profile(None, workspace)
    if args.no_time_scale_search:
        profile = profile.model_copy(update={"watermark": profile.watermark.model_copy(
            update={"audio_time_scale_search": False})})
    try:
        verdict = Detector(workspace, profile=profile).verify(args.file)
    except EmoSafeError as exc:  # unreadable, no audio, over a limit: one line
        print(f"{args.file}: {exc}")
        return exc.exit_code
    audio = verdict.audio
    if audio is None:
        print(f"{args.file}: no audio track was read")
        return 1
    found = f"payload {audio.payload}" if audio.payload else "no payload"
    print(f"{args.file}: audio mark {'detected' if audio.detected else 'not detected'} "
          f"(p = {audio.p_value:.1e}, {found}, time scale {audio.scale})")
    if verdict.ledger:
        print(f"generation {verdict.ledger['id']} (decision {verdict.ledger['decision_id']})")
    print(f"verdict: {verdict.outcome}")
    for reason in verdict.reasons:
        print(f"  - {reason}")
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
