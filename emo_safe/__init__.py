"""emo-safe: make an audio-driven portrait-video generator safe to release.

The public API is small:

- :class:`Workspace` — keys, CA, database and policies (``emo-safe init``);
- :class:`SafeGenerator` — gate -> generate -> mark -> sign -> record;
- :class:`Detector` and :class:`Verdict` — does a video come from this deployment?
- :class:`Decision` — the gate's answer, with every reason; :class:`ConsentRegistry` (signed
  consent records) and :func:`load_policy`;
- :class:`EmoSafeError` and its subclasses — one per failure a user handles.

Everything else (watermark internals, raw key handling) lives in internal modules.
"""

__version__ = "0.1.0"

from emo_safe.errors import (
    ConsentError,
    EmoSafeError,
    GenerationRefused,
    GeneratorError,
    InputError,
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
from emo_safe.verify import Detector, Verdict
from emo_safe.workspace import Workspace

__all__ = [
    "ConsentError",
    "ConsentRegistry",
    "Decision",
    "Detector",
    "EmoSafeError",
    "Finding",
    "GenerationRefused",
    "GenerationResult",
    "GeneratorError",
    "InputError",
    "IntegrityError",
    "KeyFileError",
    "PolicyError",
    "ProfileError",
    "SafeGenerator",
    "SigningError",
    "Verdict",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "load_policy",
]
