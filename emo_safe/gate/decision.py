"""Typed results of the gate."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    """One reason a request is refused. ``code`` is stable; ``message`` is for people."""

    code: str
    message: str
    subject: str | None = None  # e.g. "face 1" or a consent id; never biometric data

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "subject": self.subject}


@dataclass(frozen=True)
class Decision:
    """The gate's answer: allowed iff there are no findings. Lists every reason, not the first."""

    id: str
    findings: tuple[Finding, ...]
    policy_name: str
    policy_sha256: str
    matched: dict = field(default_factory=dict)  # consent ids per face, face count (ids only)

    @property
    def allowed(self) -> bool:
        return not self.findings

    @property
    def consent_ids(self) -> list[str]:
        return list(self.matched.get("consent_ids", []))

    def to_dict(self) -> dict:
        return {
            "decision_id": self.id,
            "allowed": self.allowed,
            "policy": {"name": self.policy_name, "sha256": self.policy_sha256},
            "reasons": [f.to_dict() for f in self.findings],
            "matched": self.matched,
        }
