"""The gate: decode and check the inputs, find the faces, evaluate the policy, record it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from emo_safe.faces import SMALL_FACE_SIDE, FaceAnalyzer
from emo_safe.gate.consent import ConsentRegistry, parse_uses
from emo_safe.gate.decision import Decision, PolicyRef
from emo_safe.gate.gallery import Gallery
from emo_safe.gate.policy import Policy
from emo_safe.gate.request import GateRequest
from emo_safe.ledger.store import DecisionRow, LedgerStore, new_id, utcnow
from emo_safe.media import load_audio, load_image, sha256_file


@dataclass(frozen=True)
class RequestOptions:
    """What the requester declares beside the inputs."""

    consent_ids: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    audio_rights: str | None = None
    visible_label: bool | None = None  # None: as the policy requires


class Gate:
    def __init__(self, policy: Policy, store: LedgerStore, consents: ConsentRegistry,
                 gallery: Gallery | None, analyzer: FaceAnalyzer | None = None,
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        """``clock``: what "now" is for validity windows (tests pass a fixed one)."""
        self.policy = policy
        self.store = store
        self.consents = consents
        self.gallery = gallery
        self.analyzer = analyzer or FaceAnalyzer()
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def for_workspace(cls, workspace, policy: Policy, analyzer: FaceAnalyzer | None = None,
                      clock: Callable[[], dt.datetime] | None = None) -> Gate:
        return cls(policy, workspace.store(), ConsentRegistry.for_workspace(workspace),
                   workspace.gallery(), analyzer, clock)

    def prepare(self, photo: str | Path, audio: str | Path | None,
                options: RequestOptions = RequestOptions()) -> GateRequest:
        """Decode and check the inputs. Bad input raises InputError; nothing is recorded."""
        photo = Path(photo)
        uses = parse_uses(options.uses)
        # The generator gets the photo at most SMALL_FACE_SIDE px a side: the resolution the
        # face search covers in full, so no face it shows can have escaped the search.
        image = working_copy(load_image(photo, self.policy.image_limits))
        decoded_audio = load_audio(audio, self.policy.audio_limits) if audio is not None else None
        search = self.analyzer.find_faces(image, thorough=self.policy.model.faces.thorough_search)
        named = tuple(dict.fromkeys(options.consent_ids))
        if named:
            consents = [c for c in (self.consents.find(cid) for cid in named) if c is not None]
        else:
            consents = self.consents.list()
        return GateRequest(
            photo_path=photo,
            photo_sha256=sha256_file(photo),
            image=image,
            faces=tuple(search.faces),
            face_search=search.method,
            audio=decoded_audio,
            audio_sha256=sha256_file(audio) if audio is not None else None,
            consents=tuple(consents),
            named_consent_ids=named,
            consent_checks=MappingProxyType(self.consents.check_all(consents)),
            gallery=self.gallery,
            uses=uses,
            audio_rights_attestation=options.audio_rights,
            visible_disclosure=options.visible_label,
            now=self.clock(),
        )

    def evaluate(self, request: GateRequest, generator: str | None = None,
                 record: bool = True) -> Decision:
        result = self.policy.rule.evaluate(request)
        findings = result.findings
        # Recorded for every policy, whichever rules it has.
        facts = {**result.facts, "faces": len(request.faces), "face_search": request.face_search}
        decision = Decision(
            id=new_id(),
            findings=findings,
            policy=PolicyRef(self.policy.name, self.policy.sha256),
            facts=MappingProxyType(facts),
        )
        if record:
            self.store.add_decision(policy=(self.policy.name, self.policy.sha256,
                                            self.policy.source_text()), row=DecisionRow(
                id=decision.id,
                created_at=utcnow(),
                allowed=decision.allowed,
                policy_name=decision.policy_name,
                policy_sha256=decision.policy_sha256,
                reasons=json.dumps([f.to_dict() for f in findings]),
                matched=json.dumps(decision.matched),
                photo_sha256=request.photo_sha256,
                audio_sha256=request.audio_sha256,
                generator=generator,
            ))
        return decision


def working_copy(image):
    """The photo as the gate searches it and the generator receives it: downscaled (area
    interpolation) to at most SMALL_FACE_SIDE px on its longest side."""
    import cv2

    h, w = image.shape[:2]
    if max(h, w) <= SMALL_FACE_SIDE:
        return image
    scale = SMALL_FACE_SIDE / max(h, w)
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                      interpolation=cv2.INTER_AREA)
