"""Consent records: who agreed, to which uses, for how long, on what evidence — signed.

A record holds a name or pseudonym, the face template (kept only in the workspace database),
its scope (allowed uses, e.g. talking, singing, commercial), a validity window, and the sha256 of
the evidence (the signed release form or consent video, which stays offline). The operator key
(Ed25519) signs a canonical encoding of all of it, the template's hash included, so a record
edited in the database no longer verifies and the gate refuses it. A revocation is signed too,
and it is also in the audit log's revocation index, which every signed tree head commits to: a
record whose revocation was cleared in the database still verifies against its (original)
signature, but not against the log, and is refused as ``consent-tampered``. The gate treats a
record as revoked whenever ``revoked_at`` is set, signed or not (fail closed).

The gate works on :class:`ConsentRecord` values, never on database rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from emo_safe.errors import ConsentError, InputError, IntegrityError
from emo_safe.faces import FaceAnalyzer
from emo_safe.keys import OperatorKey, as_key_ring, verify_ed25519
from emo_safe.ledger.events import iso
from emo_safe.ledger.store import ConsentRow, LedgerStore, RevocationIndex, as_utc, new_id, utcnow
from emo_safe.media import ImageLimits, load_image, sha256_file

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


def _json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, repr=False)
class ConsentRecord:
    """One consent record. ``repr`` leaves out the face template (biometric data)."""

    id: str
    name: str
    template: np.ndarray = field(compare=False)  # (128,) float32
    photo_sha256: str
    scope: tuple[str, ...]
    created_at: dt.datetime
    valid_from: dt.datetime
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    evidence_sha256: str | None = None
    issuer: str = ""
    signature: str = ""
    revocation_signature: str | None = None

    def __repr__(self) -> str:
        return f"ConsentRecord(id={self.id!r}, scope={self.scope!r})"

    @property
    def template_sha256(self) -> str:
        return hashlib.sha256(np.asarray(self.template, np.float32).tobytes()).hexdigest()

    def signed_bytes(self) -> bytes:
        """What the operator signs: every field that gives the record its meaning."""
        return _DOMAIN + _json({
            "id": self.id,
            "name": self.name,
            "template_sha256": self.template_sha256,
            "photo_sha256": self.photo_sha256,
            "evidence_sha256": self.evidence_sha256,
            "scope": sorted(self.scope),
            "created_at": iso(self.created_at),
            "valid_from": iso(self.valid_from),
            "expires_at": iso(self.expires_at),
            "issuer": self.issuer,
        })

    def revocation_bytes(self) -> bytes:
        return _REVOCATION_DOMAIN + _json({"consent_id": self.id,
                                           "revoked_at": iso(self.revoked_at),
                                           "issuer": self.issuer})

    def public_dict(self) -> dict:
        """Everything but the template: safe to print or export."""
        return {
            "id": self.id,
            "name": self.name,
            "photo_sha256": self.photo_sha256,
            "scope": list(self.scope),
            "created_at": iso(self.created_at),
            "valid_from": iso(self.valid_from),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "evidence_sha256": self.evidence_sha256,
            "issuer": self.issuer,
        }

    def state_at_time(self, now: dt.datetime) -> str:
        """valid / revoked / expired / not-yet-valid at ``now`` (signatures not checked)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and as_utc(self.expires_at) <= now:
            return "expired"
        if as_utc(self.valid_from) > now:
            return "not-yet-valid"
        return "valid"

    @classmethod
    def from_row(cls, row: ConsentRow) -> ConsentRecord:
        return cls(
            id=row.id, name=row.name, template=row.template.copy(),
            photo_sha256=row.photo_sha256, scope=tuple(row.scopes),
            created_at=as_utc(row.created_at), valid_from=as_utc(row.valid_from),
            expires_at=as_utc(row.expires_at), revoked_at=as_utc(row.revoked_at),
            evidence_sha256=row.evidence_sha256, issuer=row.issuer, signature=row.signature,
            revocation_signature=row.revocation_signature)

    def to_row(self) -> ConsentRow:
        return ConsentRow(
            id=self.id, name=self.name,
            face_template=np.asarray(self.template, np.float32).tobytes(),
            photo_sha256=self.photo_sha256, scope=json.dumps(list(self.scope)),
            created_at=self.created_at, valid_from=self.valid_from, expires_at=self.expires_at,
            revoked_at=self.revoked_at, evidence_sha256=self.evidence_sha256,
            issuer=self.issuer, signature=self.signature,
            revocation_signature=self.revocation_signature)


@dataclass(frozen=True)
class ConsentCheck:
    """What the operator key and the signed log say about one record."""

    signature_ok: bool
    log_ok: bool  # the record's revocation state agrees with the signed revocation index
    problem: str | None = None  # why not, for people

    @property
    def ok(self) -> bool:
        return self.signature_ok and self.log_ok


