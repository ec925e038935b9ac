"""Typed results of the gate: a :class:`Finding` per reason, a :class:`RuleResult` per rule,
and the :class:`Decision` over a whole request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class Finding:
    """One reason a request is refused. ``code`` is stable; ``message`` is for people."""

    code: str
    message: str
    subject: str | None = None  # e.g. "face 1" or a consent id; never biometric data

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "subject": self.subject}


@dataclass(frozen=True)
class RuleResult:
    """What one rule found: its reasons to refuse (none: satisfied) and the facts it
    established (ids, names, hashes: never biometric data), which later rules may read and
    which the decision records."""

    findings: tuple[Finding, ...] = ()
    facts: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    @classmethod
    def of(cls, findings=(), **facts) -> RuleResult:
        return cls(tuple(findings), MappingProxyType(dict(facts)))


@dataclass(frozen=True)
class PolicyRef:
    name: str
    sha256: str


@dataclass(frozen=True)
class Decision:
    """The gate's answer: allowed iff there are no findings. Lists every reason, not the first.

    ``facts`` is what the rules established (recorded in the ledger as ``matched``); the typed
    properties below are the way to read it."""

    id: str
    findings: tuple[Finding, ...]
    policy: PolicyRef
    facts: Mapping[str, object] = field(default_factory=lambda: _EMPTY)

    @property
    def allowed(self) -> bool:
        return not self.findings

    @property
    def policy_name(self) -> str:
        return self.policy.name

    @property
    def policy_sha256(self) -> str:
        return self.policy.sha256

    @property
    def consent_ids(self) -> list[str]:
        return list(self.facts.get("consent_ids", ()))

    @property
    def consents_by_face(self) -> dict[str, str]:
        return dict(self.facts.get("consents_by_face", {}))

    @property
    def faces(self) -> int:
        return int(self.facts.get("faces", 0))

    @property
    def face_search(self) -> str:
        return str(self.facts.get("face_search", ""))

    @property
    def gallery_size(self) -> int | None:
        size = self.facts.get("gallery_size")
        return int(size) if size is not None else None

    @property
    def visible_label_required(self) -> bool:
        return self.facts.get("disclosure") == "visible-label"

    @property
    def label_languages(self) -> tuple[str, ...]:
        """The visible label's languages the policy set (English when it set none)."""
        return tuple(self.facts.get("label_languages") or ("en",))

    @property
    def audio_notice_required(self) -> bool:
        return bool(self.facts.get("audio_notice"))

    @property
    def implicit_label_required(self) -> bool:
        return bool(self.facts.get("implicit_label"))

    @property
    def public_figures(self) -> list[dict]:
        return [dict(m) for m in self.facts.get("public_figures", ())]

    @property
    def matched(self) -> dict:
        """The facts as plain JSON (the ledger's ``matched`` column and ``--json``)."""
        return _plain(self.facts)

    def to_dict(self) -> dict:
        return {
            "decision_id": self.id,
            "allowed": self.allowed,
            "policy": {"name": self.policy.name, "sha256": self.policy.sha256},
            "reasons": [f.to_dict() for f in self.findings],
            "matched": self.matched,
        }


def _plain(value):
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
