"""Scale benchmark: batch verification on one process, a process pool and a Dask cluster, the
cluster's per-task overhead, what one verification costs, and the PostgreSQL ledger's write
rate with several generating hosts. The figures docs/scale.md builds its cost model on.

    python benchmarks/cluster.py [--files 40] [--rounds 3] [--seconds 8] [--no-s3]
                                 [--parts file,batch,ledger]
                                 [--out benchmarks/out/cluster.md]

- Per file (in process, one 10-second 512x512 stripped re-encode): wall and CPU seconds of
  `Detector.verify`, split by evidence source, and the decode alone (the frames the watermark
  source reads, nothing done with them): is verification decode bound or search bound?
  Bytes read from storage and bytes of decoded frames. The same for one 30-second 1280x720
  upload: the unit of the cost model.
- Files per second for N ten-second clips through the CLI: `verify --jobs 1`, `--jobs 2`,
  `--cluster local:2` (a LocalCluster of two worker processes), alternated over rounds in one
  run (this machine is noisy); every mode must give the same rows. Target: the cluster within
  10 % of `--jobs 2`.
- Scheduler overhead per task: Dask's own (2 000 no-op tasks through `client.map`) and
  emo-safe's runner (DaskRunner against SerialRunner on inputs that fail at once).
- The same cluster batch with inputs read by the workers through fsspec from an S3 server on
  loopback (moto's, when `moto[server]` and `s3fs` are installed; `--no-s3` leaves it out).
- The ledger (PostgreSQL from scripts/postgres-test-server or $EMO_SAFE_TEST_POSTGRES_URL):
  what a generation writes (its gate decision; its generation row, log entry and manifest
  store), per second with 1, 2 and 4 writer processes on separate workspaces sharing the
  database (the advisory lock serialises them); events per second when 100 are appended under
  one signed head (how batching lifts the lock's ceiling); bytes the database grows per
  generation.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
from _report import write_report  # noqa: E402
from factories import postgres_workspace  # noqa: E402
from pg_scratch import postgres_admin_url, scratch_database  # noqa: E402
from servers import clean_env, cli_argv, json_rows  # noqa: E402

from emo_safe._resources import sample_path  # noqa: E402
from emo_safe.media import Audio, iter_frames, load_audio, write_mp4, write_wav  # noqa: E402

CLIP_S = 10


def make_clips(tmp: Path, n: int):
    """A workspace with one 10-second generation and ``n`` stripped re-encodes of it (8
    distinct encodes, copied: each file is verified on its own)."""
    from emo_safe import ConsentRegistry, SafeGenerator, Workspace

    ws = Workspace(tmp / "ws")
    ws.init()
    ConsentRegistry.for_workspace(ws).add("sample", sample_path("portrait.jpg"))
    a = load_audio(sample_path("speech.m4a"))
    speech = tmp / "speech10.wav"
    write_wav(speech, Audio(np.concatenate([a.samples, a.samples])[: CLIP_S * a.rate], a.rate))
    ours = tmp / "ours.mp4"
    SafeGenerator(ws).generate(sample_path("portrait.jpg"), speech, ours)
    frames = list(iter_frames(ours))
    distinct = []
    for k, crf in enumerate((18, 20, 22, 23, 24, 26, 28, 30)):
        path = tmp / f"encode-{k}.mp4"
        write_mp4(path, frames, 25, None, crf=crf)
        distinct.append(path)
    inbox = tmp / "inbox"
    inbox.mkdir()
    files = []
    for i in range(n):
        dst = inbox / f"clip-{i:03d}.mp4"
        shutil.copyfile(distinct[i % len(distinct)], dst)
        files.append(dst)
    return ws, files


# -- per file ----------------------------------------------------------------------------------
def wall_and_cpu(fn, repeats: int):
    """Wall and CPU seconds (this process, every thread) of ``repeats`` calls; the last
    result."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return walls, cpus, result


