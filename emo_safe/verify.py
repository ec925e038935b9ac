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

from emo_safe import fingerprint as fp
from emo_safe.media import iter_frames, probe
from emo_safe.provenance.read import ABSENT, INVALID, TRUSTED, ManifestEvidence, read_manifest
from emo_safe.watermark import WatermarkEvidence, detect_frames
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


class Detector:
    def __init__(self, workspace: Workspace, extra_anchors_pem: str = "") -> None:
        self.workspace = workspace
        self.anchors = workspace.trust_anchors_pem() + extra_anchors_pem
        initialized = workspace.is_initialized()
        self._store = workspace.store() if initialized else None
        self._wm_key = workspace.watermark_key() if initialized else None

    def verify(self, path: str | Path) -> Verdict:
        path = Path(path)
        info = probe(path)  # unreadable or corrupt input -> InputError (exit 2) first
        ev = read_manifest(path, self.anchors, self.workspace.assertion_label)
        tap = fp.FingerprintTap(info.fps)
        wm = None
        if self._wm_key is not None:  # one decode feeds the watermark and the fingerprint
            wm = detect_frames(tap.tap(iter_frames(path)), self._wm_key, info.fps)

        ledger_row, row, similarity = None, None, None
        if self._store is not None:
            if ev.generation and ev.state == TRUSTED:
                row = self._store.get_generation(str(ev.generation.get("generation_id", "")))
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
        extra = {"fingerprint_similarity": similarity} if similarity is not None else {}
        return Verdict(path=path, outcome=outcome, reasons=reasons, manifest=ev, watermark=wm,
                       ledger=ledger_row, extra=extra)
