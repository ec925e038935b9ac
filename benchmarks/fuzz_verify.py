"""Fuzz the detector's parsing paths (container, C2PA, watermark decode) with hostile files.

Run:  python benchmarks/fuzz_verify.py [--examples 300] [--seed 1]

Starts from a real signed emo-safe output (a short `still` generation) and a plain MP4, and lets
hypothesis mutate them: flipped bytes, truncations, box headers with absurd sizes, spliced-in
garbage, zero-filled ranges. Every mutated file goes through `Detector.verify`, which must end in
a verdict or an `EmoSafeError` (a per-file error row, exit 2/3) within the time budget. Anything
else is a crash: the input is saved under tests/data/fuzz/ (which tests/test_fuzz_regressions.py
replays) and the run fails. Prints a table of outcomes and timings.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import write_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emo_safe.errors import EmoSafeError

TIME_BUDGET_S = 30.0
CRASH_DIR = ROOT / "tests" / "data" / "fuzz"


def seeds(tmp: Path):
    from emo_safe._resources import sample_path
    from emo_safe.gate.consent import ConsentRegistry
    from emo_safe.media import Audio, load_audio, write_mp4, write_wav
    from emo_safe.pipeline import SafeGenerator
    from emo_safe.workspace import Workspace

    ws = Workspace(tmp / "ws")
    ws.init()
    ConsentRegistry.for_workspace(ws).add("sample", sample_path("portrait.jpg"))
    audio = load_audio(sample_path("speech.m4a"))
    short = tmp / "short.wav"
    write_wav(short, Audio(audio.samples[: audio.rate], audio.rate))
    signed = tmp / "signed.mp4"
    SafeGenerator(ws, generator="still").generate(sample_path("portrait.jpg"), short, signed,
                                                  size=128)
    import numpy as np

    plain = tmp / "plain.mp4"
    write_mp4(plain, (np.full((64, 64, 3), i * 10, np.uint8) for i in range(10)), 25)
    return ws, [signed.read_bytes(), plain.read_bytes()]


def mutations(corpus: list[bytes]):
    def apply(args):
        base, ops = args
        data = bytearray(corpus[base])
        for kind, pos, value in ops:
            if not data:
                break
            pos %= len(data)
            if kind == "flip":
                data[pos] ^= 1 << (value % 8)
            elif kind == "truncate":
                del data[pos:]
            elif kind == "box-size":  # an absurd 32-bit box size at a box header
                at = data.find(b"moov") if value % 2 else data.find(b"mdat")
                at = at if at >= 4 else pos
                data[at - 4 : at] = (value | 0x7F000000).to_bytes(4, "big")
            elif kind == "garbage":
                data[pos:pos] = bytes((value * 7 + i) % 256 for i in range(value % 4096))
            elif kind == "zero":
                data[pos : pos + value % 8192] = bytes(min(value % 8192, len(data) - pos))
        return bytes(data)

    op = st.tuples(st.sampled_from(["flip", "truncate", "box-size", "garbage", "zero"]),
                   st.integers(0, 1 << 30), st.integers(0, 1 << 30))
    return st.tuples(st.integers(0, len(corpus) - 1), st.lists(op, min_size=1, max_size=4)).map(
        apply)


def run(examples: int, seed: int, out_path: str) -> int:
    from emo_safe.verify import Detector

    outcomes: collections.Counter = collections.Counter()
    times, crashes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws, corpus = seeds(tmp)
        detector = Detector(ws)
        target = tmp / "fuzzed.mp4"

        @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))
        @given(mutations(corpus))
        def check(data: bytes) -> None:
            target.write_bytes(data)
            t = time.perf_counter()
            try:
                outcomes[detector.verify(target).outcome] += 1
            except EmoSafeError as exc:
                outcomes[f"error (exit {exc.exit_code})"] += 1
            except Exception as exc:  # a crash: keep the input as a regression case
                digest = hashlib.sha256(data).hexdigest()[:16]
                CRASH_DIR.mkdir(parents=True, exist_ok=True)
                (CRASH_DIR / f"crash-{digest}.mp4").write_bytes(data)
                crashes.append(f"{digest}: {type(exc).__name__}: {exc}")
            elapsed = time.perf_counter() - t
            times.append(elapsed)
            if elapsed > TIME_BUDGET_S:
                crashes.append(f"over the time budget: {elapsed:.1f} s")

        import random

        random.seed(seed)
        check()
    lines = [f"## Detector fuzzing ({len(times)} mutated files)", "",
             "| outcome | files |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in sorted(outcomes.items())]
    median = sorted(times)[len(times) // 2]
    lines += ["", f"crashes: {len(crashes)}; time per file: median {median:.2f} s, "
              f"max {max(times):.2f} s (budget {TIME_BUDGET_S:.0f} s)"]
    lines += [f"- {c}" for c in crashes]
    write_report(lines, out_path)
    return 1 if crashes else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default="benchmarks/out/fuzz_verify.md")
    args = ap.parse_args()
    sys.exit(run(args.examples, args.seed, args.out))


if __name__ == "__main__":
    main()
