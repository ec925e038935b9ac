"""The detection front door: gather evidence about a video and explain a :class:`Verdict`.

Outcomes (a small fixed set; a verdict never claims that a video is real):

- ``generated``: a manifest trusted by this deployment's anchors declares the video AI-generated
  by emo-safe, or this deployment's watermark is detected at the calibrated threshold;
- ``generated-manifest-stripped``: no manifest, but the watermark identifies the generation;
- ``tampered``: a manifest is present but does not validate (content or claim changed);
- ``no-evidence``: nothing links the video to this deployment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from emo_safe.media import probe
from emo_safe.provenance.read import ABSENT, INVALID, TRUSTED, ManifestEvidence, read_manifest
from emo_safe.workspace import Workspace

GENERATED = "generated"
GENERATED_MANIFEST_STRIPPED = "generated-manifest-stripped"
TAMPERED = "tampered"
NO_EVIDENCE = "no-evidence"

EXIT_CODES = {GENERATED: 0, GENERATED_MANIFEST_STRIPPED: 0, TAMPERED: 3, NO_EVIDENCE: 1}


@dataclass
class Verdict:
    path: Path
    outcome: str
    reasons: list[str]
    manifest: ManifestEvidence
    watermark: dict | None = None
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
            "watermark": self.watermark,
            "ledger": self.ledger,
        }


class Detector:
    def __init__(self, workspace: Workspace, extra_anchors_pem: str = "") -> None:
        self.workspace = workspace
        self.anchors = workspace.trust_anchors_pem() + extra_anchors_pem
        self._store = workspace.store() if workspace.is_initialized() else None

    def verify(self, path: str | Path) -> Verdict:
        path = Path(path)
        probe(path)  # unreadable or corrupt input -> InputError (exit 2) before anything else
        ev = read_manifest(path, self.anchors, self.workspace.assertion_label)
        ledger_row = None
        if self._store is not None and ev.generation and ev.state == TRUSTED:
            row = self._store.get_generation(str(ev.generation.get("generation_id", "")))
            ledger_row = row.public_dict() if row is not None else None

        reasons: list[str] = []
        if ev.state == TRUSTED:
            outcome = GENERATED
            reasons.append("a C2PA manifest signed by a trusted signer of this deployment is "
                           "present and the video data still matches it")
            if ev.ai_generated:
                reasons.append("the manifest declares the video AI-generated "
                               "(digitalSourceType trainedAlgorithmicMedia)")
            if ledger_row:
                reasons.append(f"the ledger records generation {ledger_row['id']}")
        elif ev.state == INVALID:
            outcome = TAMPERED
            codes = ", ".join(ev.failure_codes) or "unknown"
            reasons.append(f"a C2PA manifest is present but does not validate ({codes}): the "
                           "content or the manifest was changed after signing")
        elif ev.state == ABSENT:
            outcome = NO_EVIDENCE
            reasons.append("no C2PA manifest is present")
        else:
            outcome = NO_EVIDENCE
            reasons.append("a valid C2PA manifest is present but its signer is not trusted by "
                           "this deployment")
        return Verdict(path=path, outcome=outcome, reasons=reasons, manifest=ev, ledger=ledger_row)
