"""Read and validate the C2PA manifest of a file against the workspace's trust anchors."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path

import c2pa

from emo_safe.provenance.sign import TRAINED_ALGORITHMIC_MEDIA


class ManifestState(enum.StrEnum):
    """What the C2PA evidence of one file says (the JSON spells each as its value)."""

    TRUSTED = "trusted"  # valid, and signed by a certificate chaining to a trust anchor
    VALID_UNTRUSTED = "valid-untrusted"  # valid, but the signer is not trusted here
    INVALID = "invalid"  # present but does not validate: content or claim changed
    REVOKED = "revoked"  # valid, but its signer's certificate was revoked (OCSP)
    ABSENT = "absent"  # no manifest


TRUSTED = ManifestState.TRUSTED
VALID_UNTRUSTED = ManifestState.VALID_UNTRUSTED
INVALID = ManifestState.INVALID
REVOKED = ManifestState.REVOKED

# c2pa-rs's validation codes this module reads (C2PA 2.x section 15).
CODE_REVOKED = "signingCredential.ocsp.revoked"
CODE_EXPIRED = "signingCredential.expired"
CODE_UNTRUSTED = "signingCredential.untrusted"
CODE_TIMESTAMP_TRUSTED = "timeStamp.trusted"
CODE_NOT_REVOKED = "signingCredential.ocsp.notRevoked"
# The signature itself holds, only the credential is not (or no longer) good here.
CREDENTIAL_ONLY_CODES = frozenset({CODE_UNTRUSTED, CODE_EXPIRED})
ABSENT = ManifestState.ABSENT


@dataclass(frozen=True)
class ManifestEvidence:
    """The C2PA evidence of one file."""

    state: ManifestState
    failure_codes: tuple[str, ...] = ()
    manifest_label: str | None = None
    ai_generated: bool = False
    generator: dict | None = None
    generation: dict | None = None  # the generation assertion's data
    soft_binding: dict | None = None  # the first soft binding (the video mark's)
    soft_bindings: tuple[dict, ...] = ()  # every soft binding (video and audio marks)
    claim_generator: str | None = None
    signer_issuer: str | None = None
    signer_serial: str | None = None  # hex, as `emo-safe keys list` shows it
    signed_at: str | None = None  # the trusted timestamp's time (RFC 3161), if any
    timestamp_trusted: bool = False
    not_revoked: bool = False  # an OCSP answer (recorded or fetched) said "good"
    error: str | None = None

    @property
    def revoked(self) -> bool:
        return CODE_REVOKED in self.failure_codes

    @property
    def expired(self) -> bool:
        return CODE_EXPIRED in self.failure_codes

    @property
    def hard_binding_ok(self) -> bool | None:
        """Does the manifest's hash of the content still match? None without a manifest."""
        if self.state == ABSENT:
            return None
        return self.state in (TRUSTED, VALID_UNTRUSTED, REVOKED) or not any(
            "hash" in c.lower() and "mismatch" in c.lower() for c in self.failure_codes
        )

    def binds(self, scheme: str, payload_hex: str) -> bool:
        """Does one of the soft bindings name this mark (scheme and value)?"""
        return any(b.get("alg") == scheme and any(
            str(block.get("value", "")).lower() == payload_hex.lower()
            for block in b.get("blocks") or []) for b in self.soft_bindings)

    def to_dict(self) -> dict:
        return {
            "state": str(self.state),
            "failure_codes": list(self.failure_codes),
            "manifest_label": self.manifest_label,
            "ai_generated": self.ai_generated,
            "generator": self.generator,
            "generation": self.generation,
            "soft_binding": self.soft_binding,
            "soft_bindings": list(self.soft_bindings),
            "claim_generator": self.claim_generator,
            "signer_issuer": self.signer_issuer,
            "signer_serial": self.signer_serial,
            "signed_at": self.signed_at,
            "timestamp_trusted": self.timestamp_trusted,
            "revocation": "revoked" if self.revoked else
                          "not-revoked" if self.not_revoked else "unknown",
            "hard_binding_ok": self.hard_binding_ok,
            **({"error": self.error} if self.error else {}),
        }


def _settings(trust_anchors_pem: str, ocsp_fetch: bool = False) -> dict:
    """``ocsp_fetch``: ask the OCSP responder each signer certificate names (network), instead
    of relying on the answers recorded in the manifest."""
    settings: dict = {"verify": {"verify_trust": True, "ocsp_fetch": bool(ocsp_fetch)}}
    if trust_anchors_pem.strip():
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return settings


# Codes that say only that the content no longer hashes to what was signed: expected for a
# manifest store recovered for a re-encoded copy (its hard binding is to the original bytes).
# (Not assertion.hashedURI.mismatch: that is an assertion changed after signing.)
HARD_BINDING_CODES = frozenset({"assertion.bmffHash.mismatch", "assertion.dataHash.mismatch",
                                "assertion.boxesHash.mismatch"})


def read_manifest_store(store: bytes, trust_anchors_pem: str = "",
                        assertion_label: str = "org.emo-safe.generation",
                        ocsp_fetch: bool = False) -> ManifestEvidence:
    """Validate a detached manifest store (``application/c2pa``, e.g. from a manifest
    repository) against the trust anchors. It has no asset beside it, so its hard binding
    cannot match: that failure alone leaves the state ``trusted`` or ``valid-untrusted``, and
    it stays listed in ``failure_codes``."""
    import io

    try:
        with c2pa.Context.from_dict(_settings(trust_anchors_pem, ocsp_fetch)) as context, \
                c2pa.Reader("application/c2pa", io.BytesIO(store), context=context) as reader:
            data = json.loads(reader.json())
    except c2pa.C2paError as exc:
        return ManifestEvidence(INVALID, failure_codes=(f"c2pa.{type(exc).__name__}",),
                                error="the stored manifest store is malformed")
    return _evidence(data, assertion_label, ignore=HARD_BINDING_CODES)


