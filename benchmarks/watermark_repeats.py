"""How often one attack's cell holds: the attack run again and again on one v2-marked clip
(each run a new encode: the re-upload chain's resized H.264 rungs do not encode bit-identically
from run to run), each copy read by v2 with its list decoder (8 paths, the default) and
without it (the best Viterbi path alone).

Run:  python benchmarks/watermark_repeats.py [--clip scene-720p] [--attack reupload-chain]
          [--runs 20] [--out benchmarks/out/watermark-repeats.md]

Clips and attacks are benchmarks/watermark.py's. Each row: the run's p-value, sync z and
whether the payload came out exact, per decoder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import watermark as suite
from _report import write_report

from emo_safe.watermark import _codec_v2, embed_frames, get_scheme


def read(frames, list_size: int):
    saved, _codec_v2.LIST_SIZE = _codec_v2.LIST_SIZE, list_size
    try:
        acc = get_scheme(suite.V2, suite.KEY).accumulator(suite.FPS)
        for frame in frames:
            acc.add(frame)
        return acc.finish()
    finally:
        _codec_v2.LIST_SIZE = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clip", default="scene-720p", choices=list(suite.CLIPS))
    ap.add_argument("--attack", default="reupload-chain", choices=list(suite.ATTACKS))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--out", default="benchmarks/out/watermark-repeats.md")
    args = ap.parse_args()
    marked = list(embed_frames(suite.CLIPS[args.clip](250), suite.KEY, suite.PAYLOAD,
                               scheme=suite.V2))
    sizes = (_codec_v2.LIST_SIZE, 1)
    out = [f"## v2 on {args.clip}, {args.attack}, {args.runs} runs", "",
           "| run | " + " | ".join(f"list of {n}: p / z / exact" for n in sizes) + " |",
           "|---|" + "---|" * len(sizes)]
    exact = dict.fromkeys(sizes, 0)
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            attacked = suite.ATTACKS[args.attack](marked, tmp)
            cells = []
            for n in sizes:
                ev = read(attacked, n)
                ok = ev.payload == suite.PAYLOAD.hex() and ev.detected
                exact[n] += ok
                cells.append(f"{ev.p_value:.0e} / {ev.z:.1f} / {'yes' if ok else 'NO'}")
            out.append(f"| {run} | " + " | ".join(cells) + " |")
            print(out[-1], flush=True)
    out.append("| **exact** | " + " | ".join(f"**{exact[n]}/{args.runs}**" for n in sizes)
               + " |")
    write_report(out, args.out)


if __name__ == "__main__":
    main()
