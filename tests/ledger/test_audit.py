"""The audit log: every kind of tampering is detected, proofs verify offline and fail when
altered, and a killed append leaves a log that still verifies."""

import datetime as dt
import json
import subprocess
import sys
import uuid

import pytest
from factories import GENERATING_PROCESS
from sqlalchemy import select, text

from emo_safe import SafeGenerator
from emo_safe.ledger import merkle
from emo_safe.ledger.audit import check_proof, latest_head, prove, verify_log
from emo_safe.ledger.log import canonical
from emo_safe.ledger.schema import (
    AuditLeafRow,
    DecisionRow,
    GenerationRow,
    TreeHeadRow,
    TreeNodeRow,
    utcnow,
)
from emo_safe.ledger.store import new_id


def sql(workspace, statement, **params):
    with workspace.store().engine.begin() as conn:
        conn.execute(text(statement), params)


def verify(workspace, head=None):
    return verify_log(workspace.store().log, workspace.log_public_key(), head)


def test_an_untouched_log_verifies(workspace, history):
    r = verify(workspace)
    # keys, 2 consents, the policy's text, 3 decisions, 1 generation, 1 revocation
    assert r.ok and r.size == 9, r.problems
    with workspace.store().engine.connect() as conn:
        kinds = [k for (k,) in conn.execute(text("SELECT kind FROM audit_log ORDER BY seq"))]
    assert kinds == ["keys", "consent-added", "policy", "decision", "generation", "decision",
                     "consent-added", "consent-revoked", "decision"]


def test_editing_a_data_row_is_detected(workspace, history):
    sql(workspace, "UPDATE decisions SET allowed = :t WHERE allowed = :f", t=True, f=False)
    r = verify(workspace)
    assert not r.ok and "edited" in r.problems[0]


def test_editing_a_log_entry_is_detected(workspace, history):
    sql(workspace, "UPDATE audit_log SET body = replace(body, 'still', 'puppet') "
                   "WHERE kind = 'generation'")
    r = verify(workspace)
    assert not r.ok and r.first_bad == 4 and "edited" in r.problems[0]  # entry 4: the generation


def test_deleting_an_entry_is_detected(workspace, history):
    sql(workspace, "DELETE FROM audit_log WHERE seq = 2")
    r = verify(workspace)
    assert not r.ok and r.first_bad == 2 and "missing" in r.problems[0]


def test_inserting_a_row_outside_the_log_is_detected(workspace, history):
    sql(workspace, "INSERT INTO decisions (id, created_at, allowed, policy_name, policy_sha256, "
                   "reasons, matched, photo_sha256) VALUES (:id, :t, :a, 'default', 'x', '[]', "
                   "'{}', 'x')", id=uuid.uuid4().hex, t=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        a=True)
    r = verify(workspace)
    assert not r.ok and "not in the log" in r.problems[0]


def test_reordering_entries_is_detected(workspace, history):
    sql(workspace, "UPDATE audit_log SET seq = -1 WHERE seq = 1")
    sql(workspace, "UPDATE audit_log SET seq = 1 WHERE seq = 2")
    sql(workspace, "UPDATE audit_log SET seq = 2 WHERE seq = -1")
    r = verify(workspace)
    assert not r.ok and r.first_bad == 1


def test_rehashing_everything_without_the_key_is_detected(workspace, history):
    """The attacker edits an entry and recomputes every leaf hash and root, but cannot sign."""
    store = workspace.store()
    with store.session() as s:
        leaves = list(s.query(AuditLeafRow).order_by(AuditLeafRow.seq))
        event = json.loads(leaves[3].body)  # the first decision
        event["data"]["allowed"] = not event["data"]["allowed"]
        leaves[3].body = canonical(event).decode()
        f = merkle.Frontier()
        for leaf in leaves:
            leaf.leaf_hash = merkle.leaf_hash(leaf.body.encode()).hex()
            f.append(bytes.fromhex(leaf.leaf_hash))
            head = s.get(TreeHeadRow, f.size)
            if head is not None:  # a policy's first use shares its decision's head
                head.root = f.root().hex()
    r = verify(workspace)
    assert not r.ok and r.first_bad == 2 and "not signed by the log key" in r.problems[0]
    assert "entries 2-3" in r.problems[0]  # the policy text and its first decision: one head


