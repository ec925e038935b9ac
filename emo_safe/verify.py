"""The detection front door: gather evidence about a video and explain a :class:`Verdict`.

Outcomes (a small fixed set; a verdict never claims that a video is real):

- ``generated``: a manifest trusted by this deployment's anchors declares the video AI-generated
  by emo-safe, or this deployment's watermark is detected at the calibrated threshold;
- ``generated-manifest-stripped``: no manifest, but the watermark identifies the generation;
- ``tampered``: a manifest is present but does not validate (content or claim changed);
- ``inconsistent``: no trusted manifest, and the watermark names a generation whose recorded
  fingerprint does not match the video: a watermark copied onto other footage (forgery
  suspected);
- ``no-evidence``: nothing links the video to this deployment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field

from emo_safe import fingerprint as fp
from emo_safe._resources import bundled_dir
from emo_safe._toml import StrictModel, load_model, resolve
from emo_safe.errors import InputError, KeyFileError, ProfileError, WorkspaceError
from emo_safe.media import iter_frames, probe, sha256_file
from emo_safe.provenance.read import ABSENT, INVALID, TRUSTED, ManifestEvidence, read_manifest
from emo_safe.watermark import SCHEME, WatermarkEvidence, detect_frames, key_id
from emo_safe.workspace import Workspace

GENERATED = "generated"
GENERATED_MANIFEST_STRIPPED = "generated-manifest-stripped"
TAMPERED = "tampered"
INCONSISTENT = "inconsistent"
NO_EVIDENCE = "no-evidence"

EXIT_CODES = {GENERATED: 0, GENERATED_MANIFEST_STRIPPED: 0, TAMPERED: 3, INCONSISTENT: 3,
              NO_EVIDENCE: 1}


@dataclass
class Verdict:
    path: Path
    outcome: str
    reasons: list[str]
    manifest: ManifestEvidence
    watermark: WatermarkEvidence | None = None
    ledger: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]

    def to_dict(self) -> dict:
        return {
            "file": str(self.path),
            "outcome": self.outcome,
            "reasons": self.reasons,
            "c2pa": self.manifest.to_dict(),
            "watermark": self.watermark.to_dict() if self.watermark else None,
            "ledger": self.ledger,
            **self.extra,
        }


# ------------------------------------------------------------------------------ profiles
class TrustSection(StrictModel):
    anchors: list[str] = Field(default_factory=lambda: ["workspace"])


class WatermarkSection(StrictModel):
    scheme: str = SCHEME
    key: str = "workspace"
    key_id: str | None = None  # when set, the key must have this public id
    max_p_value: float = Field(1e-6, gt=0, le=1e-3)


class LedgerSection(StrictModel):
    url: str = "workspace"


class LimitsSection(StrictModel):
    max_file_mb: float = Field(4096.0, gt=0)
    max_frames: int = Field(90_000, gt=0)


class DetectorProfile(StrictModel):
    """What a verifier trusts and how it decides (detectors/*.toml)."""

    name: str = Field(min_length=1)
    description: str = ""
    trust: TrustSection = TrustSection()
    watermark: WatermarkSection = WatermarkSection()
    ledger: LedgerSection = LedgerSection()
    limits: LimitsSection = LimitsSection()


def load_profile(path: str | Path | None = None,
                 workspace: Workspace | None = None) -> tuple[DetectorProfile, Path]:
    """A profile file or name ("default": the workspace's detectors/ then the bundled one)."""
    folders = [workspace.root / "detectors" if workspace else None, bundled_dir("detectors")]
    resolved = resolve(path or "default", folders)
    profile, _ = load_model(resolved, DetectorProfile, "detector profile", ProfileError)
    if profile.watermark.scheme != SCHEME:
        raise ProfileError(f"detector profile {resolved}: key 'watermark.scheme': "
                           f"unsupported scheme {profile.watermark.scheme!r} (this is {SCHEME})")
    return profile, resolved


class Detector:
    def __init__(self, workspace: Workspace, extra_anchors_pem: str = "",
                 profile: DetectorProfile | str | Path | None = None) -> None:
        self.workspace = workspace
        if isinstance(profile, DetectorProfile):
            self.profile, base = profile, workspace.root
        else:
            self.profile, path = load_profile(profile, workspace)
            base = path.parent
        p = self.profile
        initialized = workspace.is_initialized()

        def need_workspace(what: str) -> None:
            if not initialized:
                raise WorkspaceError(f"detector profile {p.name!r} uses the workspace's {what}, "
                                     f"but there is no workspace at {workspace.root}")

        anchors = []
        for item in p.trust.anchors:
            if item == "workspace":
                anchors.append(workspace.trust_anchors_pem())
            else:
                try:
                    anchors.append((base / item).read_text())
                except (OSError, UnicodeDecodeError):
                    raise ProfileError(f"detector profile {p.name!r}: cannot read trust anchor "
                                       f"file {base / item}") from None
        self.anchors = "".join(anchors) + extra_anchors_pem

        self._wm_key = None
        if p.watermark.key == "workspace":
            need_workspace("watermark key")
            self._wm_key = workspace.watermark_key()
        elif p.watermark.key != "none":
            from emo_safe.keys import load_secret_key

            try:
                self._wm_key = load_secret_key(base / p.watermark.key)
            except KeyFileError as exc:
                raise ProfileError(f"detector profile {p.name!r}: {exc.message}") from None
        if self._wm_key is not None and p.watermark.key_id and \
                key_id(self._wm_key) != p.watermark.key_id:
            raise ProfileError(f"detector profile {p.name!r}: the watermark key is not the one "
                               f"the profile names (key_id {p.watermark.key_id})")

        self._store = None
        if p.ledger.url == "workspace":
            self._store = workspace.store() if initialized else None
        elif p.ledger.url != "none":
            from emo_safe.ledger.store import LedgerStore

            self._store = LedgerStore(p.ledger.url)

    def verify(self, path: str | Path) -> Verdict:
        path = Path(path)
        limits = self.profile.limits
        # Unreadable, corrupt or oversized input -> InputError (exit 2) before anything else.
        info = probe(path, max_bytes=int(limits.max_file_mb * 1e6))
        if info.format == "image2" or info.format.endswith("_pipe"):
            raise InputError(f"{path} is an image ({info.format}), not a video")
        ev = read_manifest(path, self.anchors, self.workspace.assertion_label, info.format)
        tap = fp.FingerprintTap(info.fps)
        wm = None
        if self._wm_key is not None:  # one decode feeds the watermark and the fingerprint
            wm = detect_frames(tap.tap(iter_frames(path, max_frames=limits.max_frames)),
                               self._wm_key, info.fps)
            wm.detected = wm.p_value <= self.profile.watermark.max_p_value

        ledger_row, row, similarity, by_hash = None, None, None, False
        if self._store is not None:
            if ev.generation and ev.state == TRUSTED:
                row = self._store.get_generation(str(ev.generation.get("generation_id", "")))
            if row is None:  # the exact file we published, whatever its manifest says to others
                row = self._store.find_generation(output_sha256=sha256_file(path))
                by_hash = row is not None
            if row is None and wm is not None and wm.payload:
                row = self._store.find_generation(watermark_payload=wm.payload)
                stored = json.loads(row.fingerprint or "[]") if row is not None else []
                if stored:
                    similarity = fp.similarity(tap.hashes, fp.parse_hex(stored))
            ledger_row = row.public_dict() if row is not None else None

        reasons: list[str] = []
        if ev.state == INVALID:
            outcome = TAMPERED
            codes = ", ".join(ev.failure_codes) or "unknown"
            reasons.append(f"a C2PA manifest is present but does not validate ({codes}): the "
                           "content or the manifest was changed after signing")
        elif ev.state == TRUSTED:
            outcome = GENERATED
            reasons.append("a C2PA manifest signed by a trusted signer of this deployment is "
                           "present and the video data still matches it")
            if ev.ai_generated:
                reasons.append("the manifest declares the video AI-generated "
                               "(digitalSourceType trainedAlgorithmicMedia)")
        elif by_hash:
            outcome = GENERATED
            reasons.append(f"the file is byte for byte the output of generation {row.id} as "
                           "recorded in this deployment's ledger")
        elif (wm is not None and wm.detected and similarity is not None
              and similarity < fp.MATCH_SHARE):
            outcome = INCONSISTENT
            reasons.append(f"this deployment's watermark is present (p = {wm.p_value:.1e}) and "
                           f"names generation {row.id}, but the video does not look like that "
                           f"generation ({similarity:.0%} of its sampled frames match the "
                           "recorded fingerprint): the watermark was probably copied onto "
                           "other footage (forgery suspected)")
        elif wm is not None and wm.detected:
            outcome = GENERATED_MANIFEST_STRIPPED
            where = "no C2PA manifest" if ev.state == ABSENT else "no trusted C2PA manifest"
            reasons.append(f"{where}, but this deployment's watermark is present "
                           f"(p = {wm.p_value:.1e}, threshold 1e-6)")
            if wm.payload is None:
                reasons.append("the watermark's payload could not be read, so the generation "
                               "is not identified")
        else:
            outcome = NO_EVIDENCE
            reasons.append("no C2PA manifest is present" if ev.state == ABSENT else
                           "a valid C2PA manifest is present but its signer is not trusted by "
                           "this deployment")
            if wm is not None:
                reasons.append(f"this deployment's watermark was not detected "
                               f"(p = {wm.p_value:.2g})")
        if wm is not None and wm.detected and outcome == GENERATED:
            reasons.append(f"this deployment's watermark is present (p = {wm.p_value:.1e})")
        if ledger_row and outcome != INCONSISTENT:
            reasons.append(f"the ledger records generation {ledger_row['id']} "
                           f"(decision {ledger_row['decision_id']})")
            if similarity is not None:
                reasons.append(f"{similarity:.0%} of the sampled frames match the generation's "
                               "recorded fingerprint")
        extra = {"profile": self.profile.name}
        if similarity is not None:
            extra["fingerprint_similarity"] = similarity
        return Verdict(path=path, outcome=outcome, reasons=reasons, manifest=ev, watermark=wm,
                       ledger=ledger_row, extra=extra)
