"""A batch's rows: one per input, whatever the input is, and the batch's exit code."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from emo_safe.errors import EmoSafeError

# exit code -> rank: the most serious outcome decides the batch's exit code
_SEVERITY = {3: 4, 2: 3, 1: 2, 0: 1}
# A verdict row's exit code, from its outcome (verify/decide.py: Outcome.exit_code); an error
# row carries its own.
_OUTCOME_EXIT = {"generated": 0, "generated-manifest-stripped": 0, "no-evidence": 1,
                 "tampered": 3, "inconsistent": 3,
                 "signer-revoked": 3}


@dataclass(frozen=True)
class Row:
    exit_code: int
    data: dict  # the JSON row (`verify --json` prints one per file)
    verdict: object | None = None  # the Verdict, or None for an error row
    # A few frames as base64 JPEG, taken where the file was read (for the HTML report: a
    # cluster worker may read a file the client cannot).
    thumbnails: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return self.data["file"]


def error_row(item: str, message: str, exit_code: int = 2) -> Row:
    return Row(exit_code, {"file": item, "outcome": "error", "error": message,
                           "exit_code": exit_code})


def row_for_exception(item: str, exc: BaseException) -> Row:
    """An error row for a failure of any kind: ours carry their message, anything else (a
    parser bug on a hostile file) only its type, never a traceback."""
    if isinstance(exc, EmoSafeError):
        return error_row(item, exc.message, exc.exit_code)
    return error_row(item, f"internal error ({type(exc).__name__})")


def row_exit_code(data: dict) -> int:
    """The exit code of a row read back from JSON (``--resume``)."""
    if data.get("outcome") == "error":
        code = data.get("exit_code", 2)
        return code if code in _SEVERITY else 2
    return _OUTCOME_EXIT.get(data.get("outcome"), 2)


def worst_exit_code(codes: Iterable[int]) -> int:
    codes = list(codes)
    return max(codes, key=lambda c: _SEVERITY.get(c, 5)) if codes else 0
