"""Read and validate the C2PA manifest of a file against the workspace's trust anchors."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import c2pa

from emo_safe.provenance.sign import TRAINED_ALGORITHMIC_MEDIA

TRUSTED = "trusted"
VALID_UNTRUSTED = "valid-untrusted"
INVALID = "invalid"
ABSENT = "absent"


@dataclass
class ManifestEvidence:
    """The C2PA evidence of one file. ``state`` is trusted / valid-untrusted / invalid / absent."""

    state: str
    failure_codes: list[str] = field(default_factory=list)
    manifest_label: str | None = None
    ai_generated: bool = False
    generator: dict | None = None
    generation: dict | None = None  # the generation assertion's data
    soft_binding: dict | None = None
    claim_generator: str | None = None
    signer_issuer: str | None = None
    error: str | None = None

    @property
    def hard_binding_ok(self) -> bool | None:
        """Does the manifest's hash of the content still match? None without a manifest."""
        if self.state == ABSENT:
            return None
        return self.state in (TRUSTED, VALID_UNTRUSTED) or not any(
            "hash" in c.lower() and "mismatch" in c.lower() for c in self.failure_codes
        )

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "failure_codes": self.failure_codes,
            "manifest_label": self.manifest_label,
            "ai_generated": self.ai_generated,
            "generator": self.generator,
            "generation": self.generation,
            "soft_binding": self.soft_binding,
            "claim_generator": self.claim_generator,
            "signer_issuer": self.signer_issuer,
            "hard_binding_ok": self.hard_binding_ok,
            **({"error": self.error} if self.error else {}),
        }


def _context(trust_anchors_pem: str) -> c2pa.Context:
    settings: dict = {"verify": {"verify_trust": True}}
    if trust_anchors_pem.strip():
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return c2pa.Context.from_dict(settings)


def read_manifest(path: str | Path, trust_anchors_pem: str = "",
                  assertion_label: str = "org.emo-safe.generation",
                  container: str | None = None) -> ManifestEvidence:
    """``container``: FFmpeg's format name from a probe. Manifests are read from the ISO BMFF
    family (MP4/MOV) only; other containers (WebM, Matroska...) carry none we can read."""
    path = Path(path)
    if container and not any(k in container for k in ("mp4", "mov")):
        return ManifestEvidence(ABSENT, error=f"no C2PA manifest is read from {container} files")
    try:
        with open(path, "rb") as fh:
            reader = c2pa.Reader("video/mp4", fh, context=_context(trust_anchors_pem))
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return ManifestEvidence(ABSENT)
    except c2pa.C2paError as exc:
        # A manifest is there but cannot even be parsed: as good as a forged one.
        return ManifestEvidence(INVALID, failure_codes=[f"c2pa.{type(exc).__name__}"],
                                error="the C2PA manifest is malformed")

    state_raw = (store.get("validation_state") or "").lower()
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures = [f.get("code", "") for f in active.get("failure", [])]
    if not failures:  # older layouts put everything in validation_status
        failures = [s.get("code", "") for s in store.get("validation_status") or []
                    if "untrusted" in s.get("code", "") or "mismatch" in s.get("code", "")]
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label or "", {})

    if state_raw == "trusted":
        state = TRUSTED
    elif state_raw == "valid":
        state = VALID_UNTRUSTED
    else:
        untrusted_only = failures and all(c == "signingCredential.untrusted" for c in failures)
        state = VALID_UNTRUSTED if untrusted_only else INVALID

    ev = ManifestEvidence(state=state, failure_codes=failures, manifest_label=label)
    gi = manifest.get("claim_generator_info") or []
    if gi:
        ev.claim_generator = " ".join(str(gi[0].get(k, "")) for k in ("name", "version")).strip()
    sig = manifest.get("signature_info") or {}
    ev.signer_issuer = sig.get("issuer")
    for assertion in manifest.get("assertions", []):
        lab, data = assertion.get("label", ""), assertion.get("data") or {}
        if lab.startswith("c2pa.actions"):
            for action in data.get("actions", []):
                if action.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA:
                    ev.ai_generated = True
                    agent = action.get("softwareAgent")
                    ev.generator = agent if isinstance(agent, dict) else {"name": agent}
        elif lab == assertion_label:
            ev.generation = data
        elif lab.startswith("c2pa.soft-binding"):
            ev.soft_binding = data
    return ev
