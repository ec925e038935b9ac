"""Sign an MP4 with a C2PA manifest declaring it AI-generated (C2PA 2.4; docs/provenance.md
lists every assertion with a real example).

The manifest carries: ``claim_generator_info`` (emo-safe and version); ``c2pa.actions.v2`` with
a ``c2pa.created`` action whose ``digitalSourceType`` is IPTC's ``trainedAlgorithmicMedia``,
whose ``softwareAgent`` is the generator and whose ``parameters.ingredients`` are the inputs,
and, when the video is watermarked, a ``c2pa.watermarked.bound`` action; the portrait and the
audio as ``c2pa.ingredient.v3`` with relationship ``inputTo``, by hash and media type only (no
thumbnail, no data: they are personal data); a generation assertion (label namespace
configurable, default ``org.emo-safe.generation``) with ids and hashes only — no names, no
embeddings; a ``c2pa.soft-binding`` assertion naming the watermark scheme and payload, scoped
by ``timespan`` to the whole video, and a second one for the audio mark when the audio is
marked (scoped to the whole audio track); and, when the signer certificate names an OCSP responder,
a ``c2pa.certificate-status`` assertion with its answer at signing time. The signature
carries an RFC 3161 timestamp when a TSA is configured.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

import c2pa

from emo_safe._version import __version__
from emo_safe.errors import SigningError
from emo_safe.provenance.signers import ClaimSigner

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
    duration_ms: int | None = None  # the soft binding's timespan: the whole video
    input_types: dict = field(default_factory=dict)  # {"photo": "image/jpeg", ...}
    audio_watermark: dict | None = None  # the audio track's mark, like ``watermark``
    audio_duration_ms: int | None = None

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
        if self.audio_watermark:
            data["audio_watermark"] = self.audio_watermark
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


def _ni_uri(sha256_hex: str) -> str:
    """A hash as an RFC 6920 named-information URI (``ni:///sha-256;...``)."""
    raw = bytes.fromhex(sha256_hex)
    return "ni:///sha-256;" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


# The inputs as ingredients: a neutral title (a file name can name a person), the media type,
# and the content hash as the instance id. Nothing else: no thumbnail, no data.
_INGREDIENT_TITLES = {"photo": "portrait photo", "audio": "driving audio"}


def _ingredients(claim: GenerationClaim) -> list[dict]:
    out = []
    for role in ("photo", "audio"):
        digest = (claim.input_sha256 or {}).get(role)
        if not digest:
            continue
        out.append({"title": _INGREDIENT_TITLES[role],
                    "format": (claim.input_types or {}).get(role, "application/octet-stream"),
                    "relationship": "inputTo", "instance_id": _ni_uri(digest),
                    "label": f"input-{role}"})
    return out


def build_manifest(claim: GenerationClaim, label: str, title: str = NEUTRAL_TITLE,
                   certificate_status: list[bytes] = ()) -> dict:
    """The manifest definition. ``title`` is neutral by default: an output's file name can
    name a person. ``certificate_status``: DER OCSP responses about the signer certificate
    (see :func:`fetch_certificate_status`)."""
    ingredients = _ingredients(claim)
    created = {
        "action": "c2pa.created",
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": {"name": claim.generator, "version": claim.generator_version},
    }
    if ingredients:  # c2pa-rs turns these ids into hashed URIs of the ingredient assertions
        created["parameters"] = {"ingredientIds": [i["label"] for i in ingredients]}
    actions = [created]
    marks = [m for m in (claim.watermark, claim.audio_watermark) if m]
    if marks:
        # The mark is bound to this manifest by the soft binding below. (The SDK cannot point
        # parameters.relatedAssertions at it: it resolves hashed URIs only for ingredients,
        # and the soft binding's hash is salted when the claim is built.)
        actions.append({"action": "c2pa.watermarked.bound",
                        "softwareAgent": {"name": "emo-safe", "version": __version__},
                        "description": "invisible watermark " + " and ".join(
                            m["scheme"] for m in marks)})
    assertions = [
        {"label": "c2pa.actions.v2", "data": {"actions": actions}},
        {"label": label, "data": claim.assertion_data()},
    ]
    for mark, duration_ms in ((claim.watermark, claim.duration_ms),
                              (claim.audio_watermark, claim.audio_duration_ms)):
        if not mark:
            continue
        scope = {"timespan": {"start": 0, "end": int(duration_ms)}} if duration_ms else {}
        assertions.append({
            "label": "c2pa.soft-binding",
            "data": {
                "alg": mark["scheme"],
                # A list of byte values is how the builder's JSON writes a CBOR byte string:
                # the value is the payload's bytes, as the soft binding's CDDL asks.
                "blocks": [{"scope": scope, "value": list(bytes.fromhex(mark["payload"]))}],
            },
        })
    if certificate_status:
        assertions.append({"label": "c2pa.certificate-status",
                           "data": {"ocspVals": [list(der) for der in certificate_status]}})
    return {
        "claim_generator_info": [{"name": "emo-safe", "version": __version__}],
        "title": title,
        "format": "video/mp4",
        "ingredients": ingredients,
        "assertions": assertions,
    }


def fetch_certificate_status(chain_pem: str, timeout_s: float = 10.0) -> bytes | None:
    """The OCSP answer about the signer certificate from the responder its Authority
    Information Access names (None when it names none), checked before anything is signed: a
    revoked or unknown signer, or a responder that does not answer, is a
    :class:`SigningError`."""
    import urllib.error
    import urllib.request

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp

    from emo_safe.keys import ocsp_urls

    certs = x509.load_pem_x509_certificates(chain_pem.encode())
    urls = ocsp_urls(certs[0])
    if not urls or len(certs) < 2:
        return None
    request = ocsp.OCSPRequestBuilder().add_certificate(certs[0], certs[1], hashes.SHA1()) \
        .build().public_bytes(serialization.Encoding.DER)
    try:
        with urllib.request.urlopen(urllib.request.Request(
                urls[0], data=request, headers={"Content-Type": "application/ocsp-request"}),
                timeout=timeout_s) as answer:
            der = answer.read(1 << 20)
        response = ocsp.load_der_ocsp_response(der)
    except (urllib.error.URLError, OSError, ValueError):
        raise SigningError(f"the OCSP responder {urls[0]} did not answer about the signer "
                           "certificate; nothing was signed") from None
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise SigningError(f"the OCSP responder {urls[0]} refused the request "
                           f"({response.response_status.name.lower()})")
    if response.certificate_status == ocsp.OCSPCertStatus.REVOKED:
        raise SigningError("the signer certificate is revoked (OCSP): rotate the signer "
                           "(emo-safe keys rotate); nothing was signed")
    if response.certificate_status != ocsp.OCSPCertStatus.GOOD:
        raise SigningError("the OCSP responder does not know the signer certificate")
    return der


class TimestampUnavailable(SigningError):
    """The TSA did not answer (c2pa-rs signs nothing without the token it asked for)."""


def sign_mp4(src: Path, dest: Path, manifest: dict, signer: ClaimSigner,
             tsa_url: str | None = None) -> bytes:
    """Write ``src`` with ``manifest`` embedded to ``dest`` (a new file). Returns the signed
    manifest store c2pa-rs embedded (JUMBF bytes), which the manifest repository keeps.
    ``tsa_url``: an RFC 3161 time-stamping authority; when it does not answer,
    :class:`TimestampUnavailable` is raised and nothing is written."""
    raised: list[SigningError] = []

    def sign_callback(data: bytes) -> bytes:
        try:
            return signer.sign(data)
        except SigningError as exc:  # c2pa-rs would only say "signature failed": keep ours
            raised.append(exc)
            raise

    try:
        # Closed deterministically when the block ends (c2pa-python's own examples do so).
        with c2pa.Signer.from_callback(sign_callback, _ALGS[signer.alg], signer.chain_pem,
                                       tsa_url) as c2pa_signer, \
                c2pa.Builder(json.dumps(manifest)) as builder, \
                open(src, "rb") as source, open(dest, "w+b") as target:
            return bytes(builder.sign(c2pa_signer, "video/mp4", source, target))
    except c2pa.C2paError as exc:
        if raised:
            raise raised[0] from None
        if tsa_url and "http" in str(exc).lower():
            raise TimestampUnavailable(f"the timestamp authority {tsa_url} did not answer; "
                                       "nothing was signed") from None
        # The message is c2pa-rs's own text about the asset or certificate, never key bytes.
        raise SigningError(f"C2PA signing failed: {type(exc).__name__}") from None
