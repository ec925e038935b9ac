"""Reading c2pa-rs's validation report into a manifest state, on constructed reports: the
revocation and expiry cases the end-to-end tests reach with real certificates and clocks."""

import pytest

from emo_safe.provenance.read import (
    INVALID,
    REVOKED,
    TRUSTED,
    VALID_UNTRUSTED,
    _evidence,
    soft_binding_view,
)


def report(state: str, success=(), failure=(), sig=None) -> dict:
    return {"validation_state": state, "active_manifest": "urn:m",
            "manifests": {"urn:m": {"assertions": [], "signature_info": sig or {}}},
            "validation_results": {"activeManifest": {
                "success": [{"code": c} for c in success],
                "failure": [{"code": c} for c in failure]}}}


SIGNED = ("claimSignature.validated", "signingCredential.trusted")


def test_a_revoked_signer_whose_signature_holds_is_revoked_not_tampered():
    ev = _evidence(report("Invalid", SIGNED, ["signingCredential.ocsp.revoked"],
                          {"cert_serial_number": "255"}), "org.emo-safe.generation")
    assert ev.state == REVOKED and ev.revoked and ev.signer_serial == "ff"
    assert ev.hard_binding_ok and ev.to_dict()["revocation"] == "revoked"


def test_revoked_and_a_changed_video_is_tampered():
    ev = _evidence(report("Invalid", SIGNED, ["signingCredential.ocsp.revoked",
                                              "assertion.bmffHash.mismatch"]), "x")
    assert ev.state == INVALID


def test_an_expired_signer_without_a_timestamp_is_valid_but_untrusted():
    ev = _evidence(report("Invalid", ("claimSignature.validated",),
                          ["signingCredential.untrusted", "signingCredential.expired"]), "x")
    assert ev.state == VALID_UNTRUSTED and ev.expired and not ev.timestamp_trusted


def test_a_trusted_timestamp_gives_the_signing_time_and_revocation_status():
    ev = _evidence(report("Trusted", SIGNED + ("timeStamp.trusted",
                                               "signingCredential.ocsp.notRevoked"),
                          sig={"time": "2026-12-01T10:00:00+00:00"}), "x")
    assert ev.state == TRUSTED and ev.timestamp_trusted
    assert ev.signed_at == "2026-12-01T10:00:00+00:00"
    assert ev.to_dict()["revocation"] == "not-revoked"
    untimed = _evidence(report("Trusted", SIGNED, sig={"time": "2026-12-01T10:00:00+00:00"}),
                        "x")
    assert untimed.signed_at is None  # an untrusted claim of time is not reported as one


@pytest.mark.parametrize("value, hex_value", [
    ([0, 17, 34, 51, 68, 85], "001122334455"),  # a CBOR byte string as a number list
    ("ABEiM0RV", "001122334455"),  # the same bytes as the reader's JSON shows them
    ("001122334455", "001122334455"),  # emo-safe 0.x wrote the hex as text
])
def test_a_soft_binding_value_reads_as_hex_however_it_was_written(value, hex_value):
    view = soft_binding_view({"alg": "a", "blocks": [{"scope": {}, "value": value}]})
    assert view["blocks"][0]["value"] == hex_value and view["alg"] == "a"
