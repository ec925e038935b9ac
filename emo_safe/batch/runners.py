"""How a batch's tasks are run: in this process, on a local process pool (``--jobs N``) or
on a Dask cluster (``--cluster``). Every runner yields the rows in input order, keeps a
bounded number of files in flight (a batch may list millions) and turns any failure into a
row."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from emo_safe.batch.rows import Row, error_row
from emo_safe.batch.work import (
    VerifyTask,
    emo_safe_version,
    prepare_detector,
    raise_prepare_failure,
)
from emo_safe.errors import EmoSafeError, InputError, InstallationError

#: Seconds to wait for a scheduler to answer and for its first worker.
CONNECT_TIMEOUT_S = 30
LOCAL_MAX_WORKERS = 64


class ClusterError(EmoSafeError):
    """The cluster named by ``--cluster`` cannot be used (unreachable, no workers, workers
    without emo-safe or with another version)."""


class BatchRunner(Protocol):
    name: str

    def prepare(self, task: VerifyTask) -> None:
        """Build the detector where the files will be verified; a bad profile or missing keys
        raise here, before any file is sent."""
        ...

    def run(self, task: VerifyTask, items: Sequence[str]) -> Iterator[Row]:
        """One row per item, in the items' order."""
        ...

    def close(self) -> None: ...


_END = object()


def _in_order(items: Sequence[str], submit: Callable[[str], object],
              result: Callable[[str, object], Row], window: int) -> Iterator[Row]:
    """Submit at most ``window`` items ahead of the one whose row is due next."""
    pending: deque = deque()
    it = iter(items)
    for item in it:
        pending.append((item, submit(item)))
        if len(pending) >= window:
            break
    while pending:
        item, handle = pending.popleft()
        row = result(item, handle)
        nxt = next(it, _END)
        if nxt is not _END:
            pending.append((nxt, submit(nxt)))
        yield row


def _prepare_here(task: VerifyTask) -> None:
    raise_prepare_failure(prepare_detector(task.workspace_root, task.profile))


class SerialRunner:
    name = "serial"

    def prepare(self, task: VerifyTask) -> None:
        _prepare_here(task)

    def run(self, task: VerifyTask, items: Sequence[str]) -> Iterator[Row]:
        for item in items:
            yield task(item)

    def close(self) -> None:
        pass


class ProcessRunner:
    """A pool of local processes, each building the detector once."""

    name = "processes"

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool = None

    def prepare(self, task: VerifyTask) -> None:
        _prepare_here(task)  # the pool's processes are forked from here and inherit it

    def run(self, task: VerifyTask, items: Sequence[str]) -> Iterator[Row]:
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(min(self.jobs, max(1, len(items))))

        def result(item, fut):
            try:
                return fut.result()
            except Exception as exc:  # a pool process that died (killed, out of memory)
                return error_row(item, f"the process verifying it died ({type(exc).__name__})")

        yield from _in_order(items, lambda i: self._pool.submit(task, i), result,
                             window=4 * self.jobs)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


def parse_cluster(spec: str) -> tuple[str, int | str]:
    """``local:N`` -> ("local", N); ``tcp://host:port`` (or tls://, ws://, wss://) ->
    ("remote", address). Anything else: InputError (exit 2)."""
    if spec.startswith("local:"):
        n = spec.partition(":")[2]
        if not n.isdigit() or not 1 <= int(n) <= LOCAL_MAX_WORKERS:
            raise InputError(f"--cluster {spec}: local:N needs N from 1 to {LOCAL_MAX_WORKERS}")
        return "local", int(n)
    scheme, sep, rest = spec.partition("://")
    if sep and scheme in ("tcp", "tls", "ws", "wss") and rest:
        return "remote", spec
    raise InputError(f"--cluster {spec}: expected local:N or tcp://HOST:PORT")


