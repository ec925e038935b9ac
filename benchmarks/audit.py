"""Audit-log benchmark: appends per second, `audit verify` time, proof size and check time, on
SQLite and PostgreSQL, for logs of 10 000 and 1 000 000 events.

Run:  python benchmarks/audit.py [--sizes 10000,1000000] [--backends sqlite,postgresql]
                                 [--out benchmarks/out/audit.md]

PostgreSQL: $EMO_SAFE_TEST_POSTGRES_URL, else scripts/postgres-test-server starts one on
loopback (Debian's postgresql, default durability settings: fsync on, synchronous commit).

For each backend and size, in a fresh workspace:
- single appends: 1 000 decisions, each its own transaction with its log entry and a freshly
  signed tree head (what `check` and `generate` do), timed on the empty log and again once the
  log holds N events (the append cost must not grow with the log: O(log n) frontier);
- baseline in the same run: 1 000 plain decision-row inserts, one transaction each, without the
  log: the ratio is the log's overhead;
- fill: a 10 000-event log is built from single appends (one signed head per event); the
  1 000 000-event log in batches of 1 000 events under one signed head (`add_decisions`);
- `audit verify` (verify_log: re-hash every entry, check every head's signature, compare every
  data row with its logged state);
- an inclusion proof for a generation appended half-way, and a consistency proof from N/2 to N:
  hashes in the proof, bytes of the JSON, time to produce and to check offline. The anchor is
  Certificate Transparency / Trillian / Rekor: proofs of ceil(log2 N) hashes or fewer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))  # pg_scratch: throwaway PostgreSQL databases

from _report import write_report
from pg_scratch import postgres_admin_url, scratch_database
from sqlalchemy import text

from emo_safe.ledger.audit import (
    check_proof,
    latest_head,
    prove,
    prove_consistency,
    verify_log,
)
from emo_safe.ledger.store import DecisionRow, GenerationRow, LedgerStore, new_id, utcnow
from emo_safe.workspace import Workspace

SINGLE = 1000
BATCH = 1000


def decision(i: int) -> DecisionRow:
    refused = i % 4 == 0
    reasons = [{"code": "no-consent", "message": "face 1 has no consent record in force"}] \
        if refused else []
    return DecisionRow(id=new_id(), created_at=utcnow(), allowed=not refused,
                       policy_name="default", policy_sha256="ab" * 32,
                       reasons=json.dumps(reasons), matched=json.dumps({"faces": 1}),
                       photo_sha256=uuid.uuid4().hex * 2, audio_sha256=uuid.uuid4().hex * 2,
                       generator="puppet")


@contextmanager
def fresh_database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'ledger.db'}"
        return
    with scratch_database(postgres_admin_url(), "emo_safe_bench") as url:
        yield url


def rate(fn, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - t)


def run(backend: str, size: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        with fresh_database(backend, tmp) as url:
            os.environ["EMO_SAFE_DATABASE_URL"] = url
            ws = Workspace(tmp / "ws")
            ws.init()
            store = ws.store()
            # Baseline: the same rows without the log (a plain SQLAlchemy session per insert).
            base_store = LedgerStore(url)

            def plain(i):
                with base_store.session() as s:
                    s.add(decision(i))

            plain_rate = rate(plain, SINGLE)
            with base_store.engine.begin() as conn:  # not in the log: remove before auditing
                conn.execute(text("DELETE FROM decisions"))
            empty_rate = rate(lambda i: store.add_decision(decision(i)), SINGLE)
            # The log ends at exactly N: what it holds now (the keys event and SINGLE
            # decisions), the fill with a generation (and its decision) in the middle, then
            # SINGLE more.
            fill = size - SINGLE - latest_head(store.log).size
            t = time.perf_counter()
            done, gen, half = 0, None, None
            fill_mode = "single appends" if size <= 10_000 else f"batches of {BATCH}"
            while done < fill:
                if gen is None and done >= fill // 2:
                    half = latest_head(store.log)  # for the consistency proof: about N/2
                    d0 = store.add_decision(decision(0))
                    gen = store.add_generation(GenerationRow(
                        id=new_id(), decision_id=d0.id, created_at=utcnow(), generator="puppet",
                        generator_version="1", settings="{}", policy_sha256="ab" * 32,
                        photo_sha256="cd" * 32, audio_sha256="ef" * 32, output_sha256="01" * 32,
                        manifest_id="urn:c2pa:bench", watermark_payload="0123456789ab",
                        consent_ids="[]", frames=250, fingerprint="[]"))
                    done += 2
                    continue
                n = 1 if size <= 10_000 else min(BATCH, fill - done)
                if gen is None:  # stop the batch at the half-way point
                    n = min(n, max(1, fill // 2 - done))
                if n == 1:
                    store.add_decision(decision(done))
                else:
                    store.add_decisions([decision(done + k) for k in range(n)])
                done += n
            fill_rate = fill / (time.perf_counter() - t)
            full_rate = rate(lambda i: store.add_decision(decision(i)), SINGLE)
            head = latest_head(store.log)
            assert head.size == size, (head.size, size)

            t = time.perf_counter()
            result = verify_log(store.log, ws.log_public_key())
            verify_s = time.perf_counter() - t
            assert result.ok and result.size == size, result.problems

            t = time.perf_counter()
            proof = prove(store.log, gen.id)
            prove_s = time.perf_counter() - t
            t = time.perf_counter()
            ok, _ = check_proof(proof, ws.log_public_key())
            check_s = time.perf_counter() - t
            assert ok
            # Consistency from the head before the last 1 000 appends (about N - 1 000) to N.
            t = time.perf_counter()
            cons = prove_consistency(store.log, half)
            cons_s = time.perf_counter() - t
            t = time.perf_counter()
            cok, _ = check_proof(cons, ws.log_public_key())
            ccheck_s = time.perf_counter() - t
            assert cok
            return {
                "backend": backend, "size": size, "fill": fill_mode,
                "plain": plain_rate, "empty": empty_rate, "full": full_rate, "fill_rate": fill_rate,
                "verify_s": verify_s, "proof_hashes": len(proof.audit_path),
                "proof_bytes": len(json.dumps(proof.to_json())), "prove_s": prove_s,
                "check_s": check_s,
                "cons_from": half.size, "cons_hashes": len(cons.proof),
                "cons_bytes": len(json.dumps(cons.to_json())), "cons_s": cons_s,
                "ccheck_s": ccheck_s,
                "log2": math.ceil(math.log2(size)),
            }
            os.environ.pop("EMO_SAFE_DATABASE_URL", None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,1000000")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "audit.md"))
    args = ap.parse_args()
    rows = []
    for backend in args.backends.split(","):
        for size in (int(s) for s in args.sizes.split(",")):
            t = time.perf_counter()
            rows.append(run(backend, size))
            print(f"{backend} {size}: {time.perf_counter() - t:.0f} s", file=sys.stderr)
    lines = [
        f"Audit log ({SINGLE} single appends per figure; each append = data row + log entry + "
        "Ed25519-signed tree head in one transaction)",
        "",
        "| backend | events | appends/s, empty log | appends/s at N | plain insert/s (no log) "
        "| log overhead | fill | fill events/s | audit verify |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['size']:,} | {r['empty']:.0f} | {r['full']:.0f} | "
            f"{r['plain']:.0f} | {r['plain'] / r['full']:.2f}x | {r['fill']} | "
            f"{r['fill_rate']:.0f} | {r['verify_s']:.1f} s |")
    lines += [
        "",
        "Proofs (anchor: RFC 6962 / Trillian / Rekor, at most ceil(log2 N) hashes for inclusion)",
        "",
        "| backend | events | inclusion: hashes (ceil log2 N) | bytes | prove | check offline "
        "| consistency from | hashes | bytes | prove | check offline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['size']:,} | {r['proof_hashes']} ({r['log2']}) | "
            f"{r['proof_bytes']:,} | {r['prove_s'] * 1e3:.0f} ms | {r['check_s'] * 1e3:.2f} ms | "
            f"{r['cons_from']:,} | {r['cons_hashes']} | {r['cons_bytes']:,} | "
            f"{r['cons_s'] * 1e3:.0f} ms | {r['ccheck_s'] * 1e3:.2f} ms |")
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
