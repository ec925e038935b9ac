"""Detector profiles (detectors/*.toml): what a verifier trusts and how it decides.

Relative paths in a profile (trust anchors, a watermark key file, a ``sqlite:///`` ledger)
are resolved against the profile's own folder, never the working directory, so a published
profile means the same wherever it is run from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from emo_safe._resources import bundled_dir
from emo_safe._toml import StrictModel, load_model, resolve
from emo_safe.errors import ProfileError
from emo_safe.watermark.scheme import DEFAULT_MAX_P_VALUE, SCHEMES, available_schemes

EVIDENCE_SOURCES_DEFAULT = ("c2pa", "watermark", "audio", "ledger", "repository")


class TrustSection(StrictModel):
    anchors: list[str] = Field(default_factory=lambda: ["workspace"])
    # Where a signer's revocation status comes from: "recorded", the OCSP answer the manifest
    # carries from signing time (no network); "online", the OCSP responder the signer
    # certificate names, asked at verification time (a revocation after signing shows).
    revocation: Literal["recorded", "online"] = "recorded"


class WatermarkSection(StrictModel):
    # Every scheme listed is tried; the strongest evidence is reported. ``scheme`` (one id) is
    # the 0.1 spelling and still accepted.
    schemes: list[str] | None = None
    scheme: str | None = None
    key: str = "workspace"
    key_id: str | None = None  # when set, the key must have this public id
    max_p_value: float = Field(DEFAULT_MAX_P_VALUE, gt=0, le=1e-3)
    # The audio mark also searches speed (pitch too) and tempo (pitch kept) changes of
    # 0.90-1.10x (401 times the hypotheses; coarse to fine, so the work is a few plain
    # readings when the plain reading finds nothing, and nothing more when it decodes).
    audio_time_scale_search: bool = True
    # A clip at least 16 s long is looked at after 8, 16, 32 ... s; once its mark is
    # conclusive the rest is not gathered (still decoded for the fingerprint). False: every
    # frame is gathered, so the report's per-second chart covers the whole clip.
    early_looks: bool = True

    def scheme_ids(self) -> list[str]:
        if self.schemes is not None:
            return list(self.schemes)
        return [self.scheme] if self.scheme else available_schemes()


class LedgerSection(StrictModel):
    url: str = "workspace"


class LimitsSection(StrictModel):
    max_file_mb: float = Field(4096.0, gt=0)
    max_frames: int = Field(90_000, gt=0)
    # Bounds on what one file may make the detector decode: a small file can declare huge
    # frames (8192x8192 in 200 kB) or a gigabyte manifest box (a sparse file).
    max_frame_megapixels: float = Field(8.9, gt=0)  # 4096x2160
    max_decoded_megapixels: float = Field(20_000.0, gt=0)  # ~6 min of 1080p at 25 fps
    max_manifest_mb: float = Field(32.0, gt=0)
    max_video_tracks: int = Field(4, gt=0)
    # The audio mark is read from at most this much of the first audio track (the analysis
    # holds about 26 MB per minute).
    max_audio_seconds: float = Field(600.0, gt=0, le=7200)


class EvidenceSection(StrictModel):
    sources: list[str] = Field(default_factory=lambda: list(EVIDENCE_SOURCES_DEFAULT))


class DetectorProfile(StrictModel):
    """What a verifier trusts and how it decides (detectors/*.toml)."""

    name: str = Field(min_length=1)
    description: str = ""
    trust: TrustSection = TrustSection()
    watermark: WatermarkSection = WatermarkSection()
    ledger: LedgerSection = LedgerSection()
    limits: LimitsSection = LimitsSection()
    evidence: EvidenceSection = EvidenceSection()


def load_profile(path: str | Path | None = None,
                 workspace=None) -> tuple[DetectorProfile, Path]:
    """A profile file or name ("default": the workspace's detectors/ then the bundled one)."""
    folders = [workspace.root / "detectors" if workspace else None, bundled_dir("detectors")]
    resolved = resolve(path or "default", folders)
    profile, _ = load_model(resolved, DetectorProfile, "detector profile", ProfileError)
    for scheme in profile.watermark.scheme_ids():
        if scheme not in SCHEMES:
            raise ProfileError(f"detector profile {resolved}: key 'watermark.schemes': "
                               f"unknown scheme {scheme!r} (this emo-safe knows "
                               f"{', '.join(available_schemes())})")
    from emo_safe.verify.evidence import SOURCES

    for source in profile.evidence.sources:
        if source not in SOURCES:
            raise ProfileError(f"detector profile {resolved}: key 'evidence.sources': unknown "
                               f"source {source!r} (known: {', '.join(SOURCES)})")
    return profile, resolved


def resolve_ledger_url(url: str, base: Path) -> str:
    """A relative ``sqlite:///`` path is relative to the profile's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/"):
        rest = url[len(prefix):]
        if rest and not rest.startswith((":memory:", "file:")):
            return prefix + str((base / rest).resolve())
    return url
