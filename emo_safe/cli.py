"""The ``emo-safe`` command line. Thin: parse, call the library, render.

Exit codes: 0 success (for ``verify``: evidence that the file came from this deployment);
1 ``verify`` found no such evidence / ``check`` denied / ``generate`` refused by policy;
2 usage or input error; 3 integrity failure (tampered manifest or audit log); 128 + N when
stopped by signal N (130 Ctrl-C, 143 SIGTERM), after cleaning up.

Everything the library needs is imported inside the command that uses it, so ``--help`` and
each command start without paying for the others. Text that comes from users or files (names,
paths, reasons) is escaped before it meets rich's markup.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path

import click

from emo_safe._version import __version__
from emo_safe.errors import EmoSafeError, GenerationRefused

_CONSOLES: dict = {}


def _console(stderr: bool = False):
    if stderr not in _CONSOLES:
        from rich.console import Console

        _CONSOLES[stderr] = Console(stderr=stderr)
    return _CONSOLES[stderr]


def say(markup: str = "", *values) -> None:
    """Print ``markup`` with ``values`` (user text, escaped) filled into its ``{}``."""
    from rich.markup import escape

    _console().print(markup.format(*(escape(str(v)) for v in values)), highlight=False,
                     soft_wrap=True)


def _fail(message: str, code: int) -> None:
    from rich.markup import escape

    _console(True).print(f"[bold red]emo-safe: error:[/] {escape(message)}", highlight=False,
                         soft_wrap=True)
    sys.exit(code)


def handle_errors(fn):
    """Every failure ends in one clear line on stderr and a documented exit code."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from emo_safe._signals import Terminated, stop_signals_raise

        try:
            with stop_signals_raise():  # clean up on SIGTERM/SIGHUP as on Ctrl-C
                return fn(*args, **kwargs)
        except GenerationRefused:
            raise  # rendered by the command itself
        except EmoSafeError as exc:
            _fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Terminated as exc:
            _fail(str(exc), 128 + exc.signum)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # a bug: still no traceback for the user
            if os.environ.get("EMO_SAFE_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}); set EMO_SAFE_DEBUG=1 for details", 2)

    return wrapper


def command(group, name: str | None = None, json_help: str = "Print one JSON object."):
    """A subcommand of ``group`` with ``--json``, the context and the error handling."""

    def wrap(fn):
        fn = click.pass_context(handle_errors(fn))
        cmd = group.command(name)(click.option("--json", "as_json", is_flag=True,
                                               help=json_help)(fn))
        cmd.params.append(cmd.params.pop(0))  # listed last in --help
        return cmd

    return wrap


def _workspace(ctx: click.Context):
    from emo_safe.workspace import Workspace

    return Workspace.locate(ctx.obj.get("workspace"))


def emit(obj: dict) -> None:
    click.echo(json.dumps(obj, indent=None, sort_keys=False, default=str))


def _progress(label: str, enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                    TimeRemainingColumn(), console=_console(True), transient=True,
                    disable=not enabled)


def _table(*headers, rows=()):
    from rich.table import Table
    from rich.text import Text

    table = Table(*headers)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))  # cells are text, never markup
    _console().print(table)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="emo-safe")
@click.option("--workspace", type=click.Path(file_okay=False, path_type=Path),
              help="Workspace folder (default: $EMO_SAFE_HOME, else the per-user data dir). "
                   "Goes before the command: emo-safe --workspace DIR init.")
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """Consent gate, invisible watermark, C2PA signing and an audit ledger for
    audio-driven portrait-video generators."""
    ctx.ensure_object(dict)
    ctx.obj["workspace"] = workspace


# ---------------------------------------------------------------------------------------------
@command(main)
@click.option("--signer-cert", type=click.Path(dir_okay=False, path_type=Path),
              help="Import your own signer certificate chain (PEM, leaf first) instead of the "
                   "dev CA.")
