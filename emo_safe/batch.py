"""Verifying many files: one row per file, in input order, whatever each file is.

Every failure is a row (``outcome: "error"`` with one line), never a failed batch: a hostile
file, an unreadable one, a parser bug. The batch's exit code is the most serious row's, in the
documented order: integrity failure (3) > input error (2) > no evidence (1) > evidence (0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from emo_safe.errors import EmoSafeError

# exit code -> rank: the most serious outcome decides the batch's exit code
_SEVERITY = {3: 4, 2: 3, 1: 2, 0: 1}


@dataclass(frozen=True)
class Row:
    exit_code: int
    data: dict  # the JSON row (`verify --json` prints one per file)
    verdict: object | None = None  # the Verdict, or None for an error row


def worst_exit_code(codes: Iterable[int]) -> int:
    codes = list(codes)
    return max(codes, key=lambda c: _SEVERITY.get(c, 5)) if codes else 0


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a directory becomes every regular file under it (sorted)."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file()))
        else:
            files.append(p)
    return files


_WORKER: dict = {}


def _init(workspace_root: str, profile: str | None) -> None:
    from emo_safe.verify import Detector
    from emo_safe.workspace import Workspace

    _WORKER["detector"] = Detector(Workspace(Path(workspace_root)), profile=profile)


def verify_one(path: Path, detector=None) -> Row:
    """One file's row; a failure of any kind is an error row, never an exception."""
    detector = detector or _WORKER["detector"]
    try:
        v = detector.verify(path)
    except EmoSafeError as exc:
        return Row(exc.exit_code, {"file": str(path), "outcome": "error", "error": exc.message})
    except Exception as exc:  # a parser bug on a hostile file must not stop the batch
        return Row(2, {"file": str(path), "outcome": "error",
                       "error": f"internal error ({type(exc).__name__})"})
    return Row(v.exit_code, v.to_dict(), v)


def verify_many(workspace_root: Path, paths: list[Path], profile: str | None = None,
                jobs: int = 1, on_row: Callable[[Row], None] | None = None) -> Iterator[Row]:
    """Rows for ``paths`` in input order. ``jobs`` > 1 spreads the files over processes,
    each building the detector once. A bad profile fails here, once, before any file."""
    _init(str(workspace_root), profile)
    if jobs > 1 and len(paths) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(min(jobs, len(paths)), initializer=_init,
                                 initargs=(str(workspace_root), profile)) as pool:
            for row in pool.map(verify_one, paths):
                if on_row:
                    on_row(row)
                yield row
        return
    for path in paths:
        row = verify_one(path)
        if on_row:
            on_row(row)
        yield row
