"""What the gate evaluates: decoded inputs, detected faces and candidate consent records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emo_safe.faces import Face
from emo_safe.gate.decision import Finding
from emo_safe.ledger.store import ConsentRow, as_utc
from emo_safe.media import Audio


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
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    matched: dict = field(default_factory=dict)  # filled by the rules: ids only

    def consent_findings(self, match_distance: float) -> list[Finding]:
        findings: list[Finding] = []
        known = {c.id for c in self.consents}
        for cid in self.named_consent_ids:
            if cid not in known:
                findings.append(Finding("consent-unknown", f"no consent record with id {cid}", cid))
        covered: list[str] = []
        for i, face in enumerate(self.faces, start=1):
            subject = f"face {i}"
            matching = [c for c in self.consents if face.distance(c.template) <= match_distance]
            if not matching:
                if self.named_consent_ids:
                    findings.append(Finding(
                        "consent-face-mismatch",
                        f"{subject} does not match the face of the given consent record(s)",
                        subject))
                else:
                    findings.append(Finding(
                        "no-consent", f"no consent record covers {subject}", subject))
                continue
            valid = [c for c in matching if not self._invalid_reasons(c)]
            if valid:
                covered.append(valid[0].id)
                continue
            for c in matching:
                for code, message in self._invalid_reasons(c):
                    findings.append(Finding(code, f"{message} (matches {subject})", c.id))
        self.matched["consent_ids"] = covered
        return findings

    def _invalid_reasons(self, c: ConsentRow) -> list[tuple[str, str]]:
        out = []
        if c.revoked_at is not None:
            out.append(("consent-revoked", f"consent {c.id} was revoked"))
        expires = as_utc(c.expires_at)
        if expires is not None and expires <= self.now:
            out.append(("consent-expired", f"consent {c.id} expired on {expires.date()}"))
        valid_from = as_utc(c.valid_from)
        if valid_from is not None and valid_from > self.now:
            out.append(("consent-not-yet-valid", f"consent {c.id} is valid from {valid_from.date()}"))
        return out
