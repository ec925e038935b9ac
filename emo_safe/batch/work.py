"""What runs where a file is verified (this process, a pool process, a cluster worker): the
detector, built once per process from the workspace and profile *paths* — keys are read there,
never carried in a task — and the task that turns one input into one row."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from dataclasses import dataclass
from pathlib import Path

from emo_safe.batch.inputs import local_input
from emo_safe.batch.rows import Row, row_for_exception

_DETECTORS: dict[tuple[str, str | None], object] = {}

# glibc mallopt parameters
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_HEAP_BLOCK = 32 << 20


def _keep_frame_buffers_on_the_heap() -> None:
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which also turns off
    glibc's adaptive mmap threshold: every decoded frame and every float copy of it is then
    mmap'd and unmapped again, and a verification costs three times the CPU (measured:
    benchmarks/cluster.py). Blocks under 32 MB come from the heap again, and the heap is
    returned to the system past 64 MB free, not at 64 kB."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, _HEAP_BLOCK)
        libc.mallopt(_M_TRIM_THRESHOLD, 2 * _HEAP_BLOCK)
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


def detector_for(workspace_root: str, profile: str | None):
    """This process's detector for the workspace and profile (built on first use)."""
    key = (workspace_root, profile)
    if key not in _DETECTORS:
        _keep_frame_buffers_on_the_heap()
        from emo_safe.verify import Detector
        from emo_safe.workspace import Workspace

        _DETECTORS[key] = Detector(Workspace(Path(workspace_root)), profile=profile)
    return _DETECTORS[key]


@dataclass(frozen=True)
class VerifyTask:
    """Verify one input. Small and picklable: paths and names, nothing secret."""

    workspace_root: str
    profile: str | None = None
    thumbnails: bool = False  # take a few frames for the HTML report where the file is read

    def __call__(self, item: str) -> Row:
        """The input's row; a failure of any kind is an error row, never an exception."""
        try:
            detector = detector_for(self.workspace_root, self.profile)
            limit = int(detector.profile.limits.max_file_mb * 1e6)
            with local_input(item, limit) as path:
                verdict = detector.verify(path)
                data = verdict.to_dict()
                data["file"] = item  # as given (a URL stays a URL)
                thumbs = ()
                if self.thumbnails:
                    from emo_safe.report import thumbnails_for

                    thumbs = tuple(thumbnails_for(data, path))
        except Exception as exc:  # a parser bug on a hostile file must not stop the batch
            return row_for_exception(item, exc)
        return Row(verdict.exit_code, data, verdict, thumbs)


def prepare_detector(workspace_root: str, profile: str | None) -> tuple[str, str] | None:
    """Build this process's detector before any file comes: None, or the failure (the error
    class's name and its message) for the client to raise — a bad profile or missing keys end
    the batch once, before it starts, wherever the files are verified."""
    from emo_safe.errors import EmoSafeError

    try:
        detector_for(workspace_root, profile)
    except EmoSafeError as exc:
        return type(exc).__name__, exc.message
    return None


def raise_prepare_failure(failure: tuple[str, str] | None, where: str = "") -> None:
    if failure is None:
        return
    from emo_safe import errors

    cls = getattr(errors, failure[0], None)
    if not (isinstance(cls, type) and issubclass(cls, errors.EmoSafeError)):
        cls = errors.EmoSafeError
    raise cls(f"{where}{failure[1]}")


def emo_safe_version() -> str:
    """Run on every worker when a batch starts: a worker without emo-safe, or with another
    version, is found before any file is sent."""
    from emo_safe._version import __version__

    return __version__