@click.option("--signer-key", type=click.Path(dir_okay=False, path_type=Path),
              help="The private key of --signer-cert (PEM).")
def init(ctx, signer_cert, signer_key, as_json):
    """Create the workspace: dev CA and signer, watermark key, database, default policy.

    Idempotent: what exists is kept; a key is never overwritten. Set EMO_SAFE_KEY_PASSPHRASE to
    encrypt the private keys (the watermark key included) at rest.
    """
    report = _workspace(ctx).init(signer_cert, signer_key)
    if as_json:
        return emit({"workspace": str(report.root), "created": report.created,
                     "kept": report.kept})
    say("workspace: [bold]{}[/]", report.root)
    for item in report.created:
        say("  created {}", item)
    for item in report.kept:
        say("  kept    {}", item)


# ---------------------------------------------------------------------------------------------
@main.group()
def consent():
    """Consent records of the people who may be animated."""


_DATE = click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.UTC) if value is not None else None


def _consents(ctx):
    from emo_safe.gate.consent import ConsentRegistry

    return ConsentRegistry.for_workspace(_workspace(ctx).require())


@command(consent, "add")
@click.option("--name", required=True, help="Name or pseudonym of the person.")
@click.option("--photo", required=True, type=click.Path(path_type=Path),
              help="A photo showing exactly this person's face.")
@click.option("--scope", multiple=True, default=("talking", "singing"), show_default=True,
              help="Allowed uses (talking, singing, commercial, research, ...): repeat or "
                   "separate with commas.")
@click.option("--valid-from", type=_DATE, help="Start of validity (YYYY-MM-DD, UTC; default now).")
@click.option("--expires", type=_DATE, help="Expiry (YYYY-MM-DD, UTC).")
@click.option("--evidence", type=click.Path(path_type=Path),
              help="The signed release form or consent video; only its sha256 is recorded.")
def consent_add(ctx, name, photo, scope, valid_from, expires, evidence, as_json):
    """Record a person's consent, signed with the operator key; prints the consent id."""
    from emo_safe.gate.policy import load_policy

    ws = _workspace(ctx).require()
    registry = _consents(ctx)
    record = registry.add(name, photo, scope=scope, valid_from=_utc(valid_from),
                          expires=_utc(expires), evidence=evidence,
                          limits=load_policy(None, ws.policies_dir).image_limits)
    emit(registry.describe(record)) if as_json else say("{}", record.id)


@command(consent, "list")
def consent_list(ctx, as_json):
    """List consent records with their status (never the face templates)."""
    registry = _consents(ctx)
    rows = registry.describe_all(registry.list())
    if as_json:
        return emit({"consents": rows})
    _table("id", "name", "scope", "valid from", "expires", "status", rows=[
        (r["id"], r["name"], ",".join(r["scope"]), (r["valid_from"] or "-")[:10],
         (r["expires_at"] or "-")[:10], r["status"]) for r in rows])


@command(consent, "show")
@click.argument("consent_id")
def consent_show(ctx, consent_id, as_json):
    """One consent record, its status and whether it verifies against the operator key and the
    signed audit log (exit 3 if not)."""
    registry = _consents(ctx)
    info = registry.describe(registry.get(consent_id))
    if as_json:
        emit(info)
    else:
        for key, value in info.items():
            value = ", ".join(value) if isinstance(value, list) else value
            say("{}", f"{key + ':':18} {value if value is not None else '-'}")
    if info["status"] == "tampered":
        if not as_json:
            _console(True).print(f"emo-safe: this record was tampered with: "
                                 f"{info.get('problem')}", highlight=False, markup=False)
        sys.exit(3)


@command(consent, "revoke")
@click.argument("consent_id")
def consent_revoke(ctx, consent_id, as_json):
    """Revoke a consent record (signed); every later request is refused."""
    registry = _consents(ctx)
    record = registry.revoke(consent_id)
    emit(registry.describe(record)) if as_json else say("revoked {}", record.id)


