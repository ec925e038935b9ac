"""The development OCSP responder and the CA's certificate index, on constructed requests."""

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from emo_safe import keys
from emo_safe.errors import InputError
from emo_safe.provenance.ocsp import CertificateIndex, OcspResponder

T0 = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def pki(tmp_path):
    ca_key, ca_cert = keys.make_dev_ca()
    responder_key, responder_cert = keys.issue_ocsp_cert(ca_key, ca_cert)
    _, signer_cert = keys.issue_signer_cert(ca_key, ca_cert, ocsp_url="http://127.0.0.1:1/ocsp/")
    index = CertificateIndex(tmp_path / "ca-index.json")
    index.add(signer_cert, "signer")
    responder = OcspResponder(responder_key, responder_cert, ca_cert, index)
    return responder, index, ca_cert, signer_cert, responder_cert, ca_key


def ask(responder, cert, issuer, when, alg=hashes.SHA1()):
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, alg).build()
    return ocsp.load_der_ocsp_response(
        responder.respond_at_time(req.public_bytes(serialization.Encoding.DER), when))


def test_an_issued_certificate_is_good_signed_by_the_delegated_responder(pki):
    responder, _, ca_cert, signer_cert, responder_cert, _ = pki
    resp = ask(responder, signer_cert, ca_cert, T0)
    assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert resp.serial_number == signer_cert.serial_number
    assert resp.this_update_utc == T0 and resp.next_update_utc > T0
    assert resp.certificates == [responder_cert]  # c2pa-rs checks it against the trust list
    responder_cert.public_key().verify(resp.signature, resp.tbs_response_bytes,
                                       keys.ec.ECDSA(hashes.SHA256()))
    eku = responder_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING]


def test_a_revoked_certificate_is_revoked_from_its_revocation_time_on(pki):
    responder, index, ca_cert, signer_cert, _, _ = pki
    entry = index.revoke_at_time(signer_cert.serial_number, T0, "key-compromise")
    assert entry.reason == "key-compromise"
    before = ask(responder, signer_cert, ca_cert, T0 - dt.timedelta(days=1))
    after = ask(responder, signer_cert, ca_cert, T0 + dt.timedelta(seconds=1))
    assert before.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert after.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert after.revocation_time_utc == T0
    assert after.revocation_reason == x509.ReasonFlags.key_compromise
    # Revoking again keeps the first revocation.
    again = index.revoke_at_time(signer_cert.serial_number, T0 + dt.timedelta(days=9))
    assert again.revoked_at == entry.revoked_at


def test_unspecified_revocation_sends_no_reason_code(pki):
    responder, index, ca_cert, signer_cert, _, _ = pki
    index.revoke_at_time(signer_cert.serial_number, T0)
    resp = ask(responder, signer_cert, ca_cert, T0 + dt.timedelta(hours=1))
    assert resp.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert resp.revocation_reason is None


def test_a_certificate_it_never_issued_is_unknown(pki):
    responder, _, ca_cert, _, _, ca_key = pki
    _, stranger = keys.issue_signer_cert(ca_key, ca_cert)  # same CA, not in the index
    assert ask(responder, stranger, ca_cert, T0).certificate_status == \
        ocsp.OCSPCertStatus.UNKNOWN


def test_another_ca_s_certificate_is_unauthorized(pki):
    responder = pki[0]
    other_key, other_ca = keys.make_dev_ca("another CA")
    _, theirs = keys.issue_signer_cert(other_key, other_ca)
    assert ask(responder, theirs, other_ca, T0).response_status == \
        ocsp.OCSPResponseStatus.UNAUTHORIZED


@pytest.mark.parametrize("body", [b"", b"\x30\x00", b"garbage" * 20])
def test_a_malformed_request_gets_malformed_request(pki, body):
    resp = ocsp.load_der_ocsp_response(pki[0].respond_at_time(body, T0))
    assert resp.response_status == ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_the_index_refuses_unknown_serials_and_reasons_and_a_damaged_file(pki, tmp_path):
    _, index, _, signer_cert, _, _ = pki
    with pytest.raises(InputError, match="not issued by this CA"):
        index.revoke(12345)
    with pytest.raises(InputError, match="unknown revocation reason"):
        index.revoke(signer_cert.serial_number, "because")
    damaged = CertificateIndex(tmp_path / "damaged.json")
    damaged.path.write_text("{not json")
    from emo_safe.errors import WorkspaceError

    with pytest.raises(WorkspaceError, match="damaged"):
        damaged.entries()
