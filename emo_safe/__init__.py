"""emo-safe: make an audio-driven portrait-video generator safe to release.

Generate safely and verify, in three lines each::

    from emo_safe import SafeGenerator, Workspace
    ws = Workspace.locate()                      # $EMO_SAFE_HOME, or the per-user data dir
    result = SafeGenerator(ws).generate("ada.jpg", "voice.wav", "ada.mp4", consent_ids=[cid])

    from emo_safe import Detector, Workspace
    verdict = Detector(Workspace.locate()).verify("suspicious.mp4")
    print(verdict.outcome, verdict.reasons)

The public API is small:

- :class:`Workspace` — keys, CA, database and policies (``emo-safe init``);
- :class:`SafeGenerator` — gate -> generate -> mark -> sign -> record;
- :class:`Detector`, :class:`Verdict` and :class:`Outcome` — does a video come from this
  deployment?
- :class:`Decision` and :class:`Finding` — the gate's answer, with every reason;
  :class:`ConsentRegistry` (signed consent records) and :func:`load_policy`;
- :class:`EmoSafeError` and its subclasses — one per failure a user handles.

Everything else (watermark internals, raw key handling) lives in internal modules. Names are
imported on first use, so ``import emo_safe`` (and the command line's start) pays only for
what it touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from emo_safe._version import __version__

# public name -> the module that defines it
_EXPORTS = {
    "ConsentError": "emo_safe.errors",
    "EmoSafeError": "emo_safe.errors",
    "GenerationRefused": "emo_safe.errors",
    "GeneratorError": "emo_safe.errors",
    "InputError": "emo_safe.errors",
    "InstallationError": "emo_safe.errors",
    "IntegrityError": "emo_safe.errors",
    "KeyFileError": "emo_safe.errors",
    "PolicyError": "emo_safe.errors",
    "ProfileError": "emo_safe.errors",
    "SigningError": "emo_safe.errors",
    "WorkspaceError": "emo_safe.errors",
    "ConsentRegistry": "emo_safe.gate.consent",
    "Decision": "emo_safe.gate.decision",
    "Finding": "emo_safe.gate.decision",
    "load_policy": "emo_safe.gate.policy",
    "GenerationResult": "emo_safe.pipeline",
    "SafeGenerator": "emo_safe.pipeline",
    "Detector": "emo_safe.verify",
    "Outcome": "emo_safe.verify",
    "Verdict": "emo_safe.verify",
    "Workspace": "emo_safe.workspace",
}

__all__ = [
    "ConsentError", "ConsentRegistry", "Decision", "Detector", "EmoSafeError", "Finding",
    "GenerationRefused", "GenerationResult", "GeneratorError", "InputError", "InstallationError",
    "IntegrityError", "KeyFileError", "Outcome", "PolicyError", "ProfileError", "SafeGenerator",
    "SigningError", "Verdict", "Workspace", "WorkspaceError", "__version__", "load_policy",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'emo_safe' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from emo_safe.errors import (
        ConsentError,
        EmoSafeError,
        GenerationRefused,
        GeneratorError,
        InputError,
        InstallationError,
        IntegrityError,
        KeyFileError,
        PolicyError,
        ProfileError,
        SigningError,
        WorkspaceError,
    )
    from emo_safe.gate.consent import ConsentRegistry
    from emo_safe.gate.decision import Decision, Finding
    from emo_safe.gate.policy import load_policy
    from emo_safe.pipeline import GenerationResult, SafeGenerator
    from emo_safe.verify import Detector, Outcome, Verdict
    from emo_safe.workspace import Workspace