# ---------------------------------------------------------------------------------------------
@main.group()
def gallery():
    """The public-figure gallery the gate screens every face against."""


def _render_identities(identities, as_json: bool) -> None:
    if as_json:
        return emit({"identities": [i.to_dict() for i in identities]})
    _table("id", "name", "photos", "added",
           rows=[(i.id, i.name, i.photos, i.added_at[:10]) for i in identities])


@command(gallery, "add")
@click.option("--name", required=True, help="The public figure's name.")
@click.argument("photos", nargs=-1, required=True, type=click.Path(path_type=Path))
def gallery_add(ctx, name, photos, as_json):
    """Add a public figure from PHOTOS (each showing exactly their face)."""
    _render_identities([_workspace(ctx).require().gallery().add(name, list(photos))], as_json)


@command(gallery, "import")
@click.argument("directory", type=click.Path(path_type=Path))
def gallery_import(ctx, directory, as_json):
    """Import DIRECTORY: one sub-folder per person, named after them, holding their photos."""
    _render_identities(_workspace(ctx).require().gallery().import_dir(directory), as_json)


@command(gallery, "list")
def gallery_list(ctx, as_json):
    """List the gallery's identities (names and photo counts; never the face templates)."""
    _render_identities(_workspace(ctx).require().gallery().identities(), as_json)


# ---------------------------------------------------------------------------------------------
def _render_decision(decision, as_json: bool) -> None:
    if as_json:
        return emit(decision.to_dict())
    if decision.gallery_size == 0:
        _console(True).print("emo-safe: warning: the public-figure gallery is empty, so no face "
                             "was screened (see `emo-safe gallery import`)", markup=False)
    policy = f"{decision.policy_name!r} (sha256 {decision.policy_sha256[:12]})"
    if decision.allowed:
        say("[green]allowed[/] by policy {} (decision {})", policy, decision.id)
        for face, cid in decision.consents_by_face.items():
            say("  {}: consent {}", face, cid)
        return
    say("[red]refused[/] by policy {} (decision {}):", policy, decision.id)
    for f in decision.findings:
        say("  - \\[{}] {}", f.code, f.message)


def _request_options(fn):
    """The options a requester declares, shared by check and generate."""
    for option in reversed([
        click.option("--consent", "consent_ids", multiple=True,
                     help="Consent id to use (repeatable; default: every record)."),
        click.option("--use", "uses", multiple=True,
                     help="What the video is for (talking, singing, commercial, ...); "
                          "default: the policy's default_uses."),
        click.option("--audio-rights", metavar="STATEMENT",
                     help="Your statement that you hold the rights to the voice or song "
                          "(required by strict.toml)."),
        click.option("--label/--no-label", "visible_label", default=None,
                     help="Draw the visible AI-generated label (default: as the policy "
                          "requires)."),
        click.option("--policy", help="Policy name (default, strict, research, or one in the "
                                      "workspace's policies/), or a file the workspace allows "
                                      "(policies.allowed_sha256 in config.toml)."),
    ]):
        fn = option(fn)
    return fn


@command(main)
@click.argument("photo", type=click.Path(path_type=Path))
@_request_options
def check(ctx, photo, consent_ids, uses, audio_rights, visible_label, policy, as_json):
    """The gate's decision for PHOTO, with every reason (exit 0 allowed, 1 refused, 2 bad
    input). Recorded in the ledger like any decision."""
    from emo_safe.pipeline import SafeGenerator

    decision = SafeGenerator(_workspace(ctx), policy=policy).check(
        photo, list(consent_ids), uses=uses, audio_rights=audio_rights,
        visible_label=visible_label)
    _render_decision(decision, as_json)
    sys.exit(0 if decision.allowed else 1)


