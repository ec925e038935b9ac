"""What the gate evaluates: decoded inputs, the faces found, candidate consent records, the
gallery to screen against, and what the requester declared (uses, attestations)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emo_safe.faces import Face
from emo_safe.ledger.store import ConsentRow
from emo_safe.media import Audio

if TYPE_CHECKING:  # pragma: no cover
    from emo_safe.gate.gallery import Gallery


@dataclass
class GateRequest:
    photo_path: Path
    photo_sha256: str
    image: np.ndarray
    faces: list[Face]
    audio: Audio | None
    audio_sha256: str | None
    consents: list[ConsentRow]  # candidates: the ones named, else every stored record
    named_consent_ids: list[str] = field(default_factory=list)
    # consent id -> the operator's signature verifies (filled by the gate, not by the caller)
    consent_signature_ok: dict[str, bool] = field(default_factory=dict)
    face_search: str = "hog"  # which detector pass found the faces ("none" if none did)
    gallery: Gallery | None = None
    uses: tuple[str, ...] = ()  # what the video is for; the policy's default when empty
    audio_rights_attestation: str | None = None  # the requester's statement, verbatim
    visible_disclosure: bool | None = None  # None: as the policy requires
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    matched: dict = field(default_factory=dict)  # filled by the rules: ids, names, hashes only
