"""How far the marks' payload code is from the best any code of its size could do.

Both marks (video v1/v2 and the audio mark) send 48 payload bits + CRC-24 through a K=7
rate-1/2 convolutional code: 156 coded bits, each received as a soft value with mean +-mu and
unit spread (what the detectors call the soft bits' mean over their spread). This script
sends random payloads over that channel (Gaussian noise, a fixed seed) and counts the frames
decoded exactly by the soft Viterbi decoder (the best path, its CRC checked) and by the list
Viterbi decoder (8 paths per state; the first path whose CRC checks), beside the normal
approximation of the smallest frame error any code carrying 72 bits in 156 binary uses can
reach (Polyanskiy, Poor and Verdu, "Channel coding rate in the finite blocklength regime",
IEEE Trans. IT 2010: k = nC - sqrt(nV) Q^-1(eps) + log2(n) / 2, for the binary-input AWGN
channel's capacity C and dispersion V, computed by Monte Carlo). The gap between the
decoders and the bound is what a better code could buy; a shortfall of evidence larger than
that gap is for the mark's energy, not its code.

Run:  python benchmarks/payload_code.py [--frames 400] [--out benchmarks/out/payload-code.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import norm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import write_report

from emo_safe.watermark import _ecc

PAYLOAD_BYTES = 6
LIST_SIZE = 8
MUS = (0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4)


def bi_awgn_capacity_dispersion(mu: float, rng: np.random.Generator,
                                samples: int = 2_000_000) -> tuple[float, float]:
    """Capacity (bits per use) and dispersion (bits^2) of binary +-mu in unit Gaussian noise:
    the mean and variance of the information density i = 1 - log2(1 + exp(-2 mu y)), y the
    output given +mu was sent."""
    y = mu + rng.standard_normal(samples)
    density = 1.0 - np.logaddexp(0.0, -2.0 * mu * y) / np.log(2.0)
    return float(density.mean()), float(density.var())


def best_frame_error(capacity: float, dispersion: float, n: int, k: int) -> float:
    """The normal approximation's smallest frame error for k bits in n uses."""
    return float(norm.sf((n * capacity - k + 0.5 * np.log2(n)) / np.sqrt(n * dispersion)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=400, help="payloads sent per mu")
    ap.add_argument("--out", default="benchmarks/out/payload-code.md")
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    k = PAYLOAD_BYTES * 8 + _ecc.CRC_BITS
    n = len(_ecc.encode_payload(bytes(PAYLOAD_BYTES)))
    started = time.perf_counter()
    out = [f"## The payload code ({k} bits in {n} coded bits, K={_ecc.K} rate 1/2) "
           f"against the finite-length bound, {args.frames} frames per row", "",
           "| soft bits' mean / spread (mu) | Viterbi: exact | list of "
           f"{LIST_SIZE}: exact | best code of this size (normal approximation) | "
           "capacity bits/use (needed: " f"{k / n:.3f}) |",
           "|---|---|---|---|---|"]
    for mu in MUS:
        viterbi = listed = 0
        for _ in range(args.frames):
            payload = rng.bytes(PAYLOAD_BYTES)
            coded = _ecc.encode_payload(payload).astype(np.float64) * 2 - 1
            soft = mu * coded + rng.standard_normal(coded.size)
            viterbi += _ecc.decode_payload(soft, PAYLOAD_BYTES)[0] == payload
            checked = _ecc.decode_payload_list(soft, PAYLOAD_BYTES, LIST_SIZE)
            listed += bool(checked) and checked[0] == payload
        capacity, dispersion = bi_awgn_capacity_dispersion(mu, rng)
        best = 1.0 - best_frame_error(capacity, dispersion, n, k)
        out.append(f"| {mu:.1f} | {viterbi / args.frames:.2f} | {listed / args.frames:.2f} | "
                   f"{best:.2f} | {capacity:.3f} |")
        print(out[-1], flush=True)
    out.append(f"\n{time.perf_counter() - started:.0f} s")
    write_report(out, args.out)


if __name__ == "__main__":
    main()
