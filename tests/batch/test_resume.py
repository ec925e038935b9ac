"""`verify --resume RESULTS.jsonl`: an interrupted batch is finished by running it again; only
the files without a row are verified, and every file ends with exactly one row."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from servers import clean_env, cli_argv, json_rows, run_cli

from emo_safe.batch import ResultsFile
from emo_safe.errors import InputError


def test_a_batch_killed_midway_is_finished_by_resuming_it(inbox, tmp_path):
    ws, folder = inbox
    expected_run = run_cli(ws.root, "verify", str(folder), "--json")
    expected = json_rows(expected_run.stdout)
    results = tmp_path / "results.jsonl"
    proc = subprocess.Popen(cli_argv(ws.root, "verify", str(folder), "--json", "--resume",
                                     str(results)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=clean_env())
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = results.read_text().count("\n")
    assert 3 <= done < len(expected), "the batch was not interrupted midway"
    with results.open("a") as fh:  # as if killed in the middle of writing a row
        fh.write('{"file": "' + str(folder / "ours-2.mp4")[:-3])

    again = run_cli(ws.root, "verify", str(folder), "--json", "--resume", str(results))
    assert json_rows(again.stdout) == expected[done:]  # only the files without a row
    assert json_rows(results.read_text()) == expected  # each file once, the torn line gone
    assert again.returncode == expected_run.returncode == 3  # the earlier rows count too

    nothing_left = run_cli(ws.root, "verify", str(folder), "--resume", str(results))
    assert nothing_left.returncode == 3
    assert f"resumed: {len(expected)} of {len(expected)} files" in nothing_left.stdout
    assert json_rows(results.read_text()) == expected


def test_a_results_file_that_is_not_rows_is_refused(tmp_path):
    bad = tmp_path / "r.jsonl"
    bad.write_text('{"file": "a.mp4", "outcome": "generated"}\nnot json\n')
    with pytest.raises(InputError, match="line 2 is not a row"):
        ResultsFile(bad).open()
    assert bad.read_text().endswith("not json\n")  # nothing cut from a file it refused


def test_a_fifo_or_a_folder_is_not_a_results_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        ResultsFile(fifo).open()
    with pytest.raises(InputError, match="cannot open"):
        ResultsFile(tmp_path).open()


def test_two_batches_cannot_append_to_one_results_file(tmp_path):
    path = tmp_path / "r.jsonl"
    with ResultsFile(path), pytest.raises(InputError, match="another batch is writing it"):
        ResultsFile(path).open()


def test_rows_are_matched_by_absolute_path_and_keep_their_exit_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "r.jsonl"
    path.write_text('{"file": "dir/a.mp4", "outcome": "no-evidence"}\n'
                    '{"file": "s3://bucket/b.mp4", "outcome": "error", "error": "x", '
                    '"exit_code": 3}\n')
    with ResultsFile(path) as results:
        assert results.has("./dir/a.mp4") and results.has(str(tmp_path / "dir" / "a.mp4"))
        assert results.exit_code_of("dir/a.mp4") == 1
        assert results.exit_code_of("s3://bucket/b.mp4") == 3
        assert not results.has("s3://bucket/c.mp4")
