"""Consent records: who agreed, to which uses, for how long, on what evidence — signed.

A record holds a name or pseudonym, the face template (kept only in the workspace database),
its scope (allowed uses, e.g. talking, singing, commercial), a validity window, and the sha256 of
the evidence (the signed release form or consent video, which stays offline). The operator key
(Ed25519) signs a canonical encoding of all of it, the template's hash included, so a record
edited in the database no longer verifies and the gate refuses it. A revocation is signed too;
the gate treats a record as revoked whenever ``revoked_at`` is set, signed or not (fail closed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

from emo_safe.errors import ConsentError, InputError
from emo_safe.faces import FaceAnalyzer
from emo_safe.ledger.store import ConsentRow, LedgerStore, _iso, as_utc, new_id, utcnow
from emo_safe.media import ImageLimits, load_image, sha256_file
from emo_safe.provenance.keys import OperatorKey, public_key_id, verify_ed25519

KNOWN_USES = ("talking", "singing", "commercial", "research", "parody")
DEFAULT_SCOPE = ("talking", "singing")
_DOMAIN = b"emo-safe consent record v1\n"
_REVOCATION_DOMAIN = b"emo-safe consent revocation v1\n"
_USE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def parse_uses(values) -> tuple[str, ...]:
    """Uses from CLI/TOML values ("talking,singing" or repeated); lower-case words."""
    uses = []
    for value in values:
        for part in str(value).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if not _USE.match(part):
                raise InputError(f"invalid use {part!r}: use lower-case words such as "
                                 + ", ".join(KNOWN_USES))
            uses.append(part)
    return tuple(sorted(set(uses)))


def canonical_record(row: ConsentRow) -> bytes:
    """The signed bytes: every field that gives the record its meaning, in a fixed encoding."""
    body = {
        "id": row.id,
        "name": row.name,
        "template_sha256": hashlib.sha256(row.face_template).hexdigest(),
        "photo_sha256": row.photo_sha256,
        "evidence_sha256": row.evidence_sha256,
        "scope": sorted(row.scopes),
        "created_at": _iso(row.created_at),
        "valid_from": _iso(row.valid_from),
        "expires_at": _iso(row.expires_at),
        "issuer": row.issuer,
    }
    return _DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def canonical_revocation(row: ConsentRow) -> bytes:
    body = {"consent_id": row.id, "revoked_at": _iso(row.revoked_at), "issuer": row.issuer}
    return _REVOCATION_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


class ConsentRegistry:
    """Adds, revokes and verifies consent records in one workspace.

    The operator's private key is loaded only when something is signed (add, revoke); reading
    and verifying need the public key alone.
    """

    def __init__(self, store: LedgerStore, public_key,
                 load_signer: Callable[[], OperatorKey] | None = None) -> None:
        self.store = store
        self.public_key = public_key
        self.issuer = public_key_id(public_key)
        self._load_signer = load_signer

    @classmethod
    def for_workspace(cls, workspace) -> ConsentRegistry:
        return cls(workspace.store(), workspace.operator_public_key(), workspace.operator_key)

    def _signer(self) -> OperatorKey:
        if self._load_signer is None:
            raise ConsentError("this consent registry was opened without the operator key")
        return self._load_signer()

    # ---------------------------------------------------------------------------------------
    def add(self, name: str, photo: str | Path, *, scope=DEFAULT_SCOPE,
            valid_from: dt.datetime | None = None, expires: dt.datetime | None = None,
            evidence: str | Path | None = None, analyzer: FaceAnalyzer | None = None,
            limits: ImageLimits = ImageLimits()) -> ConsentRow:
        """Enrol a person from a photo showing exactly their face; returns the signed record."""
        name = name.strip()
        if not name:
            raise ConsentError("a consent record needs a name or pseudonym")
        uses = parse_uses(scope)
        if not uses:
            raise ConsentError("a consent record needs at least one allowed use (--scope)")
        now = utcnow()
        valid_from = as_utc(valid_from) or now
        expires = as_utc(expires)
        if expires is not None and expires <= max(now, valid_from):
            raise ConsentError(f"the expiry date {expires.date()} is not after the start of "
                               "validity")
        evidence_sha256 = None
        if evidence is not None:
            evidence = Path(evidence)
            if not evidence.is_file():
                raise InputError(f"evidence file not found: {evidence}")
            evidence_sha256 = sha256_file(evidence)
        image = load_image(photo, limits)
        faces = (analyzer or FaceAnalyzer()).find_faces(image).faces
        if len(faces) != 1:
            raise ConsentError(
                f"the consent photo must show exactly one face; {photo} shows {len(faces)}")
        if faces[0].eyes_hidden:
            # A template without the eyes matches strangers and misses its owner.
            raise ConsentError(f"the eyes in the consent photo {photo} are hidden (painted over "
                               "or blurred out); enrol a photo where the face is clearly seen")
        signer = self._signer()
        row = ConsentRow(
            id=new_id(), name=name,
            face_template=faces[0].embedding.astype("float32").tobytes(),
            photo_sha256=sha256_file(photo), evidence_sha256=evidence_sha256,
            scope=json.dumps(list(uses)), created_at=now,
            valid_from=valid_from.replace(microsecond=0),
            expires_at=expires.replace(microsecond=0) if expires else None,
            issuer=signer.key_id,
        )
        row.signature = signer.sign(canonical_record(row)).hex()
        return self.store.add_consent(row)

    def revoke(self, consent_id: str) -> ConsentRow:
        row = self.store.get_consent(consent_id)
        if row is None:
            raise ConsentError(f"no consent record with id {consent_id}")
        if row.revoked_at is not None:
            return row
        when = utcnow()
        probe = ConsentRow(id=row.id, issuer=row.issuer, revoked_at=when)
        signature = self._signer().sign(canonical_revocation(probe)).hex()
        return self.store.revoke_consent(consent_id, when, signature) or row

    def get(self, consent_id: str) -> ConsentRow:
        row = self.store.get_consent(consent_id)
        if row is None:
            raise ConsentError(f"no consent record with id {consent_id}")
        return row

    def list(self) -> list[ConsentRow]:
        return self.store.list_consents()

    # ---------------------------------------------------------------------------------------
    def verify(self, row: ConsentRow) -> bool:
        """True when the record is exactly what the operator signed (and, if revoked, the
        revocation is signed too)."""
        if row.issuer != self.issuer:
            return False
        try:
            ok = verify_ed25519(self.public_key, bytes.fromhex(row.signature or ""),
                                canonical_record(row))
            if ok and row.revoked_at is not None:
                ok = verify_ed25519(self.public_key,
                                    bytes.fromhex(row.revocation_signature or ""),
                                    canonical_revocation(row))
        except ValueError:  # not hex
            return False
        return ok

    def describe(self, row: ConsentRow, now: dt.datetime | None = None) -> dict:
        """The public view of a record (never the template) with its verification status."""
        out = row.public_dict()
        out["signature_valid"] = self.verify(row)
        now = now or utcnow()
        status = "valid"
        if row.revoked_at is not None:
            status = "revoked"
        elif as_utc(row.expires_at) is not None and as_utc(row.expires_at) <= now:
            status = "expired"
        elif as_utc(row.valid_from) is not None and as_utc(row.valid_from) > now:
            status = "not-yet-valid"
        out["status"] = status if out["signature_valid"] else "tampered"
        return out