def test_truncation_is_caught_against_a_kept_head(workspace, history, consents, portrait):
    kept = latest_head(workspace.store().log)
    consents.add("later", portrait)
    assert verify(workspace, kept).ok  # the log only grew
    with workspace.store().engine.begin() as conn:  # drop the newest entries and their rows
        events = [json.loads(b) for (b,) in
                  conn.execute(text("SELECT body FROM audit_log ORDER BY seq"))]
        kept_ids = {e["data"].get("id") for e in events[:5]}
        for e in events[5:]:
            if e["data"]["id"] not in kept_ids:
                table = "decisions" if e["kind"] == "decision" else "consents"
                conn.execute(text(f"DELETE FROM {table} WHERE id = :id"), {"id": e["data"]["id"]})
        conn.execute(text("DELETE FROM audit_log WHERE seq >= 5"))
        conn.execute(text("DELETE FROM tree_heads WHERE size > 5"))
    r = verify(workspace, kept)
    assert not r.ok and "truncated" in r.problems[0]


def test_inclusion_proof_verifies_offline_and_fails_when_altered(workspace, history):
    proof = prove(workspace.store().log, history.generation_id).to_json()
    key = workspace.log_public_key()
    ok, _ = check_proof(proof, key)
    assert ok and len(proof["audit_path"]) <= 4  # ceil(log2 9)
    tampered = json.loads(json.dumps(proof))
    tampered["entry"] = tampered["entry"].replace("still", "puppet")
    assert not check_proof(tampered, key)[0]
    forged = json.loads(json.dumps(proof))
    forged["tree_head"]["root"] = "00" * 32
    assert not check_proof(forged, key)[0]


def test_cli_audit_commands(cli, workspace, history, tmp_path):
    assert cli("audit", "verify").exit_code == 0
    proof = tmp_path / "proof.json"
    r = cli("audit", "prove", history.generation_id)
    proof.write_text(r.stdout)
    ok = cli("audit", "check-proof", str(proof), "--public-key", str(workspace.log_pub_path))
    assert ok.exit_code == 0 and "valid" in ok.stdout
    sql(workspace, "UPDATE generations SET frames = frames + 1")
    bad = cli("audit", "verify", "--json")
    assert bad.exit_code == 3 and "edited" in json.loads(bad.stdout)["problems"][0]


def test_a_killed_append_leaves_a_log_that_verifies(workspace, history, portrait):
    """Kill a process in the middle of an append transaction: nothing half-written remains."""
    code = (
        "import os, sys\n"
        "from emo_safe.workspace import Workspace\n"
        "from emo_safe.gate.consent import ConsentRegistry\n"
        "import emo_safe.ledger.log as lg\n"
        "orig = lg.SqlAuditLog.append_in\n"
        "def dying(self, s, events, locked=False):\n"
        "    orig(self, s, events, locked)\n"
        "    os._exit(9)  # killed after the rows are written, before the commit\n"
        "lg.SqlAuditLog.append_in = dying\n"
        f"ConsentRegistry.for_workspace(Workspace({str(workspace.root)!r})).add('x', "
        f"{str(portrait)!r})\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
    assert r.returncode == 9
    assert verify(workspace).ok and verify(workspace).size == 9


WORKER = """
import sys
from emo_safe.workspace import Workspace
from emo_safe.ledger.store import DecisionRow, GenerationRow, new_id, utcnow
store = Workspace(sys.argv[1]).store()
for i in range(25):  # a generation: its decision, then the generation record
    d = store.add_decision(DecisionRow(id=new_id(), created_at=utcnow(), allowed=True,
                                       policy_name="default", policy_sha256="ab" * 32,
                                       reasons="[]", matched="{}", photo_sha256="cd" * 32))
    store.add_generation(GenerationRow(id=new_id(), decision_id=d.id, created_at=utcnow(),
                                       generator="still", generator_version="1", settings="{}",
                                       policy_sha256="ab" * 32, photo_sha256="cd" * 32,
                                       audio_sha256="ef" * 32, output_sha256=new_id() * 2,
                                       manifest_id="urn:x", watermark_payload=new_id()[:12],
                                       consent_ids="[]", frames=25, fingerprint="[]"))
"""


def test_four_processes_appending_at_once_leave_one_consistent_log(workspace):
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(workspace.root)])
             for _ in range(4)]
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    r = verify(workspace)
    assert r.ok and r.size == 201, r.problems  # keys + 200: no lost, duplicated or forked
    assert len(workspace.store().list_decisions()) == 100
    assert len(workspace.store().list_generations()) == 100


