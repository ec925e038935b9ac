"""The gate on real photos: consent, public-figure screening, scope, validity, tampering,
several faces, hidden faces; every decision lands in the ledger with all its reasons."""

import datetime as dt
import json

import cv2
import numpy as np
import pytest
from factories import hide_eyes

from emo_safe import SafeGenerator
from emo_safe.errors import ConsentError, InputError
from emo_safe.ledger.schema import ConsentRow


@pytest.fixture
def gallery(workspace, data_dir):
    g = workspace.gallery()
    g.add("Barack Obama", [data_dir / "obama.jpg"])
    g.add("Joe Biden", [data_dir / "biden.jpg"])
    return g


def check(workspace, photo, policy=None, **kwargs):
    decision = SafeGenerator(workspace, policy=policy).check(photo, **kwargs)
    return decision, {f.code for f in decision.findings}


def test_consented_face_is_allowed_and_the_record_is_named(workspace, consents, gallery,
                                                           data_dir):
    row = consents.add("Alex", data_dir / "alex-lacamoire.png")
    decision, codes = check(workspace, data_dir / "alex-lacamoire.png")
    assert decision.allowed and codes == set()
    assert decision.matched["consents_by_face"] == {"face 1": row.id}
    assert decision.matched["public_figures"] == [] and decision.matched["gallery_size"] == 2


@pytest.mark.parametrize("shift", [-80, -50, 50, 80], ids=lambda s: f"{s:+d}")
@pytest.mark.parametrize("photo", ["alex-lacamoire.png", "lin-manuel-miranda.png"])
def test_a_consented_face_under_a_lighting_change_is_still_that_person(
        workspace, consents, gallery, data_dir, tmp_path, photo, shift):
    """Consent matching survives ordinary lighting (reported: darker by 50 refused as
    consent-face-mismatch); screening is not loosened for it (the gallery still applies)."""
    consents.add("Enrolled", data_dir / photo)
    img = cv2.imread(str(data_dir / photo)).astype(np.int16) + shift
    relit = tmp_path / f"relit{shift}.png"
    cv2.imwrite(str(relit), np.clip(img, 0, 255).astype(np.uint8))
    decision, codes = check(workspace, relit)
    assert decision.allowed and codes == set()


def test_stranger_without_consent_is_refused(workspace, consents, gallery, data_dir):
    consents.add("Alex", data_dir / "alex-lacamoire.png")
    _, codes = check(workspace, data_dir / "lin-manuel-miranda.png")
    assert codes == {"no-consent"}


def test_public_figure_is_refused_even_with_a_consent_record_for_the_face(
        workspace, consents, gallery, data_dir):
    # A "look-alike" enrolled with consent: the face is covered, but it is Obama's face.
    lookalike = consents.add("Barry, a look-alike", data_dir / "obama2.jpg")
    decision, codes = check(workspace, data_dir / "obama2.jpg")
    assert codes == {"public-figure"}
    assert decision.matched["consents_by_face"] == {"face 1": lookalike.id}
    [hit] = decision.matched["public_figures"]
    assert hit["name"] == "Barack Obama" and hit["distance"] < 0.55


def test_research_policy_allows_a_public_figure_only_with_their_own_consent(
        workspace, consents, gallery, data_dir, tmp_path):
    evidence = tmp_path / "release-form.pdf"
    evidence.write_bytes(b"%PDF-1.4 signed release form")
    own = consents.add("Barack Obama", data_dir / "obama2.jpg", scope=["research"],
                       evidence=evidence)
    decision, codes = check(workspace, data_dir / "obama.jpg", policy="research")
    assert decision.allowed, codes
    assert decision.matched["public_figures"][0]["allowed_by_own_consent"] == own.id
    # Biden's photo is not covered by Obama's record: refused for both reasons.
    _, codes = check(workspace, data_dir / "biden.jpg", policy="research")
    assert codes == {"no-consent", "public-figure"}


def test_consent_for_a_different_person_does_not_cover_this_face(workspace, consents, data_dir):
    lin = consents.add("Lin", data_dir / "lin-manuel-miranda.png")
    _, codes = check(workspace, data_dir / "alex-lacamoire.png", consent_ids=[lin.id])
    assert codes == {"consent-face-mismatch"}