def per_file_cost(ws, path: Path, repeats: int = 5) -> list[str]:
    from emo_safe import Detector

    detector = Detector(ws)
    detector.verify(path)  # warm: models, c2pa, database connection
    stage_wall: dict[str, list[float]] = {s.name: [] for s in detector.sources}
    for source in detector.sources:
        original = source.gather

        def timed(file, evidence, original=original, name=source.name):
            t = time.perf_counter()
            try:
                return original(file, evidence)
            finally:
                stage_wall[name].append(time.perf_counter() - t)

        source.gather = timed
    walls, cpus, v = wall_and_cpu(lambda: detector.verify(path), repeats)
    assert v.outcome == "generated-manifest-stripped", v.outcome
    lim = detector.profile.limits
    decode_wall, decode_cpu, decoded = [], [], 0
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        decoded = 0
        for frame in iter_frames(path, max_frames=lim.max_frames,
                                 max_pixels=int(lim.max_frame_megapixels * 1e6)):
            decoded += frame.nbytes
        decode_wall.append(time.perf_counter() - w)
        decode_cpu.append(time.process_time() - c)
    med = statistics.median
    size = path.stat().st_size
    wall, cpu = med(walls), med(cpus)
    lines = ["### One verification (in process, 10-second 512x512 H.264 re-encode, "
             f"median of {repeats})", "",
             "| part | wall s | share of wall |", "|---|---|---|"]
    for name, values in stage_wall.items():
        lines.append(f"| source `{name}` | {med(values):.3f} | {med(values) / wall:.0%} |")
    dw = med(decode_wall)
    wm = med(stage_wall.get("watermark", [0.0]))
    lines += [f"| of which decoding the frames (decode alone, same frames) | {dw:.3f} | "
              f"{dw / wall:.0%} |",
              f"| of which watermark search + fingerprint (watermark source - decode) | "
              f"{wm - dw:.3f} | {(wm - dw) / wall:.0%} |",
              f"| **whole verify** | **{wall:.3f}** | 100% |", "",
              f"CPU seconds per file: {cpu:.2f} (decode alone {med(decode_cpu):.2f}); "
              f"CPU/wall {cpu / wall:.2f}. Bytes read from storage: "
              f"{size / 1e6:.2f} MB per file ({size * 8 / CLIP_S / 1e3:.0f} kbit/s); "
              f"decoded frames: {decoded / 1e6:.0f} MB.", ""]
    return lines


def upload_cost(ws, tmp: Path, repeats: int = 3) -> list[str]:
    """What the cost model needs: 30-second 1280x720 uploads verified in process (H.264 CRF
    23): the generation scaled, pillarboxed and looped, and, what most of a platform's uploads
    are, a video that is not ours (a pan over a photo: no mark, so every stage of the search
    runs and no early look ends the reading)."""
    import cv2
    from watermark import CLIPS

    from emo_safe import Detector

    src = tmp / "ours.mp4"
    # The square generation as a 16:9 upload: scaled to 720 px and pillarboxed.
    frames = [cv2.copyMakeBorder(cv2.resize(f, (720, 720), interpolation=cv2.INTER_LINEAR),
                                 0, 0, 280, 280, cv2.BORDER_CONSTANT, value=(0, 0, 0))
              for f in iter_frames(src)]
    ours = tmp / "upload-720p-30s.mp4"
    write_mp4(ours, frames * 3, 25, None, crf=23)
    other = tmp / "upload-720p-30s-not-ours.mp4"
    write_mp4(other, list(CLIPS["scene-720p"](250)) * 3, 25, None, crf=23)
    del frames
    detector = Detector(ws)
    med = statistics.median
    lines = ["### One 30-second 1280x720 upload (H.264 CRF 23, in process, median of "
             f"{repeats})", "",
             "| upload | wall s | CPU s | of which decode CPU s | MB read | outcome |",
             "|---|---|---|---|---|---|"]
    for label, path in (("the generation, pillarboxed", ours),
                        ("not ours (a pan over a photo)", other)):
        detector.verify(path)  # warm
        walls, cpus, v = wall_and_cpu(lambda path=path: detector.verify(path), repeats)
        decode_cpu = []
        for _ in range(repeats):
            c = time.process_time()
            for _frame in iter_frames(path):
                pass
            decode_cpu.append(time.process_time() - c)
        lines.append(f"| {label} | {med(walls):.2f} | {med(cpus):.2f} | {med(decode_cpu):.2f} | "
                     f"{path.stat().st_size / 1e6:.1f} | {v.outcome} |")
    return lines + [""]


