"""What the gate evaluates: decoded inputs, the faces found, candidate consent records (with
what the operator key and the signed log say of each), the gallery to screen against, and what
the requester declared (uses, attestations). Frozen: rules read it, never write into it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from emo_safe.faces import Face
from emo_safe.gate.consent import ConsentCheck, ConsentRecord
from emo_safe.media import Audio

if TYPE_CHECKING:  # pragma: no cover
    from emo_safe.gate.gallery import Gallery


@dataclass(frozen=True)
class GateRequest:
    photo_path: Path
    photo_sha256: str
    image: np.ndarray
    faces: tuple[Face, ...]
    audio: Audio | None
    audio_sha256: str | None
    consents: tuple[ConsentRecord, ...]  # candidates: the ones named, else every stored record
    named_consent_ids: tuple[str, ...] = ()
    # consent id -> signature and signed-log check (filled by the gate, not by the caller)
    consent_checks: Mapping[str, ConsentCheck] = field(
        default_factory=lambda: MappingProxyType({}))
    face_search: str = "hog"  # which detector pass found the faces ("none" if none did)
    gallery: Gallery | None = None
    uses: tuple[str, ...] = ()  # what the video is for; the policy's default when empty
    audio_rights_attestation: str | None = None  # the requester's statement, verbatim
    visible_disclosure: bool | None = None  # None: as the policy requires
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    # what earlier rules of the policy established (AllOf passes it on; ids and hashes only)
    established: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