def test_expired_revoked_not_yet_valid_and_out_of_scope_records_are_refused(
        workspace, consents, data_dir):
    photo = data_dir / "alex-lacamoire.png"
    now = dt.datetime.now(dt.UTC)
    later = consents.add("Alex", photo, valid_from=now + dt.timedelta(days=30))
    _, codes = check(workspace, photo, consent_ids=[later.id])
    assert codes == {"consent-not-yet-valid"}

    talking = consents.add("Alex", photo, scope=["talking"])
    _, codes = check(workspace, photo, consent_ids=[talking.id], uses=["singing"])
    assert codes == {"consent-out-of-scope"}
    decision, codes = check(workspace, photo, consent_ids=[talking.id], uses=["talking"])
    assert decision.allowed

    consents.revoke(talking.id)
    _, codes = check(workspace, photo, consent_ids=[talking.id])
    assert codes == {"consent-revoked"}
    assert consents.verify(consents.get(talking.id))  # the revocation itself is signed


@pytest.mark.parametrize("edit", [
    lambda r: setattr(r, "name", "Someone Else"),
    lambda r: setattr(r, "scope", json.dumps(["commercial", "singing", "talking"])),
    lambda r: setattr(r, "expires_at", dt.datetime(2099, 1, 1, tzinfo=dt.UTC)),
    lambda r: setattr(r, "face_template", (np.frombuffer(r.face_template, np.float32) + 0.01)
                      .astype(np.float32).tobytes()),
], ids=["name", "scope", "expiry", "template"])
def test_a_record_edited_in_the_database_no_longer_verifies(workspace, consents, data_dir,
                                                            edit):
    photo = data_dir / "alex-lacamoire.png"
    row = consents.add("Alex", photo, expires=dt.datetime.now(dt.UTC) + dt.timedelta(days=9))
    with workspace.store().session() as s:
        edit(s.get(ConsentRow, row.id))
    assert not consents.verify(consents.get(row.id))
    _, codes = check(workspace, photo)
    assert codes == {"consent-tampered"}


def test_an_unrevoked_consent_is_refused_as_tampered_by_the_signed_log(workspace, consents,
                                                                       data_dir, cli):
    """Clearing revoked_at and the revocation signature in the database leaves a record whose
    original signature still verifies; the log's signed revocation index does not agree."""
    photo = data_dir / "alex-lacamoire.png"
    row = consents.add("Alex", photo)
    consents.revoke(row.id)
    with workspace.store().session() as s:
        r = s.get(ConsentRow, row.id)
        r.revoked_at, r.revocation_signature = None, None
    assert consents.verify(consents.get(row.id))  # the signature alone is fooled
    decision, codes = check(workspace, photo, consent_ids=[row.id])
    assert codes == {"consent-tampered"} and "revocation was removed" in \
        decision.findings[0].message
    shown = cli("consent", "show", row.id, "--json")
    assert shown.exit_code == 3 and json.loads(shown.stdout)["status"] == "tampered"


def test_a_revocation_removed_from_the_index_fails_closed(workspace, consents, data_dir):
    photo = data_dir / "alex-lacamoire.png"
    consents.add("Alex", photo)
    other = consents.add("Alex again", photo)
    consents.revoke(other.id)
    with workspace.store().engine.begin() as conn:
        from sqlalchemy import text

        conn.execute(text("DELETE FROM revocations"))
        conn.execute(text("UPDATE consents SET revoked_at = NULL, revocation_signature = NULL"))
    # Even the never-revoked record is not relied on, and the log refuses to record anything
    # over an index it did not sign: exit 3, nothing generated.
    from emo_safe.errors import IntegrityError

    gate = SafeGenerator(workspace).gate
    request = gate.prepare(photo, None)
    assert {c.log_ok for c in request.consent_checks.values()} == {False}
    with pytest.raises(IntegrityError, match="revocation index"):
        gate.evaluate(request)


def test_a_record_signed_by_another_operator_key_is_refused(workspace, consents, data_dir,
                                                            tmp_path):
    from emo_safe.gate.consent import ConsentRegistry
    from emo_safe.workspace import Workspace

    other = Workspace(tmp_path / "other")
    other.init()
    foreign = ConsentRegistry(workspace.store(), other.operator_public_key(), other.operator_key)
    foreign.add("Alex", data_dir / "alex-lacamoire.png")  # into *our* database
    _, codes = check(workspace, data_dir / "alex-lacamoire.png")
    assert codes == {"consent-tampered"}


def test_two_faces_with_one_consent_are_refused_with_every_reason(workspace, consents, gallery,
                                                                  data_dir):
    consents.add("Alex", data_dir / "alex-lacamoire.png")
    biden = consents.add("Joe", data_dir / "biden.jpg")
    decision, codes = check(workspace, data_dir / "two_people.jpg")
    assert codes == {"multiple-faces", "no-consent", "public-figure"}
    assert decision.matched["faces"] == 2
    assert {h["name"] for h in decision.matched["public_figures"]} == {"Barack Obama",
                                                                     "Joe Biden"}
    assert biden.id in decision.matched["consent_ids"]


