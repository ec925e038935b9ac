"""Policies: TOML files validated by pydantic, evaluated as small composable rules.

A rule has one method, ``evaluate(request) -> RuleResult``; no findings means the rule is
satisfied. :class:`AllOf` runs every rule and gathers every finding; an empty ``AllOf`` refuses
(a policy that checks nothing is a mistake, not a permission). The single permissive rule is
named :class:`UnsafeNoOp` so that using it reads as what it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from emo_safe._resources import bundled_dir
from emo_safe._toml import StrictModel, load_model, resolve
from emo_safe.errors import PolicyError
from emo_safe.gate.rules import (
    AllOf,
    AudioNotice,
    AudioRightsAttested,
    ConsentCoversEveryFace,
    ExactlyOneFace,
    EyesVisible,
    FaceRequired,
    ImplicitLabel,
    PublicFiguresRefused,
    Rule,
    UnsafeNoOp,
    VisibleDisclosure,
)
from emo_safe.media import AudioLimits, ImageLimits

__all__ = ["AllOf", "Policy", "PolicyModel", "Rule", "UnsafeNoOp", "load_policy"]


# --------------------------------------------------------------------------------------------
_Strict = StrictModel


class LimitsSection(_Strict):
    max_image_megapixels: float = Field(40.0, gt=0)
    max_image_side: int = Field(12_000, gt=0)
    min_image_side: int = Field(64, gt=0)
    max_image_mb: float = Field(50.0, gt=0)
    max_audio_seconds: float = Field(600.0, gt=0)
    min_audio_seconds: float = Field(0.2, ge=0)
    max_audio_mb: float = Field(200.0, gt=0)


class FacesSection(_Strict):
    require_face: bool = True
    exactly_one: bool = True
    thorough_search: bool = True
    refuse_hidden_eyes: bool = True


Use = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]


class ConsentSection(_Strict):
    required: bool = True
    match_distance: float = Field(0.5, gt=0, le=1.0)
    require_evidence: bool = False
    default_uses: list[Use] = Field(default_factory=lambda: ["talking"], min_length=1)


class PublicFiguresSection(_Strict):
    screen: bool = True
    # Looser than consent matching (a false match costs a refusal, a miss a deepfake of a public
    # figure), but under dlib's 0.6: against 100 000 identities, 0.6 matched 6 of 27 strangers
    # in benchmarks/gate.py and 0.55 none (docs/benchmarks.md).
    match_distance: float = Field(0.55, gt=0, le=1.0)
    allow_with_own_consent: bool = False


class AudioSection(_Strict):
    require_rights_attestation: bool = False


class DisclosureSection(_Strict):
    visible_label: bool = False
    # the visible label's lines, top first (emo_safe/disclosure.py: LABEL_TEXTS)
    label_languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)

    @field_validator("label_languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        from emo_safe.disclosure import LABEL_TEXTS

        unknown = [v for v in value if v not in LABEL_TEXTS]
        if unknown:
            raise ValueError(f"no label text for {', '.join(unknown)} (known: "
                             f"{', '.join(LABEL_TEXTS)})")
        return value
    # China's GB 45438-2025 implicit label: the AIGC metadata field in every output
    implicit_label: bool = False
    # the audio opens with a tonal notice (short-long-short-short), the first frame held
    audio_notice: bool = False


class PolicyModel(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    limits: LimitsSection = LimitsSection()
    faces: FacesSection = FacesSection()
    consent: ConsentSection = ConsentSection()
    public_figures: PublicFiguresSection = PublicFiguresSection()
    audio: AudioSection = AudioSection()
    disclosure: DisclosureSection = DisclosureSection()


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

    def source_text(self) -> str | None:
        """The policy file's text, for the audit log, if it still has the hash we loaded."""
        if self.path is None:
            return None
        try:
            raw = self.path.read_bytes()
        except OSError:
            return None
        if hashlib.sha256(raw).hexdigest() != self.sha256:
            return None
        return raw.decode("utf-8", errors="replace")

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
        if model.faces.require_face:
            rules.append(FaceRequired())
        if model.faces.exactly_one:
            rules.append(ExactlyOneFace())
        if model.faces.refuse_hidden_eyes:
            rules.append(EyesVisible())
        if model.consent.required:
            rules.append(ConsentCoversEveryFace(model.consent.match_distance,
                                                tuple(model.consent.default_uses),
                                                model.consent.require_evidence))
        if model.public_figures.screen:  # after consent: it reads which record covers a face
            rules.append(PublicFiguresRefused(model.public_figures.match_distance,
                                              model.public_figures.allow_with_own_consent))
        if model.audio.require_rights_attestation:
            rules.append(AudioRightsAttested())
        if model.disclosure.visible_label:
            rules.append(VisibleDisclosure(tuple(model.disclosure.label_languages)))
        if model.disclosure.implicit_label:
            rules.append(ImplicitLabel())
        if model.disclosure.audio_notice:
            rules.append(AudioNotice())
        return cls(model, AllOf(*rules), sha256, path)


def load_policy(path: str | Path | None = None, workspace_policies: Path | None = None,
                allowed_sha256: frozenset[str] | None = None) -> Policy:
    """Load a policy file (default: the workspace's default.toml, else the bundled one).

    ``allowed_sha256`` set (a workspace's allow-list): a policy is accepted only if it is one
    of the workspace's own ``policies/`` files, a bundled policy, or a file whose sha256 the
    operator listed. Anything else is refused, whatever name it gives itself."""
    if path is None:
        candidate = workspace_policies / "default.toml" if workspace_policies else None
        bundled = bundled_dir("policies") / "default.toml"
        path = candidate if candidate and candidate.exists() else bundled
    else:
        # A bare name ("strict"): the workspace's copy first, then the bundled policy.
        path = resolve(path, [workspace_policies, bundled_dir("policies")])
    model, sha256 = load_model(path, PolicyModel, "policy", PolicyError)
    if allowed_sha256 is not None and sha256 not in allowed_sha256 and not any(
            _inside(path, folder) for folder in (workspace_policies, bundled_dir("policies"))):
        raise PolicyError(f"policy file {path} (sha256 {sha256}) is not allowed in this "
                          "workspace: put it in the workspace's policies/ folder, or add its "
                          "sha256 to [policies] allowed_sha256 in config.toml")
    return Policy.from_model(model, sha256, path)


def _inside(path: Path, folder: Path | None) -> bool:
    """Is ``path`` a file directly inside ``folder`` (symlinks resolved: no escaping)?"""
    if folder is None:
        return False
    try:
        return Path(path).resolve().parent == Path(folder).resolve()
    except OSError:
        return False
