"""A development OCSP responder for the workspace CA (RFC 6960), and the CA's index of the
certificates it issued and revoked.

Signer certificates name this responder in their Authority Information Access extension;
c2pa-rs asks it at signing time (the answer is kept in the manifest as a
``c2pa.certificate-status`` assertion) and, when the detector profile allows it, at
verification time. Responses are signed by a delegated responder certificate (extended key
usage OCSPSigning, issued by the CA) and include it, as c2pa-rs requires.

The index is a JSON file beside the CA key (``keys/ca-index.json``), re-read on every request
so that ``emo-safe keys revoke`` takes effect without restarting the responder.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from emo_safe.errors import InputError, WorkspaceError

# The reasons `keys revoke --reason` accepts; "unspecified" sends no reason code, which
# c2pa-rs reads as revoked whatever the signing time (fail closed). With a reason, a signature
# timestamped before the revocation time still validates.
REASONS = {
    "unspecified": None,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
}

NEXT_UPDATE = _dt.timedelta(hours=24)


@dataclass(frozen=True)
class IssuedCertificate:
    serial: int
    subject: str
    purpose: str  # "signer", "tsa", "ocsp"
    not_after: str
    revoked_at: str | None = None
    reason: str | None = None

    def to_json(self) -> dict:
        return {"serial": format(self.serial, "x"), "subject": self.subject,
                "purpose": self.purpose, "not_after": self.not_after,
                "revoked_at": self.revoked_at, "reason": self.reason}

    @classmethod
    def from_json(cls, row: dict) -> IssuedCertificate:
        return cls(int(row["serial"], 16), row["subject"], row["purpose"], row["not_after"],
                   row.get("revoked_at"), row.get("reason"))


class CertificateIndex:
    """What the CA issued, and what it revoked (``ca-index.json``)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def entries(self) -> dict[int, IssuedCertificate]:
        try:
            rows = json.loads(self.path.read_text())["certificates"]
            return {e.serial: e for e in map(IssuedCertificate.from_json, rows)}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError):
            raise WorkspaceError(f"{self.path} is damaged: not the CA's certificate index") \
                from None

    def _write(self, entries: dict[int, IssuedCertificate]) -> None:
        from emo_safe import _fs

        body = {"certificates": [e.to_json() for e in sorted(entries.values(),
                                                              key=lambda e: e.not_after)]}
        _fs.write_atomic(self.path, (json.dumps(body, indent=1) + "\n").encode())

    def add(self, cert: x509.Certificate, purpose: str) -> None:
        entries = self.entries()
        entries[cert.serial_number] = IssuedCertificate(
            cert.serial_number, cert.subject.rfc4514_string(), purpose,
            cert.not_valid_after_utc.isoformat())
        self._write(entries)

    def revoke_at_time(self, serial: int, when: _dt.datetime,
                       reason: str = "unspecified") -> IssuedCertificate:
        if reason not in REASONS:
            raise InputError(f"unknown revocation reason {reason!r} (one of "
                             f"{', '.join(REASONS)})")
        entries = self.entries()
        if serial not in entries:
            raise InputError(f"certificate serial {serial:x} was not issued by this CA")
        entry = entries[serial]
        if entry.revoked_at is None:
            entry = IssuedCertificate(entry.serial, entry.subject, entry.purpose,
                                      entry.not_after, when.astimezone(_dt.UTC).isoformat(),
                                      reason)
            entries[serial] = entry
            self._write(entries)
        return entry

    def revoke(self, serial: int, reason: str = "unspecified") -> IssuedCertificate:
        return self.revoke_at_time(serial, _dt.datetime.now(_dt.UTC), reason)


class OcspResponder:
    """Signs OCSP answers about certificates ``ca_cert`` issued, from ``index``."""

    def __init__(self, key, cert: x509.Certificate, ca_cert: x509.Certificate,
                 index: CertificateIndex) -> None:
        self._key, self._cert, self._ca, self._index = key, cert, ca_cert, index

    def __repr__(self) -> str:
        return f"OcspResponder(ca={self._ca.subject.rfc4514_string()!r})"

    def respond(self, request_der: bytes) -> bytes:
        return self.respond_at_time(request_der, _dt.datetime.now(_dt.UTC))

    def respond_at_time(self, request_der: bytes, when: _dt.datetime) -> bytes:
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            serial = request.serial_number
            alg = request.hash_algorithm
        except Exception:  # cryptography raises several types for garbage
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
                serialization.Encoding.DER)
        if (request.issuer_name_hash, request.issuer_key_hash) != _issuer_hashes(self._ca, alg):
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
        entry = self._index.entries().get(serial)
        revoked_at = reason = None
        if entry is None:
            status = ocsp.OCSPCertStatus.UNKNOWN
        elif entry.revoked_at is not None and _dt.datetime.fromisoformat(entry.revoked_at) <= when:
            status = ocsp.OCSPCertStatus.REVOKED
            revoked_at = _dt.datetime.fromisoformat(entry.revoked_at)
            reason = REASONS.get(entry.reason or "unspecified")
        else:
            status = ocsp.OCSPCertStatus.GOOD
        when = when.astimezone(_dt.UTC).replace(microsecond=0)
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
            serial_number=serial, algorithm=alg, cert_status=status, this_update=when,
            next_update=when + NEXT_UPDATE, revocation_time=revoked_at,
            revocation_reason=reason,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, self._cert).certificates([self._cert])
        for ext in request.extensions:
            if isinstance(ext.value, x509.OCSPNonce):
                builder = builder.add_extension(ext.value, critical=False)
        return builder.sign(self._key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _issuer_hashes(ca_cert: x509.Certificate, alg: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    name_hash = hashes.Hash(alg)
    name_hash.update(ca_cert.subject.public_bytes())
    key_hash = hashes.Hash(alg)
    # The hash of the subjectPublicKey BIT STRING's value (RFC 6960 4.1.1).
    key_hash.update(ca_cert.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint))
    return name_hash.finalize(), key_hash.finalize()
