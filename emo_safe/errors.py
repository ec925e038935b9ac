"""The emo-safe error hierarchy.

Every failure a user is expected to handle has its own subclass and carries the process exit
code the CLI uses for it (see design.md: 2 usage/input error, 3 integrity failure; a policy
refusal is not an error but a :class:`~emo_safe.gate.Decision`, and refused generation raises
:class:`GenerationRefused` with exit code 1).

Messages are one line, written for the person at the terminal, and never contain key material
or face embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from emo_safe.gate.decision import Decision


class EmoSafeError(Exception):
    """Base class of every error emo-safe raises on purpose."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(EmoSafeError):
    """An input file is missing, unreadable, truncated, of the wrong type or outside the limits."""


class WorkspaceError(EmoSafeError):
    """The workspace is missing, incomplete or its configuration is invalid."""


class KeyFileError(EmoSafeError):
    """A private key could not be loaded (missing, wrong passphrase, wrong type)."""


class PolicyError(EmoSafeError):
    """A policy file is missing or malformed."""


class ProfileError(EmoSafeError):
    """A detector profile is missing or malformed, or names keys or anchors that cannot be used."""


class ConsentError(EmoSafeError):
    """A consent operation failed (unknown id, photo without exactly one face, ...)."""


class GeneratorError(EmoSafeError):
    """The generator failed, timed out or produced unusable output; nothing was published."""


class SigningError(EmoSafeError):
    """The C2PA manifest could not be created."""


class InstallationError(EmoSafeError):
    """emo-safe's own installation is incomplete or damaged (a bundled model or folder is
    missing or altered, a required package is absent): reinstall, nothing is wrong with the
    input."""


class IntegrityError(EmoSafeError):
    """A manifest, ledger or proof failed verification: evidence of tampering."""

    exit_code = 3


class GenerationRefused(EmoSafeError):
    """The gate refused the request; ``decision`` lists every reason."""

    exit_code = 1

    def __init__(self, decision: Decision) -> None:
        reasons = "; ".join(f.message for f in decision.findings) or "refused"
        super().__init__(f"refused by policy {decision.policy_name!r}: {reasons}")
        self.decision = decision



# Configuration files, keys, certificates, tree heads and proofs are small; nothing legitimate
# comes near this, and a cap turns /dev/zero or a huge file into one clear error.
MAX_SMALL_FILE_BYTES = 4_000_000


def read_file_bytes(path: Path, what: str, error: type[EmoSafeError],
                    max_bytes: int = MAX_SMALL_FILE_BYTES) -> bytes:
    """A small regular file's bytes. A missing or unreadable path, a folder, a FIFO or device
    (``/dev/zero``, a named pipe: they would read or block forever) or a file over
    ``max_bytes`` is one ``error`` naming it as ``what``; never a traceback or a hang."""
    import os
    import stat

    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer must not block; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise error(f"{what} file {path} is {kind}")
        if info.st_size > max_bytes:
            raise error(f"{what} file {path} is too large ({info.st_size} bytes; at most "
                        f"{max_bytes})")
        chunks, total = [], 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # it grew while we read it
                raise error(f"{what} file {path} is too large (over {max_bytes} bytes)")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def read_file_text(path: Path, what: str, error: type[EmoSafeError],
                   max_bytes: int = MAX_SMALL_FILE_BYTES) -> str:
    """:func:`read_file_bytes` decoded as UTF-8 (a file that is not is the same ``error``)."""
    try:
        return read_file_bytes(path, what, error, max_bytes).decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{what} file {path} is not UTF-8 text") from None
