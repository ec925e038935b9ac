"""Commands for generating and checking videos: check, generate, verify, watermark, demo."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from emo_safe.cli._app import (
    _console,
    _progress,
    _table,
    _workspace,
    command,
    emit,
    main,
    say,
)
from emo_safe.errors import GenerationRefused, InputError


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
def _render_verdict(file: str, v) -> None:
    colour = {"generated": "green", "generated-manifest-stripped": "green",
              "tampered": "red", "inconsistent": "red",
              "signer-revoked": "red"}.get(v.outcome, "yellow")
    say(f"[bold]{{}}[/]: [{colour}]{{}}[/]", file, v.outcome)
    for r in v.reasons:
        say("  - {}", r)
    m = v.manifest
    say("  C2PA: {}{}", m.state, f" ({', '.join(m.failure_codes)})" if m.failure_codes else "")
    if m.generation:
        say("  generation id: {}", m.generation.get("generation_id"))
    if v.watermark:
        _render_watermark(v.watermark, indent="  ")
    if v.audio:
        _render_watermark(v.audio, indent="  ")
    if v.ledger:
        say("  ledger: generation {}, decision {}", v.ledger["id"], v.ledger["decision_id"])


@command(main, json_help="Print one JSON object (JSON lines for many, as they come).")
@click.argument("files", nargs=-1, required=True)
@click.option("--profile", help="Detector profile file or name [default: the workspace's, else "
                                "the bundled default].")
@click.option("-j", "--jobs", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Files verified in parallel (local processes).")
@click.option("--cluster", metavar="local:N|tcp://HOST:PORT",
              help="Verify on a Dask cluster instead: N local worker processes, or the "
                   "scheduler at an address (extra `cluster`). Workers read the workspace and "
                   "the files themselves (docs/scale.md).")
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path),
              metavar="RESULTS.jsonl",
              help="Append each file's row to RESULTS.jsonl as it comes, and skip the files "
                   "that already have a row there: an interrupted batch is finished by running "
                   "it again.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write a self-contained HTML report (frames, watermark score over "
                   "time, manifest summary, verdict).")
def verify(ctx, files, profile, jobs, cluster, resume, report, as_json):
    """Does FILE come from this deployment? C2PA manifest, watermark, audio mark and ledger
    evidence. A FILE may be a video or an audio file (WAV, MP3, M4A, OGG/Opus, FLAC).

    FILES may include directories (every file under them) and fsspec URLs (file://, s3://,
    ...; a URL that names a folder stands for every file under it). Rows come in input order.
    Exit 0: evidence found for every file; 1: some file has no evidence; 2: some file is
    unreadable; 3: some file is tampered or inconsistent (the most serious wins).
    """
    from contextlib import closing

    from emo_safe import _fs
    from emo_safe.batch import ResultsFile, expand_inputs, verify_many, worst_exit_code

    ws = _workspace(ctx)
    items = expand_inputs(files)
    if not items:
        raise click.UsageError("no files to verify")
    results = ResultsFile(resume).open() if resume else None
    try:
        todo, earlier = results.pending(items) if results is not None else (items, [])
        keep = report is not None or not as_json
        rows, codes = [], list(earlier)
        bar_on = not as_json and len(todo) > 1 and sys.stderr.isatty()
        with _progress("verifying", bar_on) as bar, \
                closing(verify_many(ws.root, todo, profile, jobs, cluster,
                                    thumbnails=report is not None)) as stream:
            task = bar.add_task("verify", total=len(todo))
            for row in stream:
                if results is not None:
                    results.append(row)
                if as_json:
                    emit(row.data)
                codes.append(row.exit_code)
                if keep:
                    rows.append(row)
                bar.advance(task)
    finally:
        if results is not None:
            results.close()
    if not as_json:
        for row in rows:
            if row.verdict is None:
                _console(True).print(f"emo-safe: error: {row.data['error']}", highlight=False,
                                     soft_wrap=True, markup=False)
            else:
                _render_verdict(row.data["file"], row.verdict)
        if len(rows) > 1:
            _table("file", "outcome", "watermark p", "audio mark p", "generation", rows=[
                (r.data["file"], r.data["outcome"],
                 f"{r.data['watermark']['p_value']:.1e}" if r.data.get("watermark") else "-",
                 f"{r.data['audio']['p_value']:.1e}" if r.data.get("audio") else "-",
                 (r.data.get("ledger") or {}).get("id", "-")) for r in rows])
        if earlier:
            say("resumed: {} of {} files already had a row in {}", len(earlier),
                len(earlier) + len(todo), resume)
    if report is not None:
        from emo_safe.report import verdicts_html

        _fs.write_atomic(report, verdicts_html([(r.data, r.verdict, list(r.thumbnails))
                                                for r in rows]))
        if not as_json:
            say("report: {}", report)
    sys.exit(worst_exit_code(codes))


# ---------------------------------------------------------------------------------------------
def _render_watermark(wm, indent: str = "") -> None:
    state = "[green]detected[/]" if wm.detected else "[yellow]not detected[/]"
    if wm.medium == "audio":
        say(f"{indent}audio watermark: {state} (p = {{}}, {{}} s, payload {{}}, {{}})",
            f"{wm.p_value:.2e}", f"{wm.seconds or 0.0:.1f}", wm.payload or "-", wm.scheme)
        return
    say(f"{indent}watermark: {state} (p = {{}}, {{}} frames, payload {{}}, {{}})",
        f"{wm.p_value:.2e}", wm.frames, wm.payload or "-", wm.scheme)
    if wm.payload and wm.geometry:
        from emo_safe.watermark import describe_geometry

        say(f"{indent}  edit undone: {{}}", describe_geometry(wm.geometry))


@main.group()
def watermark():
    """Embed or detect this workspace's invisible watermark directly."""