def test_no_detectable_face_is_refused_after_the_thorough_search(workspace, tmp_path):
    wall = tmp_path / "wall.png"
    cv2.imwrite(str(wall), cv2.GaussianBlur(
        np.random.default_rng(1).integers(0, 255, (400, 400, 3), np.uint8), (0, 0), 4))
    decision, codes = check(workspace, wall)
    assert codes == {"no-face"}
    assert decision.matched["face_search"] == "none"


@pytest.mark.parametrize("transform", [
    lambda im: np.rot90(im),  # a sideways photo: the fast detector sees no face
    lambda im: im[::-1],  # upside down
], ids=["rotated-90", "upside-down"])
def test_hiding_a_public_figure_from_the_detector_does_not_evade_screening(
        workspace, gallery, data_dir, tmp_path, transform):
    img = cv2.imread(str(data_dir / "obama2.jpg"))
    hidden = tmp_path / "hidden.png"
    cv2.imwrite(str(hidden), np.ascontiguousarray(transform(img)))
    decision, codes = check(workspace, hidden)
    assert "public-figure" in codes and "no-face" not in codes
    assert decision.matched["face_search"] != "hog"  # the fast HOG pass alone saw nothing


def test_every_decision_is_in_the_ledger_with_all_its_reasons(workspace, consents, gallery,
                                                              data_dir):
    consents.add("Alex", data_dir / "alex-lacamoire.png")
    made = [check(workspace, data_dir / name)[0]
            for name in ("alex-lacamoire.png", "two_people.jpg", "lin-manuel-miranda.png")]
    rows = {r.id: r.public_dict() for r in workspace.store().list_decisions()}
    for d in made:
        row = rows[d.id]
        assert row["allowed"] == d.allowed
        assert row["reasons"] == [f.to_dict() for f in d.findings]
        assert row["matched"] == d.matched and row["policy_sha256"] == d.policy_sha256
    # two_people: multiple-faces, no-consent and public-figure for each of the two faces
    assert [len(rows[d.id]["reasons"]) for d in made] == [0, 5, 1]