def test_export_round_trips_to_the_signed_root_and_csv_has_every_entry(cli, workspace, history,
                                                                       tmp_path):
    import csv

    from emo_safe.ledger.audit import export_root

    r = cli("audit", "export", "--format", "json")
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and data["complete"] and len(data["entries"]) == 9
    assert export_root(data) == data["tree_head"]["root"]  # offline re-hash of the export
    assert "template\"" not in r.stdout and "face_template" not in r.stdout
    out = tmp_path / "log.csv"
    assert cli("audit", "export", "--format", "csv", "-o", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert [int(x["seq"]) for x in rows] == list(range(9))
    assert {x["kind"] for x in rows} == {"keys", "consent-added", "policy", "decision",
                                         "generation", "consent-revoked"}
    assert any("no-consent" in x["reasons"] for x in rows)
    future = cli("audit", "export", "--since", "2999-01-01")
    assert json.loads(future.stdout)["entries"] == []


def test_a_consistency_proof_shows_the_log_only_grew_and_fails_for_a_rewrite(
        cli, workspace, history, consents, portrait, tmp_path):
    kept = tmp_path / "head.json"
    kept.write_text(cli("audit", "head").stdout)
    consents.add("later", portrait)
    consents.add("later still", portrait)
    r = cli("audit", "consistency", str(kept))
    assert r.exit_code == 0, r.output
    proof = json.loads(r.stdout)
    assert proof["old_head"]["size"] == 9 and proof["new_head"]["size"] == 11
    assert 0 < len(proof["proof"]) <= 5  # logarithmic: at most ceil(log2 11) + 1
    path = tmp_path / "consistency.json"
    path.write_text(r.stdout)
    ok = cli("audit", "check-proof", str(path), "--public-key", str(workspace.log_pub_path))
    assert ok.exit_code == 0 and "prefix" in ok.stdout
    # A log rewritten after the kept head: the proof cannot join the two signed roots.
    forged = json.loads(r.stdout)
    forged["proof"][0] = "00" * 32
    path.write_text(json.dumps(forged))
    bad = cli("audit", "check-proof", str(path), "--public-key", str(workspace.log_pub_path))
    assert bad.exit_code == 3 and "not a prefix" in bad.stdout
    # A kept head whose signature was altered is refused before any hashing.
    forged = json.loads(r.stdout)
    forged["old_head"]["root"] = forged["new_head"]["root"]
    path.write_text(json.dumps(forged))
    bad = cli("audit", "check-proof", str(path), "--public-key", str(workspace.log_pub_path))
    assert bad.exit_code == 3 and "older tree head" in bad.stdout


def test_consistency_against_a_head_bigger_than_the_log_is_an_input_error(cli, history,
                                                                         tmp_path):
    head = json.loads(cli("audit", "head").stdout)
    head["size"] = 1000
    kept = tmp_path / "head.json"
    kept.write_text(json.dumps(head))
    r = cli("audit", "consistency", str(kept))
    assert r.exit_code == 2 and "1000" in r.stderr and "Traceback" not in r.stderr
    kept.write_text("not json")
    r = cli("audit", "consistency", str(kept))
    assert r.exit_code == 2 and "not a signed tree head" in r.stderr


def _decisions(n):
    return [DecisionRow(id=new_id(), created_at=utcnow(), allowed=i % 3 != 0,
                        policy_name="default", policy_sha256="ab" * 32,
                        reasons=json.dumps([] if i % 3 else [{"code": "no-consent",
                                                              "message": "x"}]),
                        matched="{}", photo_sha256="cd" * 32) for i in range(n)]


def test_a_batch_is_one_signed_head_and_an_edit_inside_it_is_located_to_the_batch(workspace):
    store = workspace.store()
    store.add_decisions(_decisions(10))
    store.add_decisions(_decisions(10))
    r = verify(workspace)
    assert r.ok and r.size == 21  # the workspace's "keys" event, then two batches
    with store.session() as s:
        assert [h.size for h in s.query(TreeHeadRow).order_by(TreeHeadRow.size)] == [1, 11, 21]
    with store.session() as s:  # an attacker re-hashes the leaf but cannot re-sign the head
        row = s.get(AuditLeafRow, 14)  # a refusal (i % 3 == 0) turned into an allowance
        assert '"allowed":false' in row.body
        row.body = row.body.replace('"allowed":false', '"allowed":true')
        row.leaf_hash = merkle.leaf_hash(row.body.encode()).hex()
    r = verify(workspace)
    assert not r.ok and r.first_bad == 11 and "entries 11-20" in r.problems[0]


def test_an_entry_appended_without_a_head_is_reported(workspace, history):
    body = canonical({"seq": 9, "kind": "decision", "time": "2026-01-01T00:00:00+00:00",
                      "data": {}}).decode()
    sql(workspace, "INSERT INTO audit_log (seq, kind, body, leaf_hash) VALUES (9, 'decision', "
                   ":b, :h)", b=body, h=merkle.leaf_hash(body.encode()).hex())
    r = verify(workspace)
    assert not r.ok and r.first_bad == 9 and "inserted" in r.problems[0]


def test_an_unreachable_database_is_one_clear_error(cli, workspace, monkeypatch):
    monkeypatch.setenv("EMO_SAFE_DATABASE_URL",
                       "postgresql+psycopg://emo_safe:secret-pw@127.0.0.1:1/nowhere")
    r = cli("audit", "verify")
    assert r.exit_code == 2 and "cannot reach the ledger database" in r.stderr
    assert "secret-pw" not in r.stderr and "Traceback" not in r.stderr


def test_key_and_policy_changes_are_in_the_log(workspace, history, tmp_path, portrait):
    """The first decision under each policy version logs its full text; init logs key ids."""
    from emo_safe.gate.policy import load_policy

    def events(kind):
        with workspace.store().engine.connect() as conn:
            return [json.loads(b)["data"] for (b,) in conn.execute(
                text("SELECT body FROM audit_log WHERE kind = :k ORDER BY seq"), {"k": kind})]

    (keys,) = events("keys")
    assert "keys/log.key" in keys["created"] and keys["log_key_id"]
    assert "PRIVATE" not in json.dumps(keys)  # ids and fingerprints only
    (policy,) = events("policy")  # three decisions, one policy version: logged once
    assert policy["name"] == "default" and "[consent]" in policy["text"]
    changed = tmp_path / "mine.toml"
    changed.write_text(policy["text"].replace('name = "default"', 'name = "mine"'))
    SafeGenerator(workspace, policy=load_policy(changed)).check(portrait)
    assert [p["name"] for p in events("policy")] == ["default", "mine"]
    assert verify(workspace).ok


def test_processes_generating_at_once_through_the_whole_pipeline(workspace, consented, portrait,
                                                                 speech, tmp_path):
    """Real generations (gate, policy event, decision, mark, sign, record) from three processes
    at once: one consistent log, and the policy's text logged exactly once."""
    procs = [subprocess.Popen([sys.executable, "-c", GENERATING_PROCESS, str(workspace.root),
                               str(portrait), str(speech), str(tmp_path / f"w{k}")])
             for k in range(3)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0, 0]
    r = verify(workspace)
    assert r.ok and r.size == 1 + 1 + 1 + 6 * 2, r.problems  # keys, consent, policy, 6 x 2
    assert len(workspace.store().list_generations()) == 6
    with workspace.store().engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log WHERE kind = 'policy'")) \
            .scalar() == 1


def test_proofs_come_from_stored_subtree_roots_and_a_damaged_one_never_passes(workspace):
    store = workspace.store()
    for _ in range(5):
        store.add_decisions(_decisions(13))  # 66 entries, heads at batch ends
    d = store.add_decision(_decisions(1)[0])
    gen = store.add_generation(GenerationRow(
        id=new_id(), decision_id=d.id, created_at=utcnow(), generator="still",
        generator_version="1", settings="{}", policy_sha256="ab" * 32, photo_sha256="cd" * 32,
        audio_sha256="ef" * 32, output_sha256="01" * 32, manifest_id="urn:x",
        watermark_payload="0123456789ab", consent_ids="[]", frames=1, fingerprint="[]"))
    store.add_decisions(_decisions(30))
    proof = prove(store.log, gen.id).to_json()
    with store.session() as s:
        hashes = [bytes.fromhex(h) for h in
                  s.scalars(select(AuditLeafRow.leaf_hash).order_by(AuditLeafRow.seq))]
        assert s.query(TreeNodeRow).count() == len(hashes) - bin(len(hashes)).count("1")
    # The same path as hashing every leaf, and it checks against the signed head.
    assert proof["audit_path"] == [h.hex() for h in merkle.inclusion_proof(67, hashes)]
    assert check_proof(proof, workspace.log_public_key())[0]
    # A log written before nodes were kept (none stored): the same proof, from the leaves.
    sql(workspace, "DELETE FROM tree_nodes WHERE level < 6")
    assert prove(store.log, gen.id).to_json() == proof
    # A damaged node gives a proof that fails, never one that passes.
    sql(workspace, "UPDATE tree_nodes SET hash = :h", h="00" * 32)
    assert not check_proof(prove(store.log, gen.id), workspace.log_public_key())[0]
    assert verify(workspace).ok  # nodes are derived data: the log itself is intact


def test_a_ledger_from_before_tree_nodes_gets_the_table_and_keeps_working(workspace, history,
                                                                          portrait):
    from emo_safe.gate.consent import ConsentRegistry
    from emo_safe.ledger.store import LedgerStore

    sql(workspace, "DROP TABLE tree_nodes")
    LedgerStore._engines.pop(workspace.database_url).dispose()  # a new process, in effect
    ConsentRegistry.for_workspace(workspace).add("after the upgrade", portrait)
    assert verify(workspace).ok
    assert check_proof(prove(workspace.store().log, history.generation_id),
                       workspace.log_public_key())[0]


def _rewrite_history(workspace, seq: int) -> None:
    """The attack of a database user without the log key: edit entry ``seq`` and its data row,
    recompute its leaf hash, every stored subtree root and the latest head's (unsigned)
    frontier. (After the next append, the heads between the edit and the latest go.)"""
    store = workspace.store()
    with store.session() as s:
        leaf = s.get(AuditLeafRow, seq)
        event = json.loads(leaf.body)
        assert event["kind"] == "decision" and not event["data"]["allowed"]
        event["data"]["allowed"], event["data"]["reasons"] = True, []
        leaf.body = canonical(event).decode()
        leaf.leaf_hash = merkle.leaf_hash(leaf.body.encode()).hex()
        row = s.get(DecisionRow, event["data"]["id"])
        row.allowed, row.reasons = True, "[]"
        hashes = [bytes.fromhex(h) for h in
                  s.scalars(select(AuditLeafRow.leaf_hash).order_by(AuditLeafRow.seq))]
        s.query(TreeNodeRow).delete()
        frontier = merkle.Frontier()
        for h in hashes:
            for level, index, node in frontier.append(h):
                s.add(TreeNodeRow(level=level, index=index, hash=node.hex()))
        latest = s.query(TreeHeadRow).order_by(TreeHeadRow.size.desc()).first()
        latest.frontier = json.dumps(frontier.to_hex())


def _delete_heads_after(workspace, seq: int) -> None:
    with workspace.store().session() as s:
        latest = s.query(TreeHeadRow).order_by(TreeHeadRow.size.desc()).first()
        s.query(TreeHeadRow).filter(TreeHeadRow.size > seq,
                                    TreeHeadRow.size < latest.size).delete()


def test_a_rewritten_history_is_never_signed_over_and_fails_verify(workspace, history, consents,
                                                                    portrait):
    from emo_safe.errors import IntegrityError

    kept_before = latest_head(workspace.store().log)
    consents.add("later", portrait)
    with workspace.store().log.reader() as r:
        refused = next(e.seq for e in r.entries() if '"allowed":false' in e.body)
    _rewrite_history(workspace, refused)
    size_before = latest_head(workspace.store().log).size
    with pytest.raises(IntegrityError, match="refusing to append"):
        consents.add("an ordinary append after the rewrite", portrait)
    assert latest_head(workspace.store().log).size == size_before  # nothing was signed
    _delete_heads_after(workspace, refused)  # (0.1 would have signed a head over it here)
    r = verify(workspace)
    assert not r.ok and "does not match the recomputed tree" in r.problems[0]
    assert not verify(workspace, kept_before).ok


def test_rows_logged_in_an_older_event_format_still_verify_after_display_fields_change(
        workspace, history, monkeypatch):
    from emo_safe.ledger import events
    from emo_safe.ledger.schema import ConsentRow

    store = workspace.store()
    with store.session() as s:  # a decision as emo-safe 0.1 logged it: format 0, no "v"
        row = _decisions(1)[0]
        s.add(row)
        store.log.append_in(s, [("decision", events.row_event("decisions", row, 0))])
    assert verify(workspace).ok
    # A later release adds a display field: the signed log is not a display view.
    original = ConsentRow.public_dict
    monkeypatch.setattr(ConsentRow, "public_dict",
                        lambda self: {**original(self), "display_only": "new in a later version"})
    assert verify(workspace).ok
    with workspace.store().log.reader() as r:
        assert '"v":' not in r.find_entries("decision", row.id)[0].body
        assert all('"v":1' in e.body for e in r.entries() if e.kind == "generation")


def test_a_log_whose_heads_predate_the_revocation_index_is_upgraded_on_its_next_append(
        workspace, history, consents, portrait):
    """emo-safe 0.1's heads signed size, root and time only (version 1) and it kept no
    revocation index: the first append builds the index from the log's own entries and signs
    it in a version 2 head; nothing of the old history changes."""
    from emo_safe.keys import OperatorKey
    from emo_safe.ledger.types import tree_head_bytes

    key = OperatorKey.load(workspace.log_key_path)
    with workspace.store().session() as s:
        for head in s.query(TreeHeadRow):
            head.version, head.revocations = None, None
            head.signature = key.sign(tree_head_bytes(head.size, head.root,
                                                      head.timestamp)).hex()
        s.execute(text("DELETE FROM revocations"))
    assert verify(workspace).ok  # a valid 0.1-style log
    revoked = [c for c in consents.list() if c.revoked_at is not None]
    assert revoked and consents.store.revocations(workspace.log_public_key()).signed is False
    consents.add("the first append after the upgrade", portrait)
    index = consents.store.revocations(workspace.log_public_key())
    assert index.signed and {c.id for c in revoked} <= index.ids
    assert latest_head(workspace.store().log).version == 2
    assert verify(workspace).ok