# -- batches through the CLI -------------------------------------------------------------------
def run_batch(ws_root: Path, inputs: list[str], mode: list[str], env: dict) -> tuple[float, list]:
    t = time.perf_counter()
    r = subprocess.run(cli_argv(ws_root, "verify", "--json", *mode, *inputs),
                       capture_output=True, text=True, env=env, timeout=1800)
    wall = time.perf_counter() - t
    if r.returncode not in (0, 1, 3, 4):
        raise SystemExit(f"verify {' '.join(mode)} failed ({r.returncode}): {r.stderr[-800:]}")
    rows = json_rows(r.stdout)
    # What must be equal across modes: file, outcome, exit code (timings are not in rows).
    return wall, [(x.get("file"), x.get("outcome"), x.get("exit_code")) for x in rows]


def batches(ws, files: list[Path], rounds: int) -> tuple[list[str], dict[str, float]]:
    modes = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"],
             "--cluster local:2": ["--cluster", "local:2"]}
    walls: dict[str, list[float]] = {m: [] for m in modes}
    reference = None
    env = clean_env()
    inputs = [str(f) for f in files]
    for r in range(rounds):
        order = list(modes) if r % 2 == 0 else list(reversed(modes))
        for name in order:
            wall, rows = run_batch(ws.root, inputs, modes[name], env)
            reference = reference or rows
            assert rows == reference, f"{name} gave other rows"
            walls[name].append(wall)
            print(f"  round {r + 1} {name}: {wall:.1f} s", flush=True)
    # The fixed cost of a batch (the CLI's start, pool or cluster start, detectors built,
    # shutdown): the same modes on 2 files. What a file adds is the rest, per file.
    small = {name: min(run_batch(ws.root, inputs[:2], modes[name], env)[0]
                       for _ in range(2)) for name in modes}
    base = min(walls["--jobs 2"])
    n = len(files)
    marginal = {name: (min(walls[name]) - small[name]) / (n - 2) for name in modes}
    lines = [f"### {n} ten-second clips through `emo-safe verify --json` "
             f"(best of {rounds}, modes alternated; the CLI's start and, for the cluster, "
             "starting the LocalCluster are inside the wall time)", "",
             "| mode | wall s (each round) | files/s | vs `--jobs 2` | fixed cost s (2-file "
             "batch) | s per further file | vs `--jobs 2` |", "|---|---|---|---|---|---|---|"]
    for name, values in walls.items():
        best = min(values)
        lines.append(f"| `{name}` | {best:.1f} ({', '.join(f'{v:.1f}' for v in values)}) | "
                     f"{n / best:.2f} | {best / base:.2f}x | {small[name]:.1f} | "
                     f"{marginal[name]:.3f} | {marginal[name] / marginal['--jobs 2']:.2f}x |")
    lines += ["", f"Rows identical in every mode and round: yes ({len(reference)} rows).", ""]
    return lines, {name: min(values) for name, values in walls.items()}


# -- scheduler overhead ------------------------------------------------------------------------
def _noop(i):
    return i


def scheduler_overhead(ws) -> list[str]:
    from dask.distributed import Client, LocalCluster

    from emo_safe.batch.runners import DaskRunner, SerialRunner
    from emo_safe.batch.work import VerifyTask

    n = 2000
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(_noop, range(100)))  # warm
        t = time.perf_counter()
        client.gather(client.map(_noop, range(n)))
        mapped = (time.perf_counter() - t) / n
        t = time.perf_counter()
        for i in range(200):
            client.submit(_noop, i, pure=False).result()
        one_by_one = (time.perf_counter() - t) / 200

    # emo-safe's runner: inputs that fail at once (no such file), so the task is ~nothing.
    items = [f"/nonexistent/clip-{i}.mp4" for i in range(400)]
    task = VerifyTask(str(ws.root))
    t = time.perf_counter()
    serial = list(SerialRunner().run(task, items))
    serial_s = time.perf_counter() - t
    runner = DaskRunner("local:2")
    try:
        list(runner.run(task, items[:20]))  # warm: each worker builds its detector
        t = time.perf_counter()
        rows = list(runner.run(task, items))
        dask_s = time.perf_counter() - t
    finally:
        runner.close()
    assert len(rows) == len(serial) == len(items)
    per_task = max(0.0, dask_s - serial_s / 2) / len(items)
    return ["### Scheduler overhead per task (LocalCluster, 2 worker processes)", "",
            "| path | ms per task |", "|---|---|",
            f"| Dask `client.map` of {n} no-op tasks (throughput) | {mapped * 1e3:.2f} |",
            f"| Dask submit then wait, one task at a time (latency) | {one_by_one * 1e3:.2f} |",
            f"| emo-safe DaskRunner, {len(items)} inputs that fail at once: wall per input | "
            f"{dask_s / len(items) * 1e3:.2f} (serial in-process "
            f"{serial_s / len(items) * 1e3:.2f}) |",
            f"| emo-safe DaskRunner overhead (wall - serial/2 workers) per input | "
            f"{per_task * 1e3:.2f} |", ""]


