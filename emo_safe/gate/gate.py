"""The gate: decode and check the inputs, find the faces, evaluate the policy, record it."""

from __future__ import annotations

import json
from pathlib import Path

from emo_safe.faces import FaceAnalyzer
from emo_safe.gate.decision import Decision
from emo_safe.gate.policy import Policy
from emo_safe.gate.request import GateRequest
from emo_safe.ledger.store import DecisionRow, LedgerStore, new_id, utcnow
from emo_safe.media import load_audio, load_image, sha256_file


class Gate:
    def __init__(self, policy: Policy, store: LedgerStore,
                 analyzer: FaceAnalyzer | None = None) -> None:
        self.policy = policy
        self.store = store
        self.analyzer = analyzer or FaceAnalyzer()

    def prepare(self, photo: str | Path, audio: str | Path | None,
                consent_ids: list[str] | None = None) -> GateRequest:
        """Decode and check the inputs. Bad input raises InputError; nothing is recorded."""
        photo = Path(photo)
        image = load_image(photo, self.policy.image_limits)
        decoded_audio = load_audio(audio, self.policy.audio_limits) if audio is not None else None
        faces = self.analyzer.detect(image)
        named = list(dict.fromkeys(consent_ids or []))
        if named:
            consents = [c for c in (self.store.get_consent(cid) for cid in named) if c is not None]
        else:
            consents = self.store.list_consents()
        return GateRequest(
            photo_path=photo,
            photo_sha256=sha256_file(photo),
            image=image,
            faces=faces,
            audio=decoded_audio,
            audio_sha256=sha256_file(audio) if audio is not None else None,
            consents=consents,
            named_consent_ids=named,
        )

    def evaluate(self, request: GateRequest, generator: str | None = None,
                 record: bool = True) -> Decision:
        findings = tuple(self.policy.rule.evaluate(request))
        request.matched["faces"] = len(request.faces)
        decision = Decision(
            id=new_id(),
            findings=findings,
            policy_name=self.policy.name,
            policy_sha256=self.policy.sha256,
            matched=dict(request.matched),
        )
        if record:
            self.store.add_decision(DecisionRow(
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
