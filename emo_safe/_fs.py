"""Writing files all or nothing: the one place that creates temporary files next to a target
and moves them into place.

- Temporary files are created exclusively (``mkstemp``: O_EXCL, a random name, mode 0600) in
  the target's folder, so a planted ``.NAME.partial`` symlink is never followed and the final
  rename stays on one filesystem.
- A reader never sees half a file; a failure leaves nothing behind.
- ``replace=False`` publishes only if the target does not exist *at that moment* (a hard link
  is atomic and fails on an existing name), so two runs writing the same output cannot both
  succeed and silently lose the first one's file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from emo_safe.errors import EmoSafeError, InputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_next_to(target: Path, error: type[EmoSafeError]) -> tuple[int, Path]:
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial",
                                    dir=target.parent)
    except OSError as exc:
        raise error(f"cannot write {target}: {exc.strerror}") from None
    return fd, Path(name)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, replace: bool = True, private: bool = False,
                error: type[EmoSafeError] = InputError) -> Iterator[Path]:
    """Yield a fresh, exclusively created temporary path next to ``target``; when the block
    ends without an exception the file is moved onto ``target`` (see :func:`publish`).
    For writers that need a path (an encoder) rather than a file object."""
    target = Path(target)
    fd, tmp = _temp_next_to(target, error)
    os.close(fd)
    try:
        yield tmp
        if not private:
            os.chmod(tmp, 0o666 & ~_umask())
        publish(tmp, target, replace=replace, error=error)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: str | os.PathLike, data: bytes | str | Callable[[BinaryIO], object],
                 *, replace: bool = True, private: bool = False,
                 error: type[EmoSafeError] = InputError) -> None:
    """Write ``data`` (bytes, text as UTF-8, or a function given the open binary file) to
    ``target`` all or nothing, fsynced. ``private``: mode 0600 (keys, biometric indexes)."""
    target = Path(target)
    fd, tmp = _temp_next_to(target, error)
    try:
        try:
            with os.fdopen(fd, "wb") as fh:  # the descriptor mkstemp made: no name lookup
                if callable(data):
                    data(fh)
                else:
                    fh.write(data.encode("utf-8") if isinstance(data, str) else data)
                fh.flush()
                os.fsync(fh.fileno())
                if not private:
                    os.fchmod(fh.fileno(), 0o666 & ~_umask())
        except OSError as exc:
            raise error(f"cannot write {target}: {exc.strerror}") from None
        publish(tmp, target, replace=replace, error=error)
    finally:
        tmp.unlink(missing_ok=True)


def publish(src: Path, target: Path, *, replace: bool = True,
            error: type[EmoSafeError] = InputError) -> None:
    """Move a finished file onto ``target`` in one step. ``replace=False``: fail with
    ``error`` if ``target`` exists, even if it appeared after the caller last looked."""
    try:
        if replace:
            os.replace(src, target)
            return
        try:
            os.link(src, target)  # atomic, and refuses an existing name
        except FileExistsError:
            raise error(f"output file already exists: {target} (another run may have "
                        "created it meanwhile); nothing was replaced") from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # No hard links here (some network or FAT filesystems): reserve the name
            # exclusively, then move onto our own reservation.
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                raise error(f"output file already exists: {target}; nothing was replaced") \
                    from None
            os.replace(src, target)
            return
        os.unlink(src)
    except OSError as exc:
        raise error(f"cannot write {target}: {exc.strerror}") from None


def check_new_output(path: Path, suffix: str | None = ".mp4") -> None:
    """A path the caller may create: the right suffix, not there yet, in a writable folder.
    (Checked before the work starts; :func:`publish` checks existence again at the end.)"""
    if suffix is not None and path.suffix.lower() != suffix:
        raise InputError(f"output must be an {suffix} file: {path}")
    if path.exists() or path.is_symlink():
        raise InputError(f"output file already exists: {path}")
    if not path.parent.is_dir():
        raise InputError(f"output folder does not exist: {path.parent}")
    if not os.access(path.parent, os.W_OK):
        raise InputError(f"output folder is not writable: {path.parent}")


def private_tempdir(parent: Path | None = None, prefix: str = ".emo-safe-") -> Path:
    """A new folder (mode 0700) only this user can enter."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
