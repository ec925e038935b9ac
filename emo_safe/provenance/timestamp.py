"""A development RFC 3161 time-stamping authority, as the workspace CA is a development CA.

C2PA signatures carry a timestamp token so that they keep validating after the signer
certificate expires or is revoked: the token proves the signature existed at ``genTime``,
while the certificate was good. In production the operator points ``tsa_url`` at a TSA on
the C2PA trust list; this one answers with a certificate issued by the workspace CA (extended
key usage timeStamping, critical) and is meant for development and offline demos.

The token is built with asn1crypto's CMS and TSP types and signed with ``cryptography``:
no hand-written DER. :meth:`TimeStampAuthority.respond_at_time` is the clock-taking twin of
:meth:`~TimeStampAuthority.respond`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
import uuid

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# A policy OID of our own: a UUID arc (ITU-T X.667) needs no registration.
DEV_TSA_POLICY = f"2.25.{uuid.UUID('6f1d8c2e-5b7a-4c1e-9f3d-2a6b8e4c7d10').int}"

_HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
_SIG_ALGS = {"sha256": (hashes.SHA256, "sha256_ecdsa"), "sha384": (hashes.SHA384, "sha384_ecdsa"),
             "sha512": (hashes.SHA512, "sha512_ecdsa")}


class _Rejection(core.Sequence):
    """A TimeStampResp without a token (asn1crypto's type makes the token mandatory; RFC 3161
    makes it OPTIONAL and absent on rejection): the same DER."""

    _fields = [("status", tsp.PKIStatusInfo)]


class TimeStampRequestError(ValueError):
    """A request this authority refuses (it answers with a ``rejection`` status)."""

    def __init__(self, message: str, failure: str) -> None:
        super().__init__(message)
        self.failure = failure  # a PKIFailureInfo name: bad_alg, bad_request, bad_data_format


class TimeStampAuthority:
    """Answers RFC 3161 requests with tokens signed by ``key`` under ``cert`` (issued by the
    CA in ``chain``, which goes along when the client asks for certificates)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate,
                 chain: list[x509.Certificate] = ()) -> None:
        self._key = key
        self._cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        self._chain = [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                       for c in chain]

    def __repr__(self) -> str:
        return f"TimeStampAuthority(subject={self._cert.subject.human_friendly!r})"

    def respond(self, request_der: bytes) -> bytes:
        return self.respond_at_time(request_der, _dt.datetime.now(_dt.UTC))

    def respond_at_time(self, request_der: bytes, when: _dt.datetime) -> bytes:
        """The DER TimeStampResp for ``request_der``: a token, or a rejection naming why."""
        try:
            request = _parse_request(request_der)
            token = self._token(request, when)
        except TimeStampRequestError as exc:
            return _Rejection({"status": {
                "status": "rejection", "status_string": [str(exc)],
                "fail_info": tsp.PKIFailureInfo({exc.failure}),
            }}).dump()
        return tsp.TimeStampResp({"status": {"status": "granted"},
                                  "time_stamp_token": token}).dump()

    def _token(self, request: tsp.TimeStampReq, when: _dt.datetime) -> cms.ContentInfo:
        imprint = request["message_imprint"]
        info = {
            "version": "v1",
            "policy": DEV_TSA_POLICY,
            "message_imprint": imprint,
            "serial_number": int.from_bytes(secrets.token_bytes(16), "big"),
            "gen_time": when.astimezone(_dt.UTC).replace(microsecond=0),
            "accuracy": {"seconds": 1},
            "ordering": False,
        }
        if request["nonce"].native is not None:
            info["nonce"] = request["nonce"].native
        tst_der = tsp.TSTInfo(info).dump()
        cert_der = self._cert.dump()
        signed_attrs = cms.CMSAttributes([
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "signing_time",
                              "values": [cms.Time({"utc_time": info["gen_time"]})]}),
            cms.CMSAttribute({"type": "message_digest",
                              "values": [hashlib.sha256(tst_der).digest()]}),
            # ESS signing-certificate-v2 binds the token to this TSA certificate (RFC 5816).
            cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{
                "certs": [{"hash_algorithm": {"algorithm": "sha256"},
                           "cert_hash": hashlib.sha256(cert_der).digest(),
                           "issuer_serial": {
                               "issuer": [asn1_x509.GeneralName(
                                   {"directory_name": self._cert.issuer})],
                               "serial_number": self._cert.serial_number}}],
            }]}),
        ])
        hash_cls, sig_name = _SIG_ALGS["sha256"]
        signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(hash_cls()))
        signer_info = cms.SignerInfo({
            "version": "v1",
            "sid": cms.SignerIdentifier({"issuer_and_serial_number": {
                "issuer": self._cert.issuer, "serial_number": self._cert.serial_number}}),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": sig_name}),
            "signature": signature,
        })
        signed_data = {
            "version": "v3",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
            "encap_content_info": {"content_type": "tst_info",
                                   "content": core.ParsableOctetString(tst_der)},
            "signer_infos": [signer_info],
        }
        if request["cert_req"].native:
            signed_data["certificates"] = [self._cert, *self._chain]
        return cms.ContentInfo({"content_type": "signed_data",
                                "content": cms.SignedData(signed_data)})


def _parse_request(request_der: bytes) -> tsp.TimeStampReq:
    try:
        request = tsp.TimeStampReq.load(request_der, strict=True)
        imprint = request["message_imprint"]
        alg = imprint["hash_algorithm"]["algorithm"].native
        digest = imprint["hashed_message"].native
        request["nonce"].native  # noqa: B018 - parse every field now, not while answering
        request["cert_req"].native  # noqa: B018
    except (ValueError, TypeError, KeyError):
        raise TimeStampRequestError("not an RFC 3161 TimeStampReq", "bad_data_format") from None
    if alg not in _HASHES:
        raise TimeStampRequestError(f"unsupported hash algorithm {alg}", "bad_alg")
    if len(digest) != _HASHES[alg]().digest_size:
        raise TimeStampRequestError("message imprint has the wrong length", "bad_data_format")
    if request["req_policy"].native not in (None, DEV_TSA_POLICY):
        raise TimeStampRequestError("unaccepted policy", "unaccepted_policy")
    return request
