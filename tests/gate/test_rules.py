"""The gate's rules on constructed inputs: no photo decoded, no face model run. Each rule is a
small function of the request; these tests read as its specification."""

import dataclasses
import datetime as dt

import numpy as np
import pytest
from factories import consent_record, fake_face, gate_request

from emo_safe.gate.consent import ConsentCheck
from emo_safe.gate.gallery import Gallery
from emo_safe.gate.rules import (
    AllOf,
    AudioRightsAttested,
    ConsentCoversEveryFace,
    ExactlyOneFace,
    EyesVisible,
    FaceRequired,
    PublicFiguresRefused,
    VisibleDisclosure,
)

ADA = np.full(128, 0.10, np.float32)
STRANGER = np.full(128, -0.10, np.float32)  # 2.26 from ADA: another person
COVERS = ConsentCoversEveryFace(match_distance=0.5, default_uses=("talking",))


def codes(result):
    return [f.code for f in result.findings]


def test_a_photo_without_a_face_is_refused_and_one_with_a_face_is_not():
    assert codes(FaceRequired().evaluate(gate_request())) == ["no-face"]
    assert codes(FaceRequired().evaluate(gate_request([fake_face()]))) == []


def test_two_faces_are_refused_when_exactly_one_is_allowed():
    assert codes(ExactlyOneFace().evaluate(gate_request([fake_face(), fake_face()]))) == [
        "multiple-faces"]


def test_hidden_eyes_are_named_by_face():
    result = EyesVisible().evaluate(gate_request([fake_face(), fake_face(eye_detail=0.3)]))
    assert codes(result) == ["eyes-hidden"] and result.findings[0].subject == "face 2"
    assert result.facts["eyes_hidden"] == ["face 2"]


def test_a_matching_valid_consent_covers_the_face():
    c = consent_record("c1", ADA)
    result = COVERS.evaluate(gate_request([fake_face(ADA)], [c]))
    assert codes(result) == []
    assert result.facts["consents_by_face"] == {"face 1": "c1"}
    assert result.facts["consent_ids"] == ["c1"] and result.facts["uses"] == ["talking"]


def test_a_face_no_record_matches_is_refused():
    c = consent_record("c1", ADA)
    assert codes(COVERS.evaluate(gate_request([fake_face(STRANGER)], [c]))) == ["no-consent"]
    named = gate_request([fake_face(STRANGER)], [c], named_consent_ids=("c1",))
    assert codes(COVERS.evaluate(named)) == ["consent-face-mismatch"]
    unknown = gate_request([fake_face(ADA)], [c], named_consent_ids=("c1", "nope"))
    assert codes(COVERS.evaluate(unknown)) == ["consent-unknown"]


@pytest.mark.parametrize(("fields", "expected"), [
    ({"revoked_at": dt.datetime(2026, 6, 15, tzinfo=dt.UTC)}, "consent-revoked"),
    ({"expires_at": dt.datetime(2026, 6, 30, tzinfo=dt.UTC)}, "consent-expired"),
    ({"valid_from": dt.datetime(2026, 8, 1, tzinfo=dt.UTC)}, "consent-not-yet-valid"),
    ({"scope": ("singing",)}, "consent-out-of-scope"),
], ids=["revoked", "expired", "not-yet-valid", "out-of-scope"])
def test_a_record_not_in_force_for_this_use_at_this_time_is_refused(fields, expected):
    c = consent_record("c1", ADA, **fields)
    assert codes(COVERS.evaluate(gate_request([fake_face(ADA)], [c]))) == [expected]


def test_validity_is_judged_at_the_request_time_not_the_clock():
    c = consent_record("c1", ADA, expires_at=dt.datetime(2026, 6, 30, tzinfo=dt.UTC))
    before = gate_request([fake_face(ADA)], [c], now=dt.datetime(2026, 6, 29, tzinfo=dt.UTC))
    assert codes(COVERS.evaluate(before)) == []


def test_a_record_that_fails_its_signature_or_the_signed_log_is_tampered():
    c = consent_record("c1", ADA)
    bad_sig = gate_request([fake_face(ADA)], [c], checks={"c1": ConsentCheck(False, True)})
    bad_log = gate_request([fake_face(ADA)], [c], checks={
        "c1": ConsentCheck(True, False, "its revocation was removed")})
    unchecked = gate_request([fake_face(ADA)], [c], checks={})
    for request in (bad_sig, bad_log, unchecked):
        assert codes(COVERS.evaluate(request)) == ["consent-tampered"]
    assert "revocation was removed" in COVERS.evaluate(bad_log).findings[0].message


def test_evidence_can_be_required():
    rule = ConsentCoversEveryFace(0.5, ("talking",), require_evidence=True)
    c = consent_record("c1", ADA)
    assert codes(rule.evaluate(gate_request([fake_face(ADA)], [c]))) == ["consent-no-evidence"]


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "gallery")
    g.add_embeddings("Famous Person", ADA[None], ["ab" * 32])
    return g


def test_a_public_figure_is_refused_consent_or_not(gallery):
    rule = PublicFiguresRefused(match_distance=0.55)
    result = rule.evaluate(gate_request([fake_face(ADA)], gallery=gallery))
    assert codes(result) == ["public-figure"] and "Famous Person" in result.findings[0].message
    assert result.facts["gallery_size"] == 1
    assert codes(rule.evaluate(gate_request([fake_face(STRANGER)], gallery=gallery))) == []
    assert codes(rule.evaluate(gate_request([fake_face(ADA)]))) == ["gallery-unavailable"]


def test_a_public_figure_with_their_own_consent_may_be_allowed(gallery):
    own = consent_record("own", ADA)
    rules = AllOf(COVERS, PublicFiguresRefused(0.55, allow_with_own_consent=True))
    result = rules.evaluate(gate_request([fake_face(ADA)], [own], gallery=gallery))
    assert codes(result) == []
    assert result.facts["public_figures"][0]["allowed_by_own_consent"] == "own"
    # The screen reads which record covers the face from the rules before it: alone, it
    # knows of none.
    alone = PublicFiguresRefused(0.55, allow_with_own_consent=True)
    assert codes(alone.evaluate(gate_request([fake_face(ADA)], [own], gallery=gallery))) == [
        "public-figure"]


def test_all_of_passes_facts_forward_without_writing_into_the_request(gallery):
    request = gate_request([fake_face(ADA)], [consent_record("c1", ADA)], gallery=gallery)
    result = AllOf(COVERS, PublicFiguresRefused(0.55)).evaluate(request)
    assert result.facts["consents_by_face"] == {"face 1": "c1"}
    assert dict(request.established) == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.uses = ("commercial",)


def test_audio_rights_and_the_visible_label():
    assert codes(AudioRightsAttested().evaluate(gate_request())) == [
        "no-audio-rights-attestation"]
    stated = AudioRightsAttested().evaluate(gate_request(audio_rights_attestation="mine"))
    assert codes(stated) == [] and len(stated.facts["audio_rights_attestation_sha256"]) == 64
    assert VisibleDisclosure().evaluate(gate_request()).facts["disclosure"] == "visible-label"
    assert codes(VisibleDisclosure().evaluate(gate_request(visible_disclosure=False))) == [
        "no-visible-disclosure"]
