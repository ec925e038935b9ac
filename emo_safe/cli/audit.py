"""The ``audit`` commands: verify, export, report, head, prove, consistency, check-proof."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from emo_safe.cli._app import (
    _DATE,
    _progress,
    _utc_iso,
    _workspace,
    command,
    emit,
    handle_errors,
    main,
    say,
)


# ---------------------------------------------------------------------------------------------
@main.group()
def audit():
    """The tamper-evident audit log: verify it, prove inclusion and consistency, export it,
    report on it."""


@command(audit, "verify")
@click.option("--head", "head_file", type=click.Path(dir_okay=False, path_type=Path),
              help="A signed tree head kept earlier (from `audit head`): also catches a log "
                   "truncated or rewritten since.")
def audit_verify(ctx, head_file, as_json):
    """Recompute the whole log and check every signed head and every row (exit 0 intact,
    3 tampered, naming the first bad entry)."""
    from emo_safe.ledger.audit import verify_log
    from emo_safe.ledger.types import TreeHead

    ws = _workspace(ctx).require()
    known = TreeHead.load(head_file, signed=False) if head_file is not None else None
    with _progress("verifying the log", not as_json and sys.stderr.isatty()) as bar:
        task = bar.add_task("verify", total=None)
        result = verify_log(ws.store().log, ws.log_public_keys(), known,
                            progress=lambda n: bar.update(task, completed=n))
    if as_json:
        emit(result.to_dict())
    elif result.ok:
        say("[green]intact[/]: {} entries, root {}", result.size, result.root)
        for period in result.key_periods:
            say("  heads {}-{} ({}) signed by log key {}", period["first_head_size"],
                period["last_head_size"], period["heads"], period["key_id"])
    else:
        say("[red]tampered[/]: {}", result.problems[0])
    sys.exit(0 if result.ok else 3)


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True)
@click.option("--since", type=_DATE, help="Only entries at or after this UTC date/time.")
@click.option("--until", type=_DATE, help="Only entries before this UTC date/time.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of stdout.")
@click.pass_context
@handle_errors
def audit_export(ctx, fmt, since, until, output):
    """Export the audit log (ids, hashes, reasons; never face templates). A complete JSON
    export re-hashes to the signed root."""
    from emo_safe import _fs
    from emo_safe.ledger.audit import export_csv, export_entries

    data = export_entries(_workspace(ctx).require().store().log, _utc_iso(since),
                          _utc_iso(until))
    text = json.dumps(data, indent=1) + "\n" if fmt == "json" else export_csv(data)
    click.echo(text, nl=False) if output is None else _fs.write_atomic(output, text)


@command(audit, "report", json_help="Also print the figures as one JSON object.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The HTML file to write (self-contained: no scripts, no network).")
@click.option("--since", type=_DATE, help="Only entries at or after this UTC date/time.")
@click.option("--until", type=_DATE, help="Only entries before this UTC date/time.")
@click.option("--framework", type=click.Choice(["eu", "cn", "c2pa"]),
              help="Only the checklist items that evidence this framework's obligations "
                   "(EU AI Act art. 50, China's labelling rules, C2PA) [default: all].")
def audit_report(ctx, output, since, until, framework, as_json):
    """Write an HTML audit report: a compliance checklist answered from the log (both marks
    on every output, consent and revocations honoured, refusals, policies and key changes,
    each linked to the obligation it evidences), integrity status, generations and refusals
    over time by reason, consent usage, policies applied, and every generation with its
    manifest and watermark ids. Exit 3 when the log fails verification, 1 when a checklist
    item fails (the report says which)."""
    from emo_safe import _fs
    from emo_safe.ledger.audit import summarize
    from emo_safe.report import audit_html

    ws = _workspace(ctx).require()
    with _progress("reading the log", not as_json and sys.stderr.isatty()) as bar:
        task = bar.add_task("report", total=None)
        summary = summarize(ws.store().log, ws.log_public_keys(), _utc_iso(since),
                            _utc_iso(until), progress=lambda n: bar.update(task, completed=n),
                            framework=framework)
    _fs.write_atomic(output, audit_html(summary))
    integrity = summary.integrity
    if as_json:
        emit({"report": str(output), "intact": integrity.ok,
              "problems": list(integrity.problems), "entries": integrity.size,
              "generations": summary.generations, "decisions": summary.decisions,
              "refusals": summary.refusals, "refusal_reasons": summary.refusal_reasons,
              "consents": len(summary.consents), "framework": framework,
              "checklist": [i.to_dict() for i in summary.checklist]})
    else:
        say(("[green]intact[/]" if integrity.ok else "[red]TAMPERED[/]")
            + ": {} generations, {} refusals, {} consents -> [bold]{}[/]",
            summary.generations, summary.refusals, len(summary.consents), output)
        for item in summary.checklist:
            if item.status == "fail":
                say("[red]FAIL[/] {}: {}", item.title, item.evidence)
    failed = any(i.status == "fail" for i in summary.checklist)
    sys.exit(3 if not integrity.ok else 1 if failed else 0)


@audit.command("head")
@click.pass_context
@handle_errors
def audit_head(ctx):
    """Print the latest signed tree head (JSON). Keep it: `audit verify --head` checks later
    that the log only grew."""
    from emo_safe.ledger.audit import latest_head

    head = latest_head(_workspace(ctx).require().store().log)
    emit(head.to_json() if head is not None else {"size": 0})


@audit.command("prove")
@click.argument("generation_id")
@click.pass_context
@handle_errors
def audit_prove(ctx, generation_id):
    """Print an inclusion proof (JSON) of GENERATION_ID's log entry against the latest signed
    head; check it anywhere with `audit check-proof` and the log's public key."""
    from emo_safe.errors import InputError
    from emo_safe.ledger.audit import prove

    proof = prove(_workspace(ctx).require().store().log, generation_id)
    if proof is None:
        raise InputError(f"generation {generation_id} is not in the audit log")
    emit(proof.to_json())


@audit.command("consistency")
@click.argument("kept_head", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--size", type=click.IntRange(min=1),
              help="Prove against the signed head of this size [default: the latest].")
@click.pass_context
@handle_errors
def audit_consistency(ctx, kept_head, size):
    """Print a consistency proof (JSON) that the log at KEPT_HEAD (a head saved earlier with
    `audit head`) is a prefix of the log now: nothing was rewritten, it only grew. Check it
    anywhere with `audit check-proof`."""
    from emo_safe.ledger.audit import prove_consistency
    from emo_safe.ledger.types import TreeHead

    log = _workspace(ctx).require().store().log
    emit(prove_consistency(log, TreeHead.load(kept_head), size).to_json())


@audit.command("check-proof")
@click.argument("proof_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The log's public key (keys/log.pub) [default: this workspace's].")
@click.pass_context
@handle_errors
def audit_check_proof(ctx, proof_file, public_key):
    """Verify an inclusion or consistency proof offline (exit 0 valid, 3 invalid)."""
    from emo_safe.keys import load_public_key
    from emo_safe.ledger.audit import check_proof
    from emo_safe.ledger.types import load_json_document

    proof = load_json_document(proof_file, "proof")
    key = load_public_key(public_key) if public_key else \
        _workspace(ctx).require().log_public_keys()
    ok, message = check_proof(proof, key)
    say(("[green]valid[/]: " if ok else "[red]invalid[/]: ") + "{}", message)
    sys.exit(0 if ok else 3)