@command(main)
@click.option("--photo", required=True, type=click.Path(path_type=Path), help="Portrait photo.")
@click.option("--audio", required=True, type=click.Path(path_type=Path), help="Voice or song.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output .mp4 (must not exist).")
@_request_options
@click.option("--generator", default="puppet", show_default=True,
              help="puppet (built-in animator), still, a registered name, "
                   "'diffusers:PIPELINE_DIR' or 'diffusers:module:callable', "
                   "'command:PROGRAM ARGS' with {photo} {audio} {output} placeholders, or a "
                   "preset for an upstream project: sadtalker:, hallo:, echomimic:, sonic:, "
                   "memo: followed by its folder (docs/generators.md).")
@click.option("--generator-option", "generator_options", multiple=True, metavar="KEY=VALUE",
              help="A setting the generator declares (repeatable), e.g. python=/opt/x/bin/"
                   "python for a preset; unknown keys are an error.")
@click.option("--timeout", type=click.FloatRange(1, None), default=None,
              help="Seconds an external program (command:, presets) may run [default: 1800]; "
                   "shorthand for --generator-option timeout=S.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--fps", default=25.0, show_default=True, type=click.FloatRange(1, 120))
@click.option("--size", default=512, show_default=True, type=click.IntRange(64, 2048))
@click.option("--full-image", is_flag=True,
              help="Animate the whole photo instead of the face-centred --size crop (puppet).")
@click.option("--steps", type=click.IntRange(1, 1000),
              help="Inference steps (diffusers:); shorthand for --generator-option steps=N.")
@click.option("--guidance", type=click.FloatRange(0, 100),
              help="Guidance scale (diffusers:); shorthand for --generator-option guidance=G.")
def generate(ctx, photo, audio, output, consent_ids, uses, audio_rights, visible_label, policy,
             generator, generator_options, timeout, seed, fps, size, full_image, steps,
             guidance, as_json):
    """Gate, generate, watermark, sign and record one video."""
    from emo_safe.generators.options import parse_pairs

    result = _generate(ctx, photo, audio, output, as_json, policy=policy, generator=generator,
                       timeout=timeout, generator_options=parse_pairs(generator_options),
                       consent_ids=list(consent_ids), seed=seed, fps=fps, size=size, uses=uses,
                       steps=steps, guidance=guidance, full_image=full_image,
                       audio_rights=audio_rights, visible_label=visible_label)
    if as_json:
        return emit(result.to_dict())
    say("[green]generated[/] {}", result.output)
    say("  generation {}, {} frames, manifest {}", result.generation_id, result.frames,
        result.manifest_label)


def _generate(ctx, photo, audio, output, as_json, *, policy, generator, timeout=None,
              generator_options=None, **kwargs):
    from emo_safe.pipeline import SafeGenerator

    gen = SafeGenerator(_workspace(ctx), policy=policy, generator=generator,
                        generator_timeout=timeout, generator_options=generator_options)
    with _progress("generating", not as_json and sys.stderr.isatty()) as bar:
        task = bar.add_task("generate", total=None)
        try:
            return gen.generate(photo, audio, output, **kwargs,
                                progress=lambda i, n: bar.update(task, completed=i, total=n))
        except GenerationRefused as exc:
            bar.stop()
            _render_decision(exc.decision, as_json)
            _console(True).print(f"emo-safe: {exc.message}", highlight=False, markup=False)
            sys.exit(1)


# ---------------------------------------------------------------------------------------------
def _render_verdict(v) -> None:
    colour = {"generated": "green", "generated-manifest-stripped": "green",
              "tampered": "red", "inconsistent": "red"}.get(v.outcome, "yellow")
    say(f"[bold]{{}}[/]: [{colour}]{{}}[/]", v.path, v.outcome)
    for r in v.reasons:
        say("  - {}", r)
    m = v.manifest
    say("  C2PA: {}{}", m.state, f" ({', '.join(m.failure_codes)})" if m.failure_codes else "")
    if m.generation:
        say("  generation id: {}", m.generation.get("generation_id"))
    if v.watermark:
        _render_watermark(v.watermark, indent="  ")
    if v.ledger:
        say("  ledger: generation {}, decision {}", v.ledger["id"], v.ledger["decision_id"])


