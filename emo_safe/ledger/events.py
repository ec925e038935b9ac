"""The signed log format: for each kind of data row, the event the audit log records.

This is *not* a display view. What a row's event contains is frozen per version: `audit
verify` re-derives a row's event at the version it was logged with and compares the two, so a
later release may add display fields (``public_dict``) freely, and must add a new version here
(never edit an old one) to log more. Version 0 is what emo-safe 0.1 logged (no ``"v"`` key);
version 1 carries ``"v": 1``.

Events hold ids, hashes and reasons; a consent event holds the face template's sha256, never
the template (biometric data stays in its column).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

LOG_EVENT_VERSION = 1
KNOWN_VERSIONS = (0, 1)
# event kind -> the table whose rows it describes (other kinds have no data row)
TABLE_OF_KIND = {"consent-added": "consents", "consent-revoked": "consents",
                 "decision": "decisions", "generation": "generations"}


def iso(value: dt.datetime | None) -> str | None:
    """A stored time in the one form the log uses: ISO 8601 in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite drops the zone; everything is stored in UTC
        value = value.replace(tzinfo=dt.UTC)
    # PostgreSQL hands timestamptz back in the server's zone: the logged form is always UTC.
    return value.astimezone(dt.UTC).isoformat()


def _consent(row) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "photo_sha256": row.photo_sha256,
        "scope": json.loads(row.scope or "[]"),
        "created_at": iso(row.created_at),
        "valid_from": iso(row.valid_from),
        "expires_at": iso(row.expires_at),
        "revoked_at": iso(row.revoked_at),
        "evidence_sha256": row.evidence_sha256,
        "issuer": row.issuer,
        "signature": row.signature,
        "revocation_signature": row.revocation_signature,
        "template_sha256": hashlib.sha256(row.face_template).hexdigest(),
    }


def _decision(row) -> dict:
    return {
        "id": row.id,
        "created_at": iso(row.created_at),
        "allowed": row.allowed,
        "policy_name": row.policy_name,
        "policy_sha256": row.policy_sha256,
        "reasons": json.loads(row.reasons),
        "matched": json.loads(row.matched),
        "photo_sha256": row.photo_sha256,
        "audio_sha256": row.audio_sha256,
        "generator": row.generator,
    }


def _generation(row, version: int) -> dict:
    fingerprint = json.loads(row.fingerprint or "[]")
    out = {
        "id": row.id,
        "decision_id": row.decision_id,
        "created_at": iso(row.created_at),
        "generator": row.generator,
        "generator_version": row.generator_version,
        "settings": json.loads(row.settings),
        "policy_sha256": row.policy_sha256,
        "photo_sha256": row.photo_sha256,
        "audio_sha256": row.audio_sha256,
        "output_sha256": row.output_sha256,
        "manifest_id": row.manifest_id,
        "watermark_payload": row.watermark_payload,
        "consent_ids": json.loads(row.consent_ids),
        "frames": row.frames,
    }
    if version == 0:  # 0.1 logged this display figure too
        out["fingerprint_seconds"] = len(fingerprint) if isinstance(fingerprint, list) else 0
    out["fingerprint"] = fingerprint
    return out


_BUILDERS = {"consents": lambda row, v: _consent(row), "decisions": lambda row, v: _decision(row),
             "generations": _generation}


def row_event(table: str, row, version: int = LOG_EVENT_VERSION) -> dict:
    """The event that describes ``row`` of ``table`` in log format ``version``."""
    if version not in KNOWN_VERSIONS:
        raise ValueError(f"log event version {version} is newer than this emo-safe")
    data = _BUILDERS[table](row, version)
    return data if version == 0 else {"v": version, **data}


def event_version(data: dict) -> int:
    """The format version of a logged event's data (0 for events without ``"v"``)."""
    v = data.get("v", 0)
    return v if isinstance(v, int) and not isinstance(v, bool) else -1
