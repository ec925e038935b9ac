"""Key rotation: the signer certificate, the operator key (consent records) and the log key
(tree heads). What an old key signed keeps verifying; the audit log records each rotation and
says which log key signed which heads; a log that hides a rotation does not verify."""

import json

import pytest
from factories import write_tone

from emo_safe import keys
from emo_safe.errors import InputError
from emo_safe.gate.consent import ConsentRegistry
from emo_safe.ledger.audit import check_proof, latest_head, prove_consistency, verify_log


def test_outputs_signed_before_and_after_a_signer_rotation_both_verify_as_trusted(
        cli, workspace, consented, portrait, tmp_path):
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    old_serial = format(workspace.signer_certificate().serial_number, "x")
    outputs = []
    for step in ("before", "after"):
        if step == "after":
            rotated = cli("keys", "rotate", "--json")
            assert rotated.exit_code == 0, rotated.output
            info = json.loads(rotated.stdout)
            assert info["old_id"] == old_serial and info["new_id"] != old_serial
            assert (workspace.root / info["retired"]).exists()
        out = tmp_path / f"{step}.mp4"
        gen = cli("generate", "--photo", str(portrait), "--audio", str(audio), "-o", str(out),
                  "--size", "128")
        assert gen.exit_code == 0, gen.output
        outputs.append(out)
    for out in outputs:
        verdict = json.loads(cli("verify", str(out), "--json").stdout)
        assert verdict["outcome"] == "generated" and verdict["c2pa"]["state"] == "trusted"
    audit = json.loads(cli("audit", "verify", "--json").stdout)
    assert audit["ok"]
    listed = json.loads(cli("keys", "list", "--json").stdout)
    assert listed["current"]["serial"] == info["new_id"]
    assert {e["serial"] for e in listed["issued"]} >= {old_serial, info["new_id"]}


def test_consent_records_signed_by_a_rotated_operator_key_still_verify(
        workspace, portrait, cli):
    registry = ConsentRegistry.for_workspace(workspace)
    before = registry.add("before rotation", portrait)
    rotated = cli("keys", "rotate", "--key", "operator", "--json")
    assert rotated.exit_code == 0, rotated.output
    old_id = json.loads(rotated.stdout)["old_id"]
    assert before.issuer == old_id
    registry = ConsentRegistry.for_workspace(workspace)
    after = registry.add("after rotation", portrait)
    assert after.issuer != old_id
    assert registry.verify(registry.get(before.id)) and registry.verify(registry.get(after.id))
    shown = json.loads(cli("consent", "show", before.id, "--json").stdout)
    assert shown["status"] == "valid"
    # Without the retired public key the old record no longer verifies: the ring is what
    # keeps it valid, not a relaxed check.
    (workspace.retired_dir / f"operator-{old_id}.pub").unlink()
    assert not ConsentRegistry.for_workspace(workspace).verify(registry.get(before.id))


def test_heads_signed_by_a_rotated_log_key_verify_and_audit_verify_names_each_key(
        workspace, consents, portrait, cli):
    consents.add("one", portrait)
    head_before = latest_head(workspace.store().log)
    rotated = cli("keys", "rotate", "--key", "log", "--json")
    assert rotated.exit_code == 0, rotated.output
    old_id, new_id = (json.loads(rotated.stdout)[k] for k in ("old_id", "new_id"))
    ConsentRegistry.for_workspace(workspace).add("two", portrait)  # signed by the new key

    result = verify_log(workspace.store().log, workspace.log_public_keys())
    assert result.ok, result.problems
    assert [p["key_id"] for p in result.key_periods] == [old_id, new_id]
    text = cli("audit", "verify")
    assert text.exit_code == 0 and old_id in text.stdout and new_id in text.stdout
    # The log kept before the rotation (old key) is a prefix of today's (new key).
    proof = prove_consistency(workspace.store().log, head_before)
    assert proof.old_head.key_id == old_id and proof.new_head.key_id == new_id
    ok, message = check_proof(proof, workspace.log_public_keys())
    assert ok, message

    # The new key alone does not vouch for the old heads...
    alone = verify_log(workspace.store().log, keys.load_public_key(workspace.log_pub_path))
    assert not alone.ok and "not signed by the log key" in alone.problems[0]
    # ...and a log that leaves the old key in force (the old public key put back as current,
    # as someone re-signing the log with a stolen retired key would need) does not verify.
    old_ring = keys.PublicKeyRing(
        keys.load_public_key(workspace.retired_dir / f"log-{old_id}.pub"),
        [keys.load_public_key(workspace.log_pub_path)])
    hidden = verify_log(workspace.store().log, old_ring)
    assert not hidden.ok and "in force" in hidden.problems[0]


def test_rotation_refuses_what_it_cannot_do(workspace):
    with pytest.raises(InputError, match="no watermark key to rotate"):
        workspace.rotate_ed25519_key("watermark")
    with pytest.raises(InputError, match="command signer"):
        workspace.rotate_signer("command:/usr/bin/kms-sign")