@command(main, json_help="Print one JSON object (JSON lines for many).")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--profile", help="Detector profile file or name [default: the workspace's, else "
                                "the bundled default].")
@click.option("-j", "--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Files verified in parallel (processes).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report (frames, watermark score over "
                   "time, manifest summary, verdict).")
def verify(ctx, files, profile, jobs, report, as_json):
    """Does FILE come from this deployment? C2PA manifest, watermark and ledger evidence.

    FILES may include directories (every file under them). Exit 0: evidence found for every
    file; 1: some file has no evidence; 2: some file is unreadable; 3: some file is tampered or
    inconsistent (the most serious wins).
    """
    from emo_safe import _fs
    from emo_safe.batch import expand_paths, verify_many, worst_exit_code

    ws = _workspace(ctx)
    paths = expand_paths(files)
    if not paths:
        raise click.UsageError("no files to verify")
    with _progress("verifying", not as_json and len(paths) > 1 and sys.stderr.isatty()) as bar:
        task = bar.add_task("verify", total=len(paths))
        rows = list(verify_many(ws.root, paths, profile, jobs,
                                on_row=lambda _: bar.advance(task)))
    for row in rows:
        if as_json:
            emit(row.data)
        elif row.verdict is None:
            _console(True).print(f"emo-safe: error: {row.data['error']}", highlight=False,
                                 soft_wrap=True, markup=False)
        else:
            _render_verdict(row.verdict)
    if len(rows) > 1 and not as_json:
        _table("file", "outcome", "watermark p", "generation", rows=[
            (r.data["file"], r.data["outcome"],
             f"{r.data['watermark']['p_value']:.1e}" if r.data.get("watermark") else "-",
             (r.data.get("ledger") or {}).get("id", "-")) for r in rows])
    if report is not None:
        from emo_safe.report import verdicts_html

        _fs.write_atomic(report, verdicts_html([(r.data, r.verdict) for r in rows]))
        if not as_json:
            say("report: {}", report)
    sys.exit(worst_exit_code(r.exit_code for r in rows))


# ---------------------------------------------------------------------------------------------
def _render_watermark(wm, indent: str = "") -> None:
    state = "[green]detected[/]" if wm.detected else "[yellow]not detected[/]"
    say(f"{indent}watermark: {state} (p = {{}}, {{}} frames, payload {{}}, {{}})",
        f"{wm.p_value:.2e}", wm.frames, wm.payload or "-", wm.scheme)


@main.group()
def watermark():
    """Embed or detect this workspace's invisible watermark directly."""


@command(watermark, "embed")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output .mp4 (must not exist).")
@click.option("--payload", required=True, help="12 hex digits (48 bits), e.g. a generation id.")
@click.option("--crf", default=18, show_default=True, type=click.IntRange(0, 51))
def watermark_embed(ctx, src, output, payload, crf, as_json):
    """Re-encode SRC with the watermark carrying PAYLOAD (audio kept).

    This marks without gating, signing or recording: for tests and interoperability. Generated
    videos are marked by `emo-safe generate`.
    """
    from emo_safe import _fs
    from emo_safe.watermark import embed_file, parse_payload

    ws = _workspace(ctx).require()
    data = parse_payload(payload)
    _fs.check_new_output(output)
    n = embed_file(src, output, ws.watermark_key(), data, crf=crf)
    emit({"output": str(output), "frames": n, "payload": data.hex()}) if as_json else \
        say("marked {} frames -> {}", n, output)


@command(watermark, "detect")
@click.argument("file", type=click.Path(path_type=Path))
def watermark_detect(ctx, file, as_json):
    """Look for this workspace's watermark in FILE, with every scheme this emo-safe knows
    (exit 0 detected, 1 not detected)."""
    from emo_safe.watermark import detect_file

    wm = detect_file(file, _workspace(ctx).require().watermark_key())
    emit(wm.to_dict()) if as_json else _render_watermark(wm)
    sys.exit(0 if wm.detected else 1)


