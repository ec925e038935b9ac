"""`emo-safe verify --cluster`: a real Dask scheduler and worker processes give the same rows,
in the same order, with the same exit code as one process; a worker killed mid-batch loses no
file and duplicates none; fsspec URLs are read by the workers."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from dask.distributed import Client
from servers import clean_env, cli_argv, json_rows, run_cli


@pytest.fixture(scope="module")
def one_process_rows(inbox):
    ws, folder = inbox
    r = run_cli(ws.root, "verify", str(folder), "--json", "--jobs", "1")
    assert "Traceback" not in r.stderr
    return r.returncode, json_rows(r.stdout)


def test_the_mixed_folder_has_every_kind_of_row(one_process_rows):
    code, rows = one_process_rows
    outcomes = {row["file"].rsplit("/", 1)[-1]: row["outcome"] for row in rows}
    assert len(rows) == 13 and code == 3  # the tampered file outranks the unreadable ones
    assert outcomes["ours-0.mp4"] == "generated"
    assert outcomes["reposted-0.mp4"] == "generated-manifest-stripped"
    assert outcomes["tampered.mp4"] == "tampered"
    assert outcomes["unrelated-0.mp4"] == "no-evidence"
    assert {outcomes[n] for n in ("text.mp4", "empty.mp4", "truncated.mp4", "photo.jpg")} \
        == {"error"}


def test_a_local_cluster_gives_the_same_rows_in_the_same_order(inbox, one_process_rows):
    ws, folder = inbox
    r = run_cli(ws.root, "verify", str(folder), "--json", "--cluster", "local:2")
    assert "Traceback" not in r.stderr, r.stderr
    assert (r.returncode, json_rows(r.stdout)) == one_process_rows


def test_a_worker_killed_mid_batch_leaves_every_file_exactly_one_row(
        inbox, one_process_rows, dask_cluster: Client, tmp_path):
    ws, folder = inbox
    address = dask_cluster.scheduler.address
    results = tmp_path / "results.jsonl"
    proc = subprocess.Popen(cli_argv(ws.root, "verify", str(folder), "--json", "--cluster",
                                     address, "--resume", str(results)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=clean_env())
    killed_at = None
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        busy = [w for w, keys in dask_cluster.processing().items() if keys]
        if busy and results.exists() and results.read_text().count("\n") >= 1:
            pids = dask_cluster.run(os.getpid, workers=[busy[0]])
            os.kill(pids[busy[0]], signal.SIGKILL)  # mid-file: it is processing a task
            killed_at = results.read_text().count("\n")
            break
        time.sleep(0.05)
    out, err = proc.communicate(timeout=300)
    assert killed_at is not None and killed_at < 13, "the worker was not killed mid-batch"
    assert "Traceback" not in err
    code, expected = one_process_rows
    assert (proc.returncode, json_rows(out)) == (code, expected)
    assert json_rows(results.read_text()) == expected  # one row per file, none twice


def test_fsspec_urls_are_read_by_the_workers(inbox, one_process_rows, dask_cluster, tmp_path):
    ws, folder = inbox
    url = f"file://{folder}/"
    r = run_cli(ws.root, "verify", url, f"file://{folder}/missing.mp4", "--json",
                     "--cluster", dask_cluster.scheduler.address)
    rows = json_rows(r.stdout)
    assert [row["file"] for row in rows[:-1]] == \
        [f"file://{row['file']}" for row in one_process_rows[1]]
    assert [row["outcome"] for row in rows[:-1]] == \
        [row["outcome"] for row in one_process_rows[1]]
    assert rows[-1]["outcome"] == "error" and "missing.mp4" in rows[-1]["error"]
    assert r.returncode == 3 and "Traceback" not in r.stderr


def test_an_unreachable_scheduler_is_one_clear_error(inbox):
    from emo_safe.batch import ClusterError
    from emo_safe.batch.runners import DaskRunner

    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler"):
        DaskRunner("tcp://127.0.0.1:9", timeout=2)
    ws, folder = inbox
    r = run_cli(ws.root, "verify", str(folder), "--cluster", "tcp://", "--json")
    assert r.returncode == 2 and "expected local:N or tcp://HOST:PORT" in r.stderr
    r = run_cli(ws.root, "verify", str(folder), "--cluster", "local:2", "--jobs", "2")
    assert r.returncode == 2 and "exclude each other" in r.stderr


def test_a_profile_the_workers_cannot_load_ends_the_batch_before_any_file(inbox, dask_cluster,
                                                                          tmp_path):
    ws, folder = inbox
    results = tmp_path / "rows.jsonl"
    r = run_cli(ws.root, "verify", str(folder), "--json", "--resume", str(results),
                "--profile", str(tmp_path / "no-such-profile.toml"),
                "--cluster", dask_cluster.scheduler.address)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "on worker tcp://" in r.stderr and "no-such-profile.toml" in r.stderr
    assert r.stdout == "" and results.read_text() == ""


def test_local_workers_run_without_the_statistical_profiler():
    from emo_safe.batch.runners import DaskRunner

    runner = DaskRunner("local:1")
    try:
        def profiler_on():
            import dask

            return dask.config.get("distributed.worker.profile.enabled")

        assert list(runner.client.run(profiler_on).values()) == [False]
    finally:
        runner.close()
