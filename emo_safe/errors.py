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



def read_file_bytes(path: Path, what: str, error: type[EmoSafeError]) -> bytes:
    """A file's bytes; a missing or unreadable file (a folder, no permission) is one ``error``
    that names it as ``what`` and never shows a traceback."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} file not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} file {path}: {exc.strerror}") from None
