"""Strict TOML configuration files (policies, detector profiles): one loader, precise errors
that name the file and every bad key."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from emo_safe.errors import EmoSafeError, read_file_bytes

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{key}'"
    if kind == "missing":
        return f"missing required key '{key}'"
    return f"key '{key}': {err['msg']}"


def resolve(path: str | Path, folders: list[Path | None]) -> Path:
    """A path, or a bare name ("strict") looked up as NAME.toml in ``folders`` in order."""
    path = Path(path)
    if not path.exists() and not path.suffix and path.name == str(path):
        for folder in folders:
            if folder is not None and (folder / f"{path.name}.toml").exists():
                return folder / f"{path.name}.toml"
    return path


def load_model(path: Path, model: type[M], what: str,
               error: type[EmoSafeError]) -> tuple[M, str]:
    """Parse and validate ``path``; returns the model and the file's sha256."""
    raw = read_file_bytes(path, what, error)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{what} file {path}: invalid TOML: {exc}") from None
    try:
        return model.model_validate(data), hashlib.sha256(raw).hexdigest()
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise error(f"{what} file {path}: {problems}") from None