def test_strict_policy_requires_attestation_evidence_and_the_visible_label(
        workspace, consents, portrait, speech, tmp_path):
    import av

    plain = consents.add("sample", portrait)
    _, codes = check(workspace, portrait, policy="strict")
    assert codes == {"no-audio-rights-attestation", "consent-no-evidence"}
    evidence = tmp_path / "consent-video.mp4"
    evidence.write_bytes(b"recorded consent")
    consents.revoke(plain.id)
    consents.add("sample", portrait, evidence=evidence)
    _, codes = check(workspace, portrait, policy="strict", audio_rights="my own recording",
                     visible_label=False)
    assert codes == {"no-visible-disclosure"}

    out = tmp_path / "labelled.mp4"
    result = SafeGenerator(workspace, policy="strict").generate(
        portrait, speech, out, audio_rights="my own recording")
    assert result.decision.matched["disclosure"] == "visible-label"
    with av.open(str(out)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    corner = frame[-40:, :160]
    # White label text on a darkened box in the bottom-left corner.
    assert (corner.min(axis=2) > 200).sum() > 50 and np.median(corner) < 90



# ------------------------------------------------------------------------------ eyes hidden
@pytest.mark.parametrize("how", ["paint", "blur"])
def test_a_public_figure_with_the_eyes_hidden_is_refused_not_missed(workspace, gallery, data_dir,
                                                                    tmp_path, how):
    """Painting over the eyes hides Obama from HOG and moves his embedding out of the
    gallery's reach; RetinaFace still finds the face and the gate refuses what it cannot
    screen."""
    hidden = hide_eyes(data_dir / "obama2.jpg", tmp_path / "hidden.png", how)
    decision, codes = check(workspace, hidden)
    assert "eyes-hidden" in codes and "no-face" not in codes
    assert decision.matched["eyes_hidden"] == ["face 1"]
    assert decision.matched["faces"] == 1


def test_consent_does_not_cover_a_face_whose_eyes_are_hidden(workspace, consents, gallery,
                                                             data_dir, tmp_path):
    consents.add("Alex", data_dir / "alex-lacamoire.png")
    decision, codes = check(workspace, hide_eyes(data_dir / "alex-lacamoire.png",
                                                 tmp_path / "alex.png"))
    assert not decision.allowed and "eyes-hidden" in codes


def test_a_second_face_hidden_from_hog_in_a_group_photo_is_still_counted(
        workspace, consents, gallery, data_dir, tmp_path):
    """One consented face next to a public figure whose eyes are painted over: HOG sees only
    one face, which must not make the photo pass as a single consented face."""
    consents.add("Joe", data_dir / "biden.jpg")
    group = hide_eyes(data_dir / "two_people.jpg", tmp_path / "group.png", face=0)
    decision, codes = check(workspace, group)
    assert decision.matched["faces"] == 2 and decision.matched["face_search"] == "hog+retinaface"
    assert {"multiple-faces", "eyes-hidden"} <= codes


def test_a_policy_may_turn_the_eye_check_off(workspace, consents, data_dir, tmp_path):
    policy = workspace.policies_dir / "lenient.toml"  # the operator put it there
    policy.write_text('name = "lenient"\n[faces]\nrefuse_hidden_eyes = false\n'
                      '[public_figures]\nscreen = false\n')
    _, codes = check(workspace, hide_eyes(data_dir / "lin-manuel-miranda.png",
                                          tmp_path / "lin.png"), policy=str(policy))
    assert codes == {"no-consent"}


def test_photos_with_hidden_eyes_cannot_be_enrolled(workspace, consents, data_dir, tmp_path):
    hidden = hide_eyes(data_dir / "obama2.jpg", tmp_path / "hidden.png")
    with pytest.raises(ConsentError, match="eyes in the consent photo"):
        consents.add("Nobody", hidden)
    with pytest.raises(InputError, match="eyes in gallery photo"):
        workspace.gallery().add("Barack Obama", [hidden])
    assert consents.store.list_consents() == [] and len(workspace.gallery()) == 0


def test_only_policies_the_operator_allows_are_used_whatever_they_call_themselves(
        workspace, portrait, tmp_path, cli):
    import hashlib

    from emo_safe.errors import PolicyError

    rogue = tmp_path / "default.toml"
    rogue.write_text('name = "default"\n[consent]\nrequired = false\n'
                     '[public_figures]\nscreen = false\n')
    with pytest.raises(PolicyError, match="not allowed in this workspace"):
        SafeGenerator(workspace, policy=str(rogue))
    r = cli("check", str(portrait), "--policy", str(rogue))
    assert r.exit_code == 2 and "not allowed" in r.stderr
    digest = hashlib.sha256(rogue.read_bytes()).hexdigest()
    with workspace.config_path.open("a") as fh:
        fh.write(f'\n[policies]\nallowed_sha256 = ["{digest}"]\n')
    decision = SafeGenerator(workspace, policy=str(rogue)).check(portrait)
    assert decision.policy_name == "default" and decision.policy_sha256 == digest
    shown = cli("check", str(portrait), "--policy", str(rogue))
    assert digest[:12] in shown.stdout  # the name alone never identifies a policy


def _paste(canvas, face_photo, side, x, y):
    """Paste the photo's face, cropped with some margin, so that the face is ``side`` px."""
    import cv2

    from emo_safe.faces import FaceAnalyzer
    from emo_safe.media import load_image

    img = load_image(face_photo)
    box = FaceAnalyzer().find_faces(img).faces[0].box
    m = box.width // 2
    crop = img[max(0, box.top - m):box.bottom + m, max(0, box.left - m):box.right + m]
    scale = side / box.width
    small = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small
    return canvas


@pytest.mark.parametrize("second", ["alex-lacamoire.png", "obama.jpg"], ids=["stranger",
                                                                              "public-figure"])
def test_a_small_second_face_in_a_large_photo_is_found(workspace, consents, gallery, data_dir,
                                                       tmp_path, second):
    """A consented person large in a 24-megapixel photo, another face pasted in at 180 px:
    the whole photo the generator would get is searched, so the second face is seen (and a
    public figure is named)."""
    import cv2

    consents.add("Lin", data_dir / "lin-manuel-miranda.png")
    canvas = np.full((4000, 6000, 3), 128, np.uint8)
    _paste(canvas, data_dir / "lin-manuel-miranda.png", 1500, 200, 300)
    _paste(canvas, data_dir / second, 180, 5000, 3200)
    photo = tmp_path / "large.jpg"
    cv2.imwrite(str(photo), canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
    decision, codes = check(workspace, photo)
    assert decision.faces == 2, decision.matched
    assert "multiple-faces" in codes
    if second == "obama.jpg":
        assert "public-figure" in codes
    else:
        assert "no-consent" in codes
