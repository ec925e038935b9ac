"""Verification service benchmark, against a real `emo-safe serve` process on loopback.

    python benchmarks/service.py [--requests 12] [--manifests 100000]

- Verifications per second and p50/p95 latency for 10-second 512x512 clips (stripped
  re-encodes of one generation, so every answer recovers its credential) at 1, 2 and 4
  concurrent clients, beside the in-process `Detector.verify` on the same files in the same
  run (the CLI's work without process start): the service's overhead as a ratio.
- Peak server memory (VmHWM), and while 4 clients upload 100 MB each at once.
- byBinding lookups per second and their p50/p95 with N stored manifests.

Targets: p95 of one clip under 2 s at concurrency 1; overhead under 15 %; byBinding p95 under
20 ms at 100 000 manifests; memory bounded under 4 concurrent 100 MB uploads.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from _report import write_report  # noqa: E402
from servers import start_server, stop_server  # noqa: E402

from emo_safe._resources import sample_path  # noqa: E402
from emo_safe.media import Audio, iter_frames, load_audio, write_mp4, write_wav  # noqa: E402


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pct(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=12, help="per concurrency level")
    ap.add_argument("--manifests", type=int, default=100_000)
    ap.add_argument("--out", default="benchmarks/out/service.md")
    args = ap.parse_args()

    from emo_safe import ConsentRegistry, Detector, SafeGenerator, Workspace
    from emo_safe.ledger.schema import ManifestRow

    for k in [k for k in os.environ if k.startswith("EMO_SAFE_")]:
        del os.environ[k]
    lines = ["## Verification service (a real `emo-safe serve` on loopback)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws = Workspace(tmp / "ws")
        ws.init()
        ConsentRegistry.for_workspace(ws).add("sample", sample_path("portrait.jpg"))
        a = load_audio(sample_path("speech.m4a"))
        speech = tmp / "speech10.wav"
        write_wav(speech, Audio(np.concatenate([a.samples, a.samples])[: 10 * a.rate], a.rate))
        ours = tmp / "ours.mp4"
        result = SafeGenerator(ws).generate(sample_path("portrait.jpg"), speech, ours)
        frames = list(iter_frames(ours))
        files = []
        for crf in (20, 23, 26, 28):
            path = tmp / f"reposted-{crf}.mp4"
            write_mp4(path, frames, 25, None, crf=crf)
            files.append(path)

        # The CLI's in-process work on the same files: the baseline.
        detector = Detector(ws)
        detector.verify(files[0])  # warm
        cli_times = []
        for i in range(args.requests):
            t = time.perf_counter()
            v = detector.verify(files[i % len(files)])
            cli_times.append(time.perf_counter() - t)
            assert v.outcome == "generated-manifest-stripped" and v.recovered is not None

        server = start_server(ws.root, tmp / "server", "--max-in-flight", "4",
                              "--max-upload-mb", "150")
        try:
            with httpx.Client(base_url=server.url, timeout=300) as c:
                c.post("/v1/verify", content=files[0].read_bytes(),
                       headers={"Content-Type": "video/mp4"})  # warm
            lines += ["| clients | requests | verifications/s | p50 s | p95 s | in-process "
                      "`verify` p50 s (same files) | p50 overhead |",
                      "|---|---|---|---|---|---|---|"]
            for clients in (1, 2, 4):
                latencies: list[float] = []
                lock = threading.Lock()

                def worker(k: int, clients=clients, latencies=latencies, lock=lock):
                    with httpx.Client(base_url=server.url, timeout=300) as c:
                        for i in range(k, args.requests, clients):
                            body = files[i % len(files)].read_bytes()
                            t = time.perf_counter()
                            r = c.post("/v1/verify", content=body,
                                       headers={"Content-Type": "video/mp4"})
                            dt = time.perf_counter() - t
                            assert r.status_code == 200 and \
                                r.json()["recovered_manifest"], r.text[:200]
                            with lock:
                                latencies.append(dt)

                t0 = time.perf_counter()
                threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                wall = time.perf_counter() - t0
                base = statistics.median(cli_times)
                overhead = (f"{statistics.median(latencies) / base - 1:+.0%}" if clients == 1
                            else "-")
                lines.append(f"| {clients} | {len(latencies)} | {len(latencies) / wall:.2f} | "
                             f"{_pct(latencies, 50):.2f} | {_pct(latencies, 95):.2f} | "
                             f"{base:.2f} | {overhead} |")
                print(lines[-1], flush=True)
            peak = _hwm_mb(server.proc.pid)

            # Four 100 MB uploads at once: memory must not grow with them.
            big = tmp / "big.mp4"
            with open(big, "wb") as fh:
                fh.write(files[0].read_bytes())
                fh.write(os.urandom(100_000_000 - files[0].stat().st_size))
            before = _rss_mb(server.proc.pid)
            samples: list[float] = []
            done = threading.Event()

            def sample():
                while not done.is_set():
                    samples.append(_rss_mb(server.proc.pid))
                    time.sleep(0.05)

            def upload():
                with httpx.Client(base_url=server.url, timeout=600) as c, open(big, "rb") as fh:
                    c.post("/v1/verify", content=fh, headers={"Content-Type": "video/mp4"})

            sampler = threading.Thread(target=sample)
            sampler.start()
            ups = [threading.Thread(target=upload) for _ in range(4)]
            for u in ups:
                u.start()
            for u in ups:
                u.join()
            done.set()
            sampler.join()
            lines += ["", f"Peak server memory (VmHWM) after the runs above: {peak:.0f} MB. "
                      f"During 4 concurrent 100 MB uploads: RSS {before:.0f} MB before, "
                      f"{max(samples):.0f} MB at most ({max(samples) - before:+.0f} MB); "
                      f"upload files left: {len(server.upload_files())}.", ""]
            print(lines[-2], flush=True)
        finally:
            stop_server(server)

        # byBinding with many stored manifests (rows added directly, as a large deployment
        # would have them).
        store = ws.store()
        rng = np.random.default_rng(5)
        payloads = [secrets.token_hex(6) for _ in range(args.manifests)]
        with store.session() as s:
            for i in range(0, args.manifests, 5000):
                s.add_all([ManifestRow(manifest_id=f"urn:c2pa:{secrets.token_hex(4)}-0000-0000-"
                                       f"0000-{i + k:012d}", generation_id=f"g{i + k}",
                                       store=b"x" * 64, binding_alg="org.emo-safe.wm.v1",
                                       binding_value=payloads[i + k])
                           for k in range(min(5000, args.manifests - i))])
                s.flush()
        server = start_server(ws.root, tmp / "server2")
        try:
            lat = []
            with httpx.Client(base_url=server.url, timeout=30) as c:
                picks = rng.choice(len(payloads), 500)
                t0 = time.perf_counter()
                for i in picks:
                    value = base64.b64encode(bytes.fromhex(payloads[i])).decode()
                    t = time.perf_counter()
                    r = c.get("/v1/matches/byBinding", params={"alg": "org.emo-safe.wm.v1",
                                                              "value": value})
                    lat.append((time.perf_counter() - t) * 1000)
                    assert len(r.json()["matches"]) == 1
                wall = time.perf_counter() - t0
            lines += ["| stored manifests | byBinding lookups/s (1 client) | p50 ms | p95 ms |",
                      "|---|---|---|---|",
                      f"| {args.manifests:,} | {len(lat) / wall:.0f} | {_pct(lat, 50):.1f} | "
                      f"{_pct(lat, 95):.1f} |"]
            print(lines[-1], flush=True)
        finally:
            stop_server(server)
        del result
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
