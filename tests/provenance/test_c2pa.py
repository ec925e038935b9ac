"""C2PA signing and reading with c2pa-python against the workspace CA."""

import json

import pytest
from factories import write_video

from emo_safe import keys
from emo_safe.provenance.read import ABSENT, INVALID, TRUSTED, VALID_UNTRUSTED, read_manifest
from emo_safe.provenance.sign import (
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationClaim,
    build_manifest,
    sign_mp4,
)

CLAIM = GenerationClaim(
    generation_id="00112233aabbccdd", decision_id="d1", policy_name="default",
    policy_sha256="ab" * 32, consent_ids=["c1"], generator="still", generator_version="0.1.0",
    watermark={"scheme": "org.emo-safe.wm.v1", "payload": "00112233aabbccdd", "key_id": "k"},
)


@pytest.fixture
def signed(tmp_path, workspace):
    src = write_video(tmp_path / "raw.mp4", frames=20, audio_seconds=0.8)
    dest = tmp_path / "signed.mp4"
    manifest = build_manifest(CLAIM, workspace.assertion_label, "signed.mp4")
    sign_mp4(src, dest, manifest, workspace.load_signer())
    return dest


def test_signed_video_reads_trusted_with_ai_action_and_generation(signed, workspace):
    ev = read_manifest(signed, workspace.trust_anchors_pem())
    assert ev.state == TRUSTED, ev.failure_codes
    assert ev.ai_generated and ev.generator == {"name": "still", "version": "0.1.0"}
    assert ev.generation["generation_id"] == CLAIM.generation_id
    assert ev.generation["policy"] == {"name": "default", "sha256": "ab" * 32}
    assert ev.soft_binding["blocks"][0]["value"] == "00112233aabbccdd"
    assert ev.claim_generator.startswith("emo-safe")
    with open(signed, "rb") as fh:  # the declared source type, as c2pa-rs stored it
        import c2pa

        with c2pa.Reader("video/mp4", fh) as reader:
            actions = [a for m in json.loads(reader.json())["manifests"].values()
                       for x in m["assertions"] if x["label"].startswith("c2pa.actions")
                       for a in x["data"]["actions"]]
    assert actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA


def test_without_our_anchor_the_manifest_is_valid_but_untrusted(signed):
    ev = read_manifest(signed, "")
    assert ev.state == VALID_UNTRUSTED


def test_a_different_ca_is_not_trusted(signed):
    _, other_ca = keys.make_dev_ca("someone else")
    ev = read_manifest(signed, keys.cert_pem(other_ca).decode())
    assert ev.state == VALID_UNTRUSTED


def test_one_flipped_byte_of_video_data_is_a_hash_mismatch(signed, workspace, tmp_path):
    data = bytearray(signed.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + (len(data) - mdat) // 2] ^= 0x01
    bad = tmp_path / "flipped.mp4"
    bad.write_bytes(bytes(data))
    ev = read_manifest(bad, workspace.trust_anchors_pem())
    assert ev.state == INVALID
    assert "assertion.bmffHash.mismatch" in ev.failure_codes


def test_unsigned_video_has_no_manifest(tmp_path):
    assert read_manifest(write_video(tmp_path / "plain.mp4")).state == ABSENT


def test_a_real_generation_for_a_named_person_puts_no_personal_data_in_its_manifest(
        workspace, consents, portrait, speech, tmp_path):
    """Through the whole pipeline, with a consent record that has a name and a face template,
    and an output file named after the person: the manifest store holds ids and hashes only."""
    import c2pa
    import numpy as np

    from emo_safe import SafeGenerator

    person = "Ada Quartermaine-Lovelace"
    record = consents.add(person, portrait)
    out = tmp_path / "ada-quartermaine-lovelace.mp4"
    result = SafeGenerator(workspace, generator="still").generate(portrait, speech, out,
                                                                  consent_ids=[record.id])
    with open(out, "rb") as fh, c2pa.Reader("video/mp4", fh) as reader:
        store = reader.json()
    assert result.generation_id in store and record.id in store  # ids: yes
    for forbidden in (person, "Quartermaine", "quartermaine", "PRIVATE KEY",
                      "face_template", "embedding"):
        assert forbidden not in store, forbidden
    template = np.asarray(record.template, np.float32)
    assert template.tobytes().hex()[:32] not in store  # the template's bytes
    assert f"{template[0]:.4f}" not in store  # nor its numbers
