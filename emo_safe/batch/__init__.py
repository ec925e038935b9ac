"""Verifying many files: one row per input, in input order, whatever each input is.

Every failure is a row (``outcome: "error"`` with one line and its ``exit_code``), never a
failed batch: a hostile file, an unreadable one, a parser bug, a cluster worker that died. The
batch's exit code is the most serious row's, in the documented order: integrity failure (3) >
input error (2) > no evidence (1) > evidence (0).

Where the files are verified is a runner (:mod:`.runners`): this process, ``jobs`` local
processes, or a Dask cluster (``cluster="local:N"`` or ``"tcp://host:port"``, extra
``cluster``). Inputs are local paths or fsspec URLs (:mod:`.inputs`); ``--resume`` is
:class:`~.results.ResultsFile`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from emo_safe.batch.inputs import expand_inputs, is_url
from emo_safe.batch.results import ResultsFile
from emo_safe.batch.rows import Row, row_exit_code, worst_exit_code
from emo_safe.batch.runners import BatchRunner, ClusterError, parse_cluster, rows_of, runner_for
from emo_safe.batch.work import VerifyTask

__all__ = ["BatchRunner", "ClusterError", "ResultsFile", "Row", "VerifyTask", "expand_inputs",
           "is_url", "parse_cluster", "row_exit_code", "runner_for", "verify_many",
           "worst_exit_code"]


def _shippable_profile(profile: str | None) -> str | None:
    """A profile file's absolute path (a worker's current directory is not ours); a bundled
    profile's name as it is."""
    if profile is None or is_url(profile):
        return profile
    p = Path(profile)
    return str(p.resolve()) if p.suffix == ".toml" or p.exists() else profile


def verify_many(workspace_root: Path, items: Iterable[str | Path], profile: str | None = None,
                jobs: int = 1, cluster: str | None = None,
                on_row: Callable[[Row], None] | None = None,
                thumbnails: bool = False) -> Iterator[Row]:
    """Rows for ``items`` in input order. ``jobs`` > 1 spreads the files over local processes,
    ``cluster`` over a Dask cluster; each process builds the detector once. A bad profile or
    an unusable cluster fails here, once, before any file."""
    root = str(Path(workspace_root).resolve())
    profile = _shippable_profile(profile)
    items = [str(i) for i in items]
    if not items:  # e.g. everything already had a row: no pool or cluster to start
        return
    runner = runner_for(jobs, cluster) if len(items) > 1 or cluster else runner_for()
    for row in rows_of(runner, VerifyTask(root, profile, thumbnails), items):
        if on_row:
            on_row(row)
        yield row
