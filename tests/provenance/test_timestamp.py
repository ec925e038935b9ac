"""The development RFC 3161 time-stamping authority, on constructed requests: what it signs,
that the token verifies under its certificate, and what it refuses."""

import datetime as dt
import hashlib

import pytest
from asn1crypto import algos, cms, core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from emo_safe import keys
from emo_safe.provenance.timestamp import DEV_TSA_POLICY, TimeStampAuthority

WHEN = dt.datetime(2031, 5, 4, 12, 30, 15, tzinfo=dt.UTC)


class TimeStampRespAsInRfc3161(core.Sequence):
    """RFC 3161's TimeStampResp: the token is OPTIONAL (asn1crypto's type requires it)."""

    _fields = [("status", tsp.PKIStatusInfo),
               ("time_stamp_token", cms.ContentInfo, {"optional": True})]


@pytest.fixture(scope="module")
def authority():
    ca_key, ca_cert = keys.make_dev_ca()
    tsa_key, tsa_cert = keys.issue_tsa_cert(ca_key, ca_cert)
    return TimeStampAuthority(tsa_key, tsa_cert, [ca_cert]), tsa_cert, ca_cert


def request(message: bytes = b"a claim signature", alg: str = "sha256", nonce: int | None = 7,
            cert_req: bool = True, digest: bytes | None = None) -> bytes:
    imprint = digest if digest is not None else hashlib.new(alg, message).digest()
    fields = {"version": "v1", "message_imprint": {
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": alg}),
        "hashed_message": imprint}, "cert_req": cert_req}
    if nonce is not None:
        fields["nonce"] = nonce
    return tsp.TimeStampReq(fields).dump()


def test_a_granted_token_binds_the_imprint_nonce_and_time_and_verifies_under_the_tsa_cert(
        authority):
    tsa, tsa_cert, ca_cert = authority
    resp = tsp.TimeStampResp.load(tsa.respond_at_time(request(nonce=123456789), WHEN))
    assert resp["status"]["status"].native == "granted"
    signed = resp["time_stamp_token"]["content"]
    info = signed["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == \
        hashlib.sha256(b"a claim signature").digest()
    assert info["nonce"].native == 123456789
    assert info["gen_time"].native == WHEN
    assert info["policy"].native == DEV_TSA_POLICY
    # The signed attributes carry the TSTInfo's digest and the ESS binding to the TSA cert.
    signer = signed["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer["signed_attrs"]}
    assert attrs["message_digest"].native == hashlib.sha256(info.dump()).digest()
    cert_der = tsa_cert.public_bytes(keys.serialization.Encoding.DER)
    ess = attrs["signing_certificate_v2"]["certs"][0]
    assert ess["cert_hash"].native == hashlib.sha256(cert_der).digest()
    # The signature over the DER of the signed attributes (a SET) verifies with its key.
    tsa_cert.public_key().verify(signer["signature"].native,
                                 cms.CMSAttributes(list(signer["signed_attrs"])).dump(),
                                 ec.ECDSA(hashes.SHA256()))
    certs = {c.chosen.dump() for c in signed["certificates"]}  # a SET OF: DER orders it
    assert certs == {cert_der, ca_cert.public_bytes(keys.serialization.Encoding.DER)}


def test_the_tsa_certificate_has_only_the_critical_time_stamping_usage(authority):
    _, tsa_cert, _ = authority
    eku = tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]


def test_certificates_are_left_out_unless_asked_for(authority):
    tsa, _, _ = authority
    resp = tsp.TimeStampResp.load(tsa.respond_at_time(request(cert_req=False, nonce=None),
                                                      WHEN))
    signed = resp["time_stamp_token"]["content"]
    assert signed["certificates"].native is None
    assert signed["encap_content_info"]["content"].parsed["nonce"].native is None


@pytest.mark.parametrize("body, failure", [
    (b"", "bad_data_format"),
    (b"\x30\x03\x02\x01\x01", "bad_data_format"),
    (b"not der at all" * 10, "bad_data_format"),
    (request(alg="md5"), "bad_alg"),
    (request(digest=b"short"), "bad_data_format"),
])
def test_what_it_cannot_stamp_gets_a_rejection_that_names_the_failure(authority, body, failure):
    tsa, _, _ = authority
    resp = TimeStampRespAsInRfc3161.load(tsa.respond_at_time(body, WHEN), strict=True)
    assert resp["status"]["status"].native == "rejection"
    assert failure in resp["status"]["fail_info"].native
    assert resp["time_stamp_token"].native is None


def test_its_repr_names_the_tsa_and_no_key(authority):
    assert "development TSA" in repr(authority[0]) and "key" not in repr(authority[0]).lower()