# -- S3 through fsspec -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def s3_batch(ws, files: list[Path], local_wall: float) -> list[str]:
    try:
        import s3fs  # noqa: F401
        from moto.server import ThreadedMotoServer  # noqa: F401
    except ImportError:
        return ["(S3 inputs: moto[server] and s3fs are not installed; left out.)", ""]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        env = {**clean_env(), "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
               "FSSPEC_S3_ENDPOINT_URL": endpoint}
        os.environ.update({k: env[k] for k in env if k.startswith(("AWS_", "FSSPEC_"))})
        import fsspec

        deadline = time.time() + 30
        while True:
            try:
                fs = fsspec.filesystem("s3", endpoint_url=endpoint, skip_instance_cache=True)
                fs.mkdir("clips")
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.3)
        for f in files:
            fs.put_file(str(f), f"clips/{f.name}")
        wall, rows = run_batch(ws.root, ["s3://clips/"], ["--cluster", "local:2"], env)
        assert len(rows) == len(files) and all(r[1] == "generated-manifest-stripped"
                                               for r in rows), rows[:3]
    finally:
        server.terminate()
        server.wait(10)
    return ["### The same batch read from S3 (moto server on loopback) by the workers", "",
            "| inputs | mode | wall s | files/s | vs local files |", "|---|---|---|---|---|",
            f"| `s3://clips/` (listed by the client, read by each worker) | `--cluster local:2` "
            f"| {wall:.1f} | {len(files) / wall:.2f} | {wall / local_wall:.2f}x |", ""]


# -- the ledger under several generating hosts ---------------------------------------------------
def _write_generations(store, template: dict) -> int:
    """What one generation writes: its gate decision, then its generation and manifest."""
    from emo_safe.ledger.schema import ManifestRow
    from emo_safe.ledger.store import DecisionRow, GenerationRow, new_id, utcnow

    d = store.add_decision(DecisionRow(id=new_id(), created_at=utcnow(), allowed=True,
                                       **template["decision"]))
    gid = new_id()
    store.add_generation(
        GenerationRow(id=gid, decision_id=d.id, created_at=utcnow(), **template["generation"]),
        ManifestRow(manifest_id=f"urn:c2pa:{new_id()}", generation_id=gid,
                    store=bytes.fromhex(template["store"]),
                    binding_alg=template["binding_alg"], binding_value=new_id()[:12]))
    return 1


def _write_batch(store, template: dict) -> int:
    """100 decisions under one signed head."""
    from emo_safe.ledger.store import DecisionRow, new_id, utcnow

    store.add_decisions([DecisionRow(id=new_id(), created_at=utcnow(), allowed=True,
                                     **template["decision"]) for _ in range(100)])
    return 100


def _writer(kind: str, root: str, url: str, seconds: float, template: dict, start, out):
    """One host: its own process and workspace over the shared database, writing for
    ``seconds`` once every host is ready; puts (events written, seconds)."""
    os.environ["EMO_SAFE_DATABASE_URL"] = url
    from emo_safe.workspace import Workspace

    write = _write_generations if kind == "gen" else _write_batch
    store = Workspace(Path(root)).store()
    start.wait()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        n += write(store, template)
    out.put((n, time.perf_counter() - t0))