@command(watermark, "embed")
@click.argument("src", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output (must not exist): .mp4 for a video; for an audio file .wav, .flac, "
                   ".m4a, .mp3 or .ogg (mono).")
@click.option("--payload", required=True, help="12 hex digits (48 bits), e.g. a generation id.")
@click.option("--crf", default=18, show_default=True, type=click.IntRange(0, 51))
def watermark_embed(ctx, src, output, payload, crf, as_json):
    """Re-encode SRC with the watermark carrying PAYLOAD: a video's frames and its audio
    track, or an audio file's audio (the audio mark).

    This marks without gating, signing or recording: for tests and interoperability. Generated
    videos are marked by `emo-safe generate`.
    """
    from emo_safe import _fs, media
    from emo_safe.watermark import embed_audio_file, embed_file, parse_payload

    ws = _workspace(ctx).require()
    data = parse_payload(payload)
    if not media.probe(src, allow_audio_only=True).streams:
        if output.suffix.lower() not in media.AUDIO_FORMATS:
            raise InputError(f"output must be one of {', '.join(media.AUDIO_FORMATS)} for an "
                             f"audio file: {output}")
        _fs.check_new_output(output, suffix=None)
        seconds = embed_audio_file(src, output, ws.watermark_key(), data)
        emit({"output": str(output), "seconds": round(seconds, 3), "payload": data.hex()}) \
            if as_json else say("marked {} s of audio -> {}", f"{seconds:.1f}", output)
        return
    _fs.check_new_output(output)
    n = embed_file(src, output, ws.watermark_key(), data, crf=crf)
    emit({"output": str(output), "frames": n, "payload": data.hex()}) if as_json else \
        say("marked {} frames -> {}", n, output)


@command(watermark, "detect")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--time-scale-search/--no-time-scale-search", default=True, show_default=True,
              help="Also look for the audio mark through speed (pitch too) and tempo (pitch "
                   "kept) changes of 0.90-1.10x; skipped when the plain reading decodes.")
@click.option("--early-looks/--no-early-looks", default=True, show_default=True,
              help="Look at a video of 16 s or more after 8, 16, 32 ... s and stop reading "
                   "once its mark is conclusive; --no-early-looks reads every frame (the "
                   "per-second scores then cover the whole clip).")
def watermark_detect(ctx, file, time_scale_search, early_looks, as_json):
    """Look for this workspace's watermark in FILE, with every scheme this emo-safe knows:
    the video mark in the frames, the audio mark in the audio track; FILE may be an audio file
    (WAV, MP3, M4A, OGG/Opus, FLAC). Exit 0 when either is detected, 1 when neither is.

    --json: the frames' evidence (else the audio's) at the top, and both under "media"."""
    from emo_safe.watermark import detect_media

    found = detect_media(file, _workspace(ctx).require().watermark_key(),
                         time_scale_search=time_scale_search, early_looks=early_looks)
    if as_json:
        emit(found.to_dict())
    else:
        for wm in (found.video, found.audio):
            if wm is not None:
                _render_watermark(wm)
    sys.exit(0 if found.detected else 1)


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
    _render_verdict(str(verdict.path), verdict)
    sys.exit(verdict.exit_code)
