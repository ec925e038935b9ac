"""Policies: TOML files validated by pydantic, evaluated as small composable rules.

A rule has one method, ``evaluate(request) -> list[Finding]``; an empty list means the rule is
satisfied. :class:`AllOf` runs every rule and gathers every finding; an empty ``AllOf`` refuses
(a policy that checks nothing is a mistake, not a permission). The single permissive rule is
named :class:`UnsafeNoOp` so that using it reads as what it is.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from emo_safe._resources import bundled_dir
from emo_safe.errors import PolicyError
from emo_safe.gate.decision import Finding
from emo_safe.media import AudioLimits, ImageLimits

if TYPE_CHECKING:  # pragma: no cover
    from emo_safe.gate.request import GateRequest


class Rule(Protocol):
    def evaluate(self, request: GateRequest) -> list[Finding]: ...


class AllOf:
    """Every rule must pass; the findings of all failing rules are returned together."""

    def __init__(self, *rules: Rule) -> None:
        self.rules = rules

    def evaluate(self, request: GateRequest) -> list[Finding]:
        if not self.rules:
            return [Finding("empty-policy", "the policy has no rules, so nothing is allowed")]
        findings: list[Finding] = []
        for rule in self.rules:
            findings.extend(rule.evaluate(request))
        return findings


class UnsafeNoOp:
    """Allows everything. Only for tests of the machinery around the gate."""

    def evaluate(self, request: GateRequest) -> list[Finding]:
        return []


class ExactlyOneFace:
    def evaluate(self, request: GateRequest) -> list[Finding]:
        n = len(request.faces)
        if n == 0:
            return [Finding("no-face", "no face was found in the photo")]
        if n > 1:
            return [Finding("multiple-faces", f"the photo shows {n} faces; exactly one is allowed")]
        return []


@dataclass
class ConsentCoversEveryFace:
    """Each face must match a valid, unrevoked, unexpired consent record."""

    match_distance: float

    def evaluate(self, request: GateRequest) -> list[Finding]:
        return request.consent_findings(self.match_distance)


# --------------------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LimitsSection(_Strict):
    max_image_megapixels: float = Field(40.0, gt=0)
    max_image_side: int = Field(12_000, gt=0)
    min_image_side: int = Field(64, gt=0)
    max_image_mb: float = Field(50.0, gt=0)
    max_audio_seconds: float = Field(600.0, gt=0)
    min_audio_seconds: float = Field(0.2, ge=0)
    max_audio_mb: float = Field(200.0, gt=0)


class FacesSection(_Strict):
    exactly_one: bool = True


class ConsentSection(_Strict):
    required: bool = True
    match_distance: float = Field(0.5, gt=0, le=1.0)


class PolicyModel(_Strict):
    name: str
    description: str = ""
    limits: LimitsSection = LimitsSection()
    faces: FacesSection = FacesSection()
    consent: ConsentSection = ConsentSection()


@dataclass(frozen=True)
class Policy:
    """A loaded policy: its model, the rule tree built from it, and its identity."""

    model: PolicyModel
    rule: Rule
    sha256: str
    path: Path | None

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def image_limits(self) -> ImageLimits:
        lim = self.model.limits
        return ImageLimits(
            max_pixels=int(lim.max_image_megapixels * 1e6),
            max_side=lim.max_image_side,
            min_side=lim.min_image_side,
            max_bytes=int(lim.max_image_mb * 1e6),
        )

    @property
    def audio_limits(self) -> AudioLimits:
        lim = self.model.limits
        return AudioLimits(
            max_seconds=lim.max_audio_seconds,
            min_seconds=lim.min_audio_seconds,
            max_bytes=int(lim.max_audio_mb * 1e6),
        )

    @classmethod
    def from_model(cls, model: PolicyModel, sha256: str, path: Path | None = None) -> Policy:
        rules: list[Rule] = []
        if model.faces.exactly_one:
            rules.append(ExactlyOneFace())
        if model.consent.required:
            rules.append(ConsentCoversEveryFace(model.consent.match_distance))
        return cls(model, AllOf(*rules), sha256, path)


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{key}'"
    if kind == "missing":
        return f"missing required key '{key}'"
    return f"key '{key}': {err['msg']}"


def load_policy(path: str | Path | None = None, workspace_policies: Path | None = None) -> Policy:
    """Load a policy file (default: the workspace's default.toml, else the bundled one)."""
    if path is None:
        candidate = workspace_policies / "default.toml" if workspace_policies else None
        path = candidate if candidate and candidate.exists() else bundled_dir("policies") / "default.toml"
    else:
        path = Path(path)
        if not path.exists() and not path.suffix:
            bundled = bundled_dir("policies") / f"{path.name}.toml"
            if bundled.exists():
                path = bundled
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {path}") from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"policy file {path}: invalid TOML: {exc}") from None
    try:
        model = PolicyModel.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise PolicyError(f"policy file {path}: {problems}") from None
    return Policy.from_model(model, hashlib.sha256(raw).hexdigest(), path)