def ledger_writes(ws, tmp: Path, seconds: float) -> list[str]:
    from sqlalchemy import text

    from emo_safe.workspace import Workspace

    store = ws.store()
    gen = store.list_generations()[0]
    dec = store.get_decision(gen.decision_id)
    man = store.manifest_for_generation(gen.id)
    template = {
        "decision": {k: getattr(dec, k) for k in ("policy_name", "policy_sha256", "reasons",
                                                  "matched", "photo_sha256", "audio_sha256",
                                                  "generator")},
        "generation": {k: getattr(gen, k) for k in (
            "generator", "generator_version", "settings", "policy_sha256", "photo_sha256",
            "audio_sha256", "output_sha256", "manifest_id", "watermark_payload",
            "consent_ids", "frames", "fingerprint")},
        "store": man.store.hex(), "binding_alg": man.binding_alg}
    ctx = mp.get_context("spawn")
    lines = ["### The PostgreSQL ledger under several generating hosts",
             f"(each writer its own process and workspace, one database; {seconds:.0f} s per "
             "row; a generation's writes are its gate decision and its generation row with "
             f"its log entry and its {len(man.store) / 1e3:.0f} kB manifest store, each "
             "transaction with a freshly signed tree head)", "",
             "| writers | what | per second (all writers) | log events/s | per writer |",
             "|---|---|---|---|---|"]
    admin = postgres_admin_url()
    grow = None
    for writers, kind in ((1, "gen"), (2, "gen"), (4, "gen"), (1, "batch"), (2, "batch")):
        with scratch_database(admin, "emo_safe_scale") as url:
            # One deployment: the first host's workspace and its replicas (same keys, one
            # log), each writer on its own.
            first = postgres_workspace(tmp / f"host-{writers}-{kind}-0", url)
            roots = [first.root]
            for i in range(1, writers):
                host = Workspace(tmp / f"host-{writers}-{kind}-{i}")
                host.init_replica(first)
                roots.append(host.root)
            from emo_safe.ledger.store import LedgerStore

            probe = LedgerStore(url, create=False)

            def db_bytes(probe=probe):
                with probe.engine.connect() as c:
                    return c.execute(text("SELECT pg_database_size(current_database())")) \
                        .scalar()

            before = db_bytes()
            start, out = ctx.Event(), ctx.Queue()
            procs = [ctx.Process(target=_writer,
                                 args=(kind, str(r), url, seconds, template, start, out))
                     for r in roots]
            for p in procs:
                p.start()
            time.sleep(3)  # every writer has opened its workspace
            start.set()
            results = [out.get(timeout=seconds + 120) for _ in procs]
            for p in procs:
                p.join(30)
            total = sum(n for n, _ in results) / max(w for _, w in results)
            if kind == "gen":
                with probe.session() as s:  # one consistent log: the heads' sizes are 1..N
                    size = s.execute(text("SELECT max(size) FROM tree_heads")).scalar()
                    count = s.execute(text("SELECT count(*) FROM audit_log")).scalar()
                    gens = s.execute(text("SELECT count(*) FROM generations")).scalar()
                assert size == count, (size, count)
                if writers == 1:
                    grow = (db_bytes() - before) / gens
                lines.append(f"| {writers} | generation writes | {total:.0f} generations | "
                             f"{2 * total:.0f} | {total / writers:.0f} |")
            else:
                lines.append(f"| {writers} | decisions appended 100 per signed head | "
                             f"{total:.0f} events | {total:.0f} | {total / writers:.0f} |")
            print(lines[-1], flush=True)
    lines += ["", f"The database grows by {grow / 1e3:.1f} kB per generation (rows, log "
              "entries, tree nodes, heads, manifest store and indexes; pg_database_size over "
              "the single-writer run).", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=8.0, help="per ledger measurement")
    ap.add_argument("--no-s3", action="store_true")
    ap.add_argument("--parts", default="file,batch,ledger",
                    help="which sections: file, batch, ledger (comma-separated)")
    ap.add_argument("--out", default="benchmarks/out/cluster.md")
    args = ap.parse_args()
    for k in [k for k in os.environ if k.startswith("EMO_SAFE_")]:
        del os.environ[k]
    lines = ["## Scale (`benchmarks/cluster.py`)", "",
             f"Machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}.", ""]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ws, files = make_clips(tmp, args.files)
        parts = set(args.parts.split(","))
        if "file" in parts:
            lines += per_file_cost(ws, files[0])
            lines += upload_cost(ws, tmp)
            print("\n".join(lines), flush=True)
        if "batch" in parts:
            table, best = batches(ws, files, args.rounds)
            lines += table
            lines += scheduler_overhead(ws)
            if not args.no_s3:
                lines += s3_batch(ws, files, best["--cluster local:2"])
        if "ledger" in parts:
            lines += ledger_writes(ws, tmp, args.seconds)
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
