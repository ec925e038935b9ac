"""Sign an MP4 with a C2PA manifest declaring it AI-generated.

The manifest carries: ``claim_generator_info`` (emo-safe and version); ``c2pa.actions`` with a
``c2pa.created`` action whose ``digitalSourceType`` is IPTC's ``trainedAlgorithmicMedia`` and
whose ``softwareAgent`` is the generator; a generation assertion (label namespace configurable,
default ``org.emo-safe.generation``) with ids and hashes only — no names, no embeddings; and,
when the video is watermarked, a ``c2pa.soft-binding`` assertion naming the scheme and payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import c2pa

from emo_safe._version import __version__
from emo_safe.errors import SigningError
from emo_safe.keys import SignerKey

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"

_ALGS = {
    "es256": c2pa.C2paSigningAlg.ES256,
    "es384": c2pa.C2paSigningAlg.ES384,
    "es512": c2pa.C2paSigningAlg.ES512,
    "ed25519": c2pa.C2paSigningAlg.ED25519,
}


@dataclass(frozen=True)
class GenerationClaim:
    """What the generation assertion says. Ids and hashes only, by construction."""

    generation_id: str
    decision_id: str
    policy_name: str
    policy_sha256: str
    consent_ids: list[str]
    generator: str
    generator_version: str
    settings: dict = field(default_factory=dict)
    input_sha256: dict = field(default_factory=dict)  # {"photo": ..., "audio": ...}
    watermark: dict | None = None  # {"scheme": ..., "payload": hex, "key_id": ...}

    def assertion_data(self) -> dict:
        return _cbor_safe(self._data())

    def _data(self) -> dict:
        data = {
            "generation_id": self.generation_id,
            "decision_id": self.decision_id,
            "policy": {"name": self.policy_name, "sha256": self.policy_sha256},
            "consent_ids": list(self.consent_ids),
            "generator": {"name": self.generator, "version": self.generator_version},
            "settings": self.settings,
            "inputs_sha256": self.input_sha256,
        }
        if self.watermark:
            data["watermark"] = self.watermark
        return data


NEUTRAL_TITLE = "AI-generated video"


def _cbor_safe(value):
    """c2pa-rs turns a JSON list made only of numbers into a CBOR byte string ([1136, 910]
    reads back as bytes mod 256, a list of floats as nothing): such a list is written as its
    JSON text instead, so the manifest says what the ledger says."""
    if isinstance(value, dict):
        return {k: _cbor_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = list(value)
        if items and all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
            return json.dumps(items)
        return [_cbor_safe(v) for v in items]
    return value


def build_manifest(claim: GenerationClaim, label: str, title: str = NEUTRAL_TITLE) -> dict:
    """The manifest definition. ``title`` is neutral by default: an output's file name can
    name a person."""
    assertions = [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                        "softwareAgent": {
                            "name": claim.generator,
                            "version": claim.generator_version,
                        },
                    }
                ]
            },
        },
        {"label": label, "data": claim.assertion_data()},
    ]
    if claim.watermark:
        assertions.append({
            "label": "c2pa.soft-binding",
            "data": {
                "alg": claim.watermark["scheme"],
                "blocks": [{"scope": {}, "value": claim.watermark["payload"]}],
            },
        })
    return {
        "claim_generator_info": [{"name": "emo-safe", "version": __version__}],
        "title": title,
        "format": "video/mp4",
        "assertions": assertions,
    }


def sign_mp4(src: Path, dest: Path, manifest: dict, signer: SignerKey) -> bytes:
    """Write ``src`` with ``manifest`` embedded to ``dest`` (a new file). Returns the signed
    manifest store c2pa-rs embedded (JUMBF bytes), which the manifest repository keeps."""
    try:
        # Closed deterministically when the block ends (c2pa-python's own examples do so).
        with c2pa.Signer.from_callback(signer.sign, _ALGS[signer.alg],
                                       signer.chain_pem) as c2pa_signer, \
                c2pa.Builder(json.dumps(manifest)) as builder, \
                open(src, "rb") as source, open(dest, "w+b") as target:
            return bytes(builder.sign(c2pa_signer, "video/mp4", source, target))
    except c2pa.C2paError as exc:
        # The message is c2pa-rs's own text about the asset or certificate, never key bytes.
        raise SigningError(f"C2PA signing failed: {type(exc).__name__}") from None