class ConsentRegistry:
    """Adds, revokes and verifies consent records in one workspace.

    The operator's private key is loaded only when something is signed (add, revoke); reading
    and verifying need the public keys alone (the operator's, and the log's for the revocation
    index).
    """

    def __init__(self, store: LedgerStore, public_key,
                 load_signer: Callable[[], OperatorKey] | None = None,
                 log_public_key=None) -> None:
        self.store = store
        self.keys = as_key_ring(public_key)  # the operator's key and any it replaced
        self.public_key = self.keys.current
        self.log_public_key = log_public_key
        self.issuer = self.keys.current_id
        self._load_signer = load_signer

    @classmethod
    def for_workspace(cls, workspace) -> ConsentRegistry:
        return cls(workspace.store(), workspace.operator_public_keys(), workspace.operator_key,
                   workspace.log_public_keys())

    def _signer(self) -> OperatorKey:
        if self._load_signer is None:
            raise ConsentError("this consent registry was opened without the operator key")
        return self._load_signer()

    # ---------------------------------------------------------------------------------------
    def add(self, name: str, photo: str | Path, *, scope=DEFAULT_SCOPE,
            valid_from: dt.datetime | None = None, expires: dt.datetime | None = None,
            evidence: str | Path | None = None, analyzer: FaceAnalyzer | None = None,
            limits: ImageLimits = ImageLimits(), now: dt.datetime | None = None
            ) -> ConsentRecord:
        """Enrol a person from a photo showing exactly their face; returns the signed record.
        ``now``: the moment of enrolment (default: the clock)."""
        name = name.strip()
        if not name:
            raise ConsentError("a consent record needs a name or pseudonym")
        uses = parse_uses(scope)
        if not uses:
            raise ConsentError("a consent record needs at least one allowed use (--scope)")
        now = (as_utc(now) or utcnow()).replace(microsecond=0)
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
        record = ConsentRecord(
            id=new_id(), name=name, template=faces[0].embedding.astype(np.float32),
            photo_sha256=sha256_file(photo), scope=uses, created_at=now,
            valid_from=valid_from.replace(microsecond=0),
            expires_at=expires.replace(microsecond=0) if expires else None,
            evidence_sha256=evidence_sha256, issuer=signer.key_id)
        record = replace(record, signature=signer.sign(record.signed_bytes()).hex())
        self.store.add_consent(record.to_row())
        return record

    def revoke(self, consent_id: str, now: dt.datetime | None = None) -> ConsentRecord:
        record = self.get(consent_id)
        if record.revoked_at is not None:
            return record
        revoked = replace(record, revoked_at=(as_utc(now) or utcnow()).replace(microsecond=0))
        signature = self._signer().sign(revoked.revocation_bytes()).hex()
        row = self.store.revoke_consent(consent_id, revoked.revoked_at, signature)
        return ConsentRecord.from_row(row) if row is not None else record

    def get(self, consent_id: str) -> ConsentRecord:
        row = self.store.get_consent(consent_id)
        if row is None:
            raise ConsentError(f"no consent record with id {consent_id}")
        return ConsentRecord.from_row(row)

    def find(self, consent_id: str) -> ConsentRecord | None:
        row = self.store.get_consent(consent_id)
        return ConsentRecord.from_row(row) if row is not None else None

    def list(self) -> list[ConsentRecord]:
        return [ConsentRecord.from_row(r) for r in self.store.list_consents()]

    def valid_named(self, name: str, now: dt.datetime | None = None) -> ConsentRecord | None:
        """The first record of that name that verifies and is in force (the demo reuses its
        sample person's record instead of enrolling it again)."""
        now = as_utc(now) or utcnow()
        checks = self.check_all(records := [r for r in self.list() if r.name == name])
        for record in records:
            if checks[record.id].ok and record.state_at_time(now) == "valid":
                return record
        return None

    # ---------------------------------------------------------------------------------------
    def verify(self, record: ConsentRecord) -> bool:
        """True when the record is exactly what the operator signed (and, if revoked, the
        revocation is signed too), by the operator key of its ``issuer`` id (the current one
        or one it replaced: a rotation keeps earlier records valid). A revocation is signed by
        whichever operator key was current then."""
        key = self.keys.get(record.issuer) if record.issuer else None
        if key is None:
            return False
        try:
            ok = verify_ed25519(key, bytes.fromhex(record.signature or ""),
                                record.signed_bytes())
            if ok and record.revoked_at is not None:
                ok = any(verify_ed25519(k, bytes.fromhex(record.revocation_signature or ""),
                                        record.revocation_bytes())
                         for k in (self.keys.get(i) for i in self.keys.ids))
            return ok
        except ValueError:  # not hex
            return False

    def revocation_index(self) -> RevocationIndex | None:
        """The signed log's revoked ids (None when opened without the log key). Raises
        IntegrityError when the index does not match the signed log."""
        if self.log_public_key is None:
            return None
        return self.store.revocations(self.log_public_key)

    def check_all(self, records: list[ConsentRecord]) -> dict[str, ConsentCheck]:
        """Signature and log check of each record, reading the revocation index once."""
        try:
            index, index_problem = self.revocation_index(), None
        except IntegrityError as exc:
            index, index_problem = None, exc.message
        out = {}
        for r in records:
            sig = self.verify(r)
            if index_problem is not None:
                out[r.id] = ConsentCheck(sig, False, index_problem)
            elif index is not None and r.id in index and r.revoked_at is None:
                out[r.id] = ConsentCheck(sig, False, "the signed audit log records this "
                                         "consent as revoked, but the database row says it is "
                                         "not (its revocation was removed)")
            else:
                out[r.id] = ConsentCheck(sig, True, None if sig else
                                         "it does not verify against the operator key")
        return out

    def describe(self, record: ConsentRecord) -> dict:
        """The public view of a record (never the template) with its verification status."""
        return self.describe_at_time(record, utcnow())

    def describe_at_time(self, record: ConsentRecord, now: dt.datetime,
                         check: ConsentCheck | None = None) -> dict:
        check = check or self.check_all([record])[record.id]
        out = record.public_dict()
        out["signature_valid"] = check.signature_ok
        out["log_consistent"] = check.log_ok
        out["status"] = record.state_at_time(as_utc(now)) if check.ok else "tampered"
        if check.problem:
            out["problem"] = check.problem
        return out

    def describe_all(self, records: list[ConsentRecord]) -> list[dict]:
        checks, now = self.check_all(records), utcnow()
        return [self.describe_at_time(r, now, checks[r.id]) for r in records]