def read_manifest(path: str | Path, trust_anchors_pem: str = "",
                  assertion_label: str = "org.emo-safe.generation",
                  container: str | None = None, ocsp_fetch: bool = False) -> ManifestEvidence:
    """``container``: FFmpeg's format name from a probe. Manifests are read from the ISO BMFF
    family (MP4/MOV) only; other containers (WebM, Matroska...) carry none we can read."""
    path = Path(path)
    if container and not any(k in container for k in ("mp4", "mov")):
        return ManifestEvidence(ABSENT, error=f"no C2PA manifest is read from {container} files")
    try:
        # Every c2pa object is closed when the block ends, not whenever it is collected.
        with c2pa.Context.from_dict(_settings(trust_anchors_pem, ocsp_fetch)) as context, \
                open(path, "rb") as fh, c2pa.Reader("video/mp4", fh, context=context) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return ManifestEvidence(ABSENT)
    except c2pa.C2paError as exc:
        # A manifest is there but cannot even be parsed: as good as a forged one.
        return ManifestEvidence(INVALID, failure_codes=(f"c2pa.{type(exc).__name__}",),
                                error="the C2PA manifest is malformed")
    return _evidence(store, assertion_label)


def _evidence(store: dict, assertion_label: str,
              ignore: frozenset[str] = frozenset()) -> ManifestEvidence:
    """The evidence of a parsed manifest store. ``ignore``: failure codes that do not lower
    the state (they stay listed)."""
    state_raw = (store.get("validation_state") or "").lower()
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    failures = [f.get("code", "") for f in active.get("failure", [])]
    if not failures:  # older layouts put everything in validation_status
        failures = [s.get("code", "") for s in store.get("validation_status") or []
                    if "untrusted" in s.get("code", "") or "mismatch" in s.get("code", "")]
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label or "", {})

    serious = [c for c in failures if c not in ignore]
    successes = {s.get("code", "") for s in active.get("success", [])}
    signature_holds = "claimSignature.validated" in successes
    if CODE_REVOKED in serious and signature_holds and \
            all(c in CREDENTIAL_ONLY_CODES or c == CODE_REVOKED for c in serious):
        state = REVOKED
    elif state_raw == "trusted":
        state = TRUSTED
    elif state_raw == "valid":
        state = VALID_UNTRUSTED
    elif ignore and not serious and signature_holds:
        state = TRUSTED if "signingCredential.trusted" in successes else VALID_UNTRUSTED
    else:
        credential_only = serious and all(c in CREDENTIAL_ONLY_CODES for c in serious)
        state = VALID_UNTRUSTED if credential_only else INVALID

    found: dict = {"ai_generated": False, "generator": None, "generation": None,
                   "soft_binding": None, "soft_bindings": ()}
    gi = manifest.get("claim_generator_info") or []
    claim_generator = " ".join(str(gi[0].get(k, "")) for k in ("name", "version")).strip() \
        if gi else None
    sig = manifest.get("signature_info") or {}
    for assertion in manifest.get("assertions", []):
        lab, data = assertion.get("label", ""), assertion.get("data") or {}
        if lab.startswith("c2pa.actions"):
            for action in data.get("actions", []):
                if action.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA:
                    agent = action.get("softwareAgent")
                    found["ai_generated"] = True
                    found["generator"] = agent if isinstance(agent, dict) else {"name": agent}
        elif lab == assertion_label:
            found["generation"] = data
        elif lab.startswith("c2pa.soft-binding"):
            view = soft_binding_view(data)
            found["soft_bindings"] = (*found["soft_bindings"], view)
            if found["soft_binding"] is None:
                found["soft_binding"] = view
    serial = sig.get("cert_serial_number")
    try:
        serial = format(int(serial), "x") if serial is not None else None
    except (TypeError, ValueError):
        serial = None
    timestamp_trusted = CODE_TIMESTAMP_TRUSTED in successes
    return ManifestEvidence(state=state, failure_codes=tuple(failures), manifest_label=label,
                            claim_generator=claim_generator, signer_issuer=sig.get("issuer"),
                            signer_serial=serial,
                            signed_at=sig.get("time") if timestamp_trusted else None,
                            timestamp_trusted=timestamp_trusted,
                            not_revoked=CODE_NOT_REVOKED in successes, **found)


def soft_binding_view(data: dict) -> dict:
    """The soft-binding assertion with each block's value as lowercase hex. C2PA writes the
    value as a byte string (the reader's JSON shows it as base64); manifests of emo-safe 0.x
    wrote the payload's hex as text (lowercase), which is kept as it was."""
    import base64
    import binascii

    blocks = []
    for block in data.get("blocks") or []:
        value = block.get("value")
        if isinstance(value, list) and all(isinstance(v, int) for v in value):
            value = bytes(v & 0xFF for v in value).hex()
        elif isinstance(value, str) and not all(c in "0123456789abcdef" for c in value):
            try:
                value = base64.b64decode(value, validate=True).hex()
            except (binascii.Error, ValueError):
                pass
        blocks.append({**block, "value": value.lower() if isinstance(value, str) else value})
    return {**data, "blocks": blocks}
