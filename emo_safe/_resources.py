"""Files that ship with emo-safe: policies, detector profiles, sample media."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """``policies`` or ``detectors``: inside the wheel, or at the top of a source checkout."""
    for candidate in (_PKG / "_bundled" / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    from emo_safe.errors import InstallationError

    raise InstallationError(f"the bundled {name}/ folder is missing from this installation: "
                            "reinstall emo-safe")


def sample_path(name: str) -> Path:
    """Small sample media shipped inside the package (emo_safe/data)."""
    return _PKG / "data" / name
