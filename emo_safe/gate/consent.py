"""Consent records: a person's face template, the allowed uses and the validity window."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from emo_safe.errors import ConsentError
from emo_safe.faces import FaceAnalyzer
from emo_safe.ledger.store import ConsentRow, LedgerStore, new_id, utcnow
from emo_safe.media import ImageLimits, load_image, sha256_file

DEFAULT_SCOPE = ("talking", "singing")


def add_consent(store: LedgerStore, name: str, photo: str | Path,
                expires: dt.datetime | None = None, scope: tuple[str, ...] = DEFAULT_SCOPE,
                analyzer: FaceAnalyzer | None = None,
                limits: ImageLimits = ImageLimits()) -> ConsentRow:
    """Enrol a person from a photo showing exactly their face."""
    name = name.strip()
    if not name:
        raise ConsentError("a consent record needs a name or pseudonym")
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=dt.UTC)
    if expires is not None and expires <= utcnow():
        raise ConsentError(f"the expiry date {expires.date()} is already past")
    image = load_image(photo, limits)
    faces = (analyzer or FaceAnalyzer()).detect(image)
    if len(faces) != 1:
        raise ConsentError(
            f"the consent photo must show exactly one face; {photo} shows {len(faces)}"
        )
    row = ConsentRow(
        id=new_id(),
        name=name,
        face_template=faces[0].embedding.astype("float32").tobytes(),
        photo_sha256=sha256_file(photo),
        scope=json.dumps(sorted(set(scope))),
        created_at=utcnow(),
        valid_from=utcnow(),
        expires_at=expires,
    )
    return store.add_consent(row)


def revoke_consent(store: LedgerStore, consent_id: str) -> ConsentRow:
    row = store.revoke_consent(consent_id)
    if row is None:
        raise ConsentError(f"no consent record with id {consent_id}")
    return row