class DaskRunner:
    """One task per file on a Dask distributed cluster: a LocalCluster of N worker processes
    (``local:N``) or the scheduler at an address. A worker that dies mid-file has its task
    rescheduled by the scheduler on another worker (up to distributed's allowed-failures);
    a task that still fails is that file's error row. Each row is taken once, from its own
    future, so a file never gets two."""

    name = "dask"

    def __init__(self, spec: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.spec, self.timeout = spec, timeout
        self.kind, self.target = parse_cluster(spec)
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise InstallationError("--cluster needs Dask: pip install 'emo-safe[cluster]'") \
                from None
        for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                     "distributed.worker", "distributed.core"):
            # A worker that is lost and restarted is expected here (its file is retried);
            # the rows say what happened, not the scheduler's warnings.
            logging.getLogger(name).setLevel(logging.ERROR)
        self._cluster = None
        try:
            if self.kind == "local":
                import dask

                # The workers' statistical profiler samples the verifying thread 100 times a
                # second: 10-15 % of a verification's CPU here (benchmarks/cluster.py), for a
                # dashboard nobody sees. Workers are forked, as a --jobs pool's are, so they
                # start with emo-safe imported instead of importing it afresh (about 2 s of a
                # batch's start; the ledger's connections are not inherited).
                # Dask's periodic callbacks wake each worker's event loop beside the verifying
                # thread (the loop-blocked check every 20 ms, the system monitor every 0.5 s,
                # the nannies' memory check every 0.1 s): on 2 cores that cost about 8 % of a
                # batch against a --jobs pool (benchmarks/cluster.py); slower ones do the
                # same work. Heartbeats, and so the detection of a lost worker, are unchanged.
                with dask.config.set({"distributed.worker.profile.enabled": False,
                                      "distributed.worker.multiprocessing-method": "fork",
                                      "distributed.admin.tick.interval": "1s",
                                      "distributed.admin.system-monitor.interval": "10s",
                                      "distributed.worker.memory.monitor-interval": "5s"}):
                        self._cluster = LocalCluster(
                        n_workers=self.target, threads_per_worker=1, processes=True,
                        dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self._cluster)
            else:
                self.client = Client(self.target, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise ClusterError(f"cannot reach the Dask scheduler at {spec} "
                               f"({type(exc).__name__})") from None
        try:
            self._check_workers()
        except BaseException:
            self.close()
            raise

    def _check_workers(self) -> None:
        from emo_safe._version import __version__

        try:
            self.client.wait_for_workers(1, timeout=self.timeout)
        except TimeoutError:
            raise ClusterError(f"the Dask scheduler at {self.spec} has no workers") from None
        try:
            versions = self.client.run(emo_safe_version)
        except Exception as exc:
            raise ClusterError(f"the workers of {self.spec} cannot run emo-safe "
                               f"({type(exc).__name__}): install it on every worker") from None
        other = {addr: v for addr, v in versions.items() if v != __version__}
        if other:
            addr, v = next(iter(other.items()))
            raise ClusterError(f"worker {addr} runs emo-safe {v}, this client {__version__}: "
                               "every worker needs the same version")

    def prepare(self, task: VerifyTask) -> None:
        """On every worker at once (the client builds no detector of its own: the workers are
        the ones that need the workspace and keys). A worker that joins later builds its
        detector with its first file."""
        try:
            results = self.client.run(prepare_detector, task.workspace_root, task.profile)
        except Exception as exc:
            raise ClusterError(f"the workers of {self.spec} could not build the detector "
                               f"({type(exc).__name__})") from None
        for addr, failure in sorted(results.items()):
            raise_prepare_failure(failure, f"on worker {addr}: ")

    @property
    def threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def run(self, task: VerifyTask, items: Sequence[str]) -> Iterator[Row]:
        import uuid

        batch = uuid.uuid4().hex[:12]
        counter = iter(range(len(items)))

        def submit(item):
            return self.client.submit(task, item, key=f"emo-safe-verify-{batch}-{next(counter)}",
                                      pure=False)

        def result(item, fut):
            try:
                return fut.result()
            except Exception as exc:  # the task's workers kept dying (KilledWorker), ...
                return error_row(item, f"the cluster could not verify it ({type(exc).__name__})")
            finally:
                fut.release()

        yield from _in_order(items, submit, result, window=max(8, 4 * self.threads))

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()


def runner_for(jobs: int = 1, cluster: str | None = None) -> BatchRunner:
    if cluster:
        if jobs > 1:
            raise InputError("--jobs and --cluster exclude each other: the cluster's workers "
                             "are the parallelism")
        return DaskRunner(cluster)
    return ProcessRunner(jobs) if jobs > 1 else SerialRunner()


def rows_of(runner: BatchRunner, task: VerifyTask, items: Iterable[str]) -> Iterator[Row]:
    items = list(items)
    try:
        runner.prepare(task)
        yield from runner.run(task, items)
    finally:
        runner.close()
