"""``--resume FILE.jsonl``: the rows of an earlier, interrupted run of the same batch, and
where this run's rows are appended as they come (one JSON line each, flushed and synced), so
that a batch stopped at any point — killed, out of power — is finished by running it again
with the same file, each input ending with exactly one row."""

from __future__ import annotations

import fcntl
import json
import os
import stat
from pathlib import Path

from emo_safe.batch.inputs import is_url
from emo_safe.batch.rows import Row, row_exit_code
from emo_safe.errors import InputError


def row_key(item: str) -> str:
    """Rows are matched by input: a URL as written, a local path made absolute (against the
    current directory) so ``dir/a.mp4`` and ``./dir/a.mp4`` are one file."""
    return item if is_url(item) else os.path.abspath(item)


class ResultsFile:
    """Open with :meth:`open` (locks the file: two batches cannot append to one file)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.done: dict[str, int] = {}  # row key -> that row's exit code
        self._fd: int | None = None

    def open(self) -> ResultsFile:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise InputError(f"--resume {self.path}: cannot open it "
                             f"({exc.strerror or type(exc).__name__})") from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError(f"--resume {self.path}: not a regular file")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(f"--resume {self.path}: another batch is writing it") from None
            self._read(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _read(self, fd: int) -> None:
        """Every complete line must be a row; an incomplete last line (the write that was
        interrupted) is cut off, and its file verified again."""
        good_end = 0
        with os.fdopen(os.dup(fd), "rb") as fh:
            for number, line in enumerate(fh, 1):
                if not line.endswith(b"\n"):
                    break
                try:
                    data = json.loads(line)
                    key, code = row_key(str(data["file"])), row_exit_code(data)
                except (ValueError, KeyError, TypeError):
                    raise InputError(f"--resume {self.path}: line {number} is not a row of "
                                     "`emo-safe verify --json`") from None
                self.done[key] = code
                good_end += len(line)
        os.ftruncate(fd, good_end)
        os.lseek(fd, good_end, os.SEEK_SET)

    def pending(self, items: list[str]) -> tuple[list[str], list[int]]:
        """(the inputs without a row yet — each once, in order; the exit codes of the rows
        already here for the others)."""
        items = list(dict.fromkeys(items))  # an input given twice still gets one row
        return ([i for i in items if not self.has(i)],
                [self.exit_code_of(i) for i in items if self.has(i)])

    def has(self, item: str) -> bool:
        return row_key(item) in self.done

    def exit_code_of(self, item: str) -> int:
        return self.done[row_key(item)]

    def append(self, row: Row) -> None:
        line = memoryview((json.dumps(row.data, default=str) + "\n").encode())
        while line:
            line = line[os.write(self._fd, line):]
        os.fsync(self._fd)
        self.done[row_key(row.file)] = row.exit_code

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ResultsFile:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