# ---------------------------------------------------------------------------------------------
@command(main)
def demo(ctx, as_json):
    """Init if needed, enrol the bundled sample portrait, generate and verify a video."""
    from emo_safe._resources import sample_path
    from emo_safe.gate.consent import ConsentRegistry
    from emo_safe.verify import Detector

    ws = _workspace(ctx)
    if not ws.is_initialized():
        ws.init()
    registry = ConsentRegistry.for_workspace(ws)
    photo, audio = sample_path("portrait.jpg"), sample_path("speech.m4a")
    name = "demo: sample portrait (NASA, public domain)"
    record = registry.valid_named(name) or registry.add(name, photo)
    out_dir = ws.root / "demo"
    out_dir.mkdir(exist_ok=True)
    output = out_dir / f"demo-{dt.datetime.now():%Y%m%d-%H%M%S-%f}.mp4"
    result = _generate(ctx, photo, audio, output, as_json, policy=None, generator="puppet",
                       consent_ids=[record.id])
    verdict = Detector(ws).verify(result.output)
    if as_json:
        return emit({"workspace": str(ws.root), "consent_id": record.id,
                     "generation": result.to_dict(), "verdict": verdict.to_dict()})
    say("workspace: {}\nconsent:   {}\nvideo:     [bold]{}[/]", ws.root, record.id,
        result.output)
    _render_verdict(verdict)
    sys.exit(verdict.exit_code)


# ---------------------------------------------------------------------------------------------
@main.group()
def audit():
    """The tamper-evident audit log: verify it, prove inclusion and consistency, export it,
    report on it."""


def _utc_iso(value: dt.datetime | None) -> str | None:
    """A --since/--until date (UTC) in the form the log's entry times use."""
    return value.replace(tzinfo=dt.UTC).isoformat() if value else None


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
        result = verify_log(ws.store().log, ws.log_public_key(), known,
                            progress=lambda n: bar.update(task, completed=n))
    if as_json:
        emit(result.to_dict())
    elif result.ok:
        say("[green]intact[/]: {} entries, root {}", result.size, result.root)
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
def audit_report(ctx, output, since, until, as_json):
    """Write an HTML audit report: integrity status, generations and refusals over time by
    reason, consent usage, policies applied, and every generation with its manifest and
    watermark ids. Exit 3 when the log fails verification (the report still says so)."""
    from emo_safe import _fs
    from emo_safe.ledger.audit import summarize
    from emo_safe.report import audit_html

    ws = _workspace(ctx).require()
    with _progress("reading the log", not as_json and sys.stderr.isatty()) as bar:
        task = bar.add_task("report", total=None)
        summary = summarize(ws.store().log, ws.log_public_key(), _utc_iso(since),
                            _utc_iso(until), progress=lambda n: bar.update(task, completed=n))
    _fs.write_atomic(output, audit_html(summary))
    integrity = summary.integrity
    if as_json:
        emit({"report": str(output), "intact": integrity.ok,
              "problems": list(integrity.problems), "entries": integrity.size,
              "generations": summary.generations, "decisions": summary.decisions,
              "refusals": summary.refusals, "refusal_reasons": summary.refusal_reasons,
              "consents": len(summary.consents)})
    else:
        say(("[green]intact[/]" if integrity.ok else "[red]TAMPERED[/]")
            + ": {} generations, {} refusals, {} consents -> [bold]{}[/]",
            summary.generations, summary.refusals, len(summary.consents), output)
    sys.exit(0 if integrity.ok else 3)


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
    key = load_public_key(public_key) if public_key else _workspace(ctx).require().log_public_key()
    ok, message = check_proof(proof, key)
    say(("[green]valid[/]: " if ok else "[red]invalid[/]: ") + "{}", message)
    sys.exit(0 if ok else 3)


if __name__ == "__main__":  # pragma: no cover
    main()
