"""Where a strongly compressed pan keeps v2's mark: per-second sync z with and without motion
compensation (a study behind docs/watermark.md's "what was tried", not a detector).

Run:  python benchmarks/watermark_motion.py [--attack h265crf35] [--clip scene-720p]
          [--zoom 1.0] [--reference previous|first] [--out benchmarks/out/watermark-motion.md]

The clip is marked with v2, put through the attack (benchmarks/watermark.py's suite), and each
1-second segment's clipped residuals are summed three ways: as they are (what v2 reads); each
frame shifted back by the motion since the segment's first frame as estimated (phase
correlation of normalised frames, chained from each frame to the next or, with
``--reference first``, against the segment's first frame; Lanczos shifts); and shifted back by
the clip's true pan (known for the benchmark's pans). Each sum is read at ``--zoom`` (a crop
not resized back, e.g. 0.9 for the re-upload chain) and the z-score of the true sync pattern
at its best cyclic shift is printed, beside the best wrong pattern's (the null's maximum over
15 patterns). The first row is the first frame read alone, which is what v2 reads when nothing
else decodes (docs/watermark.md).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import watermark as suite
from _report import write_report

from emo_safe.watermark import _codec as v1_codec
from emo_safe.watermark import _codec_v2 as v2_codec

PANS = {  # the benchmark clips' crop offsets (x, y) at frame t, in source pixels
    "scene-720p": lambda t: (int(210 + 200 * np.sin(t / 60)), int(140 + 120 * np.cos(t / 80))),
    "scene-coffee": lambda t: (int(190 + 180 * np.sin(t / 50)), int(80 + 60 * np.cos(t / 70))),
}


def _z(total, warp, sync_conj, true_j):
    tile = v2_codec._whiten(v1_codec.fold(v2_codec.canonical(v2_codec._highpass(total), warp)))
    surf = v2_codec._sync_surfaces(tile, sync_conj)
    z = surf.max(axis=1) / surf.std(axis=1)
    return float(z[true_j]), float(np.delete(z, true_j).max())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--attack", default="h265crf35")
    ap.add_argument("--clip", default="scene-720p", choices=sorted(PANS))
    ap.add_argument("--zoom", type=float, default=1.0)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--reference", default="previous", choices=("previous", "first"),
                    help="estimate each frame's motion from the frame before it (chained) or "
                         "from the segment's first frame")
    ap.add_argument("--out", default="benchmarks/out/watermark-motion.md")
    args = ap.parse_args()
    n = args.seconds * suite.FPS
    original = list(suite.CLIPS[args.clip](n))
    marked = suite.Ours(suite.V2).embed(original)
    with tempfile.TemporaryDirectory() as tmp:
        attacked = suite.ATTACKS[args.attack](marked, tmp)
    km = v2_codec.key_material(suite.KEY)
    sync_conj = np.conj(np.fft.fft2(km.sync))
    true_j = v2_codec.sync_index(suite.KEY, suite.PAYLOAD)
    warp = v2_codec.Warp(False, 0.0, -math.log(args.zoom), 0.0)
    ys = [v1_codec.normalise(f) for f in attacked]
    h, w = ys[0].shape
    # normalised pixels per source pixel of the pan: a crop keeping `zoom` of each side is
    # magnified by 1 / zoom once normalised (later resizes change nothing there)
    to_norm = v1_codec.NORM_H / (min(original[0].shape[:2]) * args.zoom)
    window = cv2.createHanningWindow((w, h), cv2.CV_64F)
    pan = PANS[args.clip]
    out = [f"## v2 on {args.clip} through {args.attack}: sync z per second (true pattern / "
           "best wrong one)\n",
           "| second | as read | motion undone (estimated) | motion undone (true pan) |",
           "|---|---|---|---|"]
    # the first frame alone, as v2 reads it when nothing else decodes (docs/watermark.md)
    zt, zn = _z(v2_codec.clipped_residual(ys[0].copy()).astype(np.float64), warp, sync_conj,
                true_j)
    out.append(f"| first frame alone | {zt:.1f} / {zn:.1f} | - | - |")
    print(out[-1], flush=True)
    for s0 in range(0, len(ys), suite.FPS):
        sums = {k: np.zeros((h, w)) for k in ("plain", "estimated", "true")}
        moved = np.zeros(2)
        for t in range(s0, min(s0 + suite.FPS, len(ys))):
            if t > s0 and args.reference == "previous":  # chained frame to frame
                (dx, dy), _ = cv2.phaseCorrelate(ys[t - 1].astype(np.float64),
                                                 ys[t].astype(np.float64), window)
                moved += (dx, dy)
            elif t > s0:  # against the segment's first frame directly
                moved[:], _ = cv2.phaseCorrelate(ys[s0].astype(np.float64),
                                                 ys[t].astype(np.float64), window)
            r = v2_codec.clipped_residual(ys[t].copy())
            sums["plain"] += r
            truth = -np.subtract(pan(t), pan(s0)) * to_norm
            for kind, (mx, my) in (("estimated", moved), ("true", truth)):
                m = np.float64([[1, 0, -mx], [0, 1, -my]])
                sums[kind] += cv2.warpAffine(r, m, (w, h), flags=cv2.INTER_LANCZOS4,
                                             borderMode=cv2.BORDER_CONSTANT)
        cells = []
        for kind in ("plain", "estimated", "true"):
            zt, zn = _z(sums[kind], warp, sync_conj, true_j)
            cells.append(f"{zt:.1f} / {zn:.1f}")
        out.append(f"| {s0 // suite.FPS} | " + " | ".join(cells) + " |")
        print(out[-1], flush=True)
    write_report(out, args.out)


if __name__ == "__main__":
    main()
