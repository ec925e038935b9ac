"""The audit report's compliance checklist: it passes on a clean history and flags what a
test workspace breaks behind the command line's back (an output logged without a watermark
payload, a generation after its consent was revoked), in JSON and in the page Chromium
renders."""

import datetime as dt
import json

import pytest
from browsers import render

from emo_safe.ledger.audit import summarize
from emo_safe.ledger.compliance import checklist
from emo_safe.ledger.store import GenerationRow


def statuses(report: dict) -> dict:
    return {i["id"]: i["status"] for i in report["checklist"]}


def test_a_clean_history_passes_every_item(cli, workspace, history, tmp_path):
    r = cli("audit", "report", "-o", str(tmp_path / "a.html"), "--json")
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    assert {s for s in statuses(report).values()} <= {"pass", "info"}
    by_id = {i["id"]: i for i in report["checklist"]}
    assert by_id["outputs-watermarked"]["evidence"] == "all 1 generations logged a watermark " \
                                                      "payload"
    assert "no-consent: 1" in by_id["refusals"]["evidence"]
    assert "default" in by_id["policies-in-force"]["evidence"]
    assert "eu:art50(2)" in by_id["outputs-signed"]["obligations"]


def sneak_generation(workspace, history, **fields) -> str:
    """A generation row recorded through the store, not the pipeline (as a buggy or hostile
    integration could): the log verifies, the checklist must still see it."""
    store = workspace.store()
    row = store.get_generation(history.generation_id)
    values = {c: getattr(row, c) for c in ("decision_id", "generator", "generator_version",
                                           "settings", "policy_sha256", "photo_sha256",
                                           "audio_sha256", "output_sha256", "manifest_id",
                                           "watermark_payload", "consent_ids", "frames",
                                           "fingerprint")}
    values.update(fields)
    gid = fields.get("id", "feedfacecafe")
    store.add_generation(GenerationRow(id=gid, created_at=dt.datetime.now(dt.UTC),
                                       **{k: v for k, v in values.items() if k != "id"}))
    return gid


def test_an_output_logged_without_a_watermark_fails_outputs_watermarked(
        cli, workspace, history, tmp_path, chromium):
    gid = sneak_generation(workspace, history, watermark_payload="")
    page = tmp_path / "broken.html"
    r = cli("audit", "report", "-o", str(page), "--json")
    assert r.exit_code == 1, r.output  # the log is intact; the checklist fails
    report = json.loads(r.stdout)
    assert report["intact"] and statuses(report)["outputs-watermarked"] == "fail"
    item = next(i for i in report["checklist"] if i["id"] == "outputs-watermarked")
    assert item["evidence"] == "1 of 2 generations logged no watermark payload"
    assert item["details"][0]["generation_id"] == gid
    dom = render(chromium, page, tmp_path, "dom")
    assert 'id="check-outputs-watermarked"' in dom and "1 item(s) fail" in dom and gid in dom
    text = cli("audit", "report", "-o", str(page))
    assert text.exit_code == 1 and "FAIL" in text.stdout


def test_a_generation_after_its_consent_was_revoked_fails_revocations_honoured(
        cli, workspace, history, consents, portrait):
    record = next(c for c in consents.list() if c.name == "sample")
    consents.revoke(record.id)
    gid = sneak_generation(workspace, history, id="0badc0ffee00",
                           consent_ids=json.dumps([record.id]))
    summary = summarize(workspace.store().log, workspace.log_public_keys())
    item = next(i for i in summary.checklist if i.id == "revocations-honoured")
    assert item.status == "fail"
    assert item.details[0]["generation_id"] == gid and item.details[0]["consent_id"] == record.id
    # The generation made before the revocation is not flagged.
    assert history.generation_id not in {d["generation_id"] for d in item.details}


def test_the_framework_filter_keeps_that_framework_s_items(workspace, history):
    summary = summarize(workspace.store().log, workspace.log_public_keys(), framework="cn")
    ids = {i.id for i in summary.checklist}
    assert "implicit-label" in ids and "outputs-signed" not in ids
    assert all(any(o.startswith("cn:") for o in i.obligations) for i in summary.checklist)
    with pytest.raises(ValueError, match="unknown framework"):
        checklist([], summary.integrity, "us")
