"""Verdicts rendered as one self-contained HTML page (no network: images inline, charts SVG)."""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

import cv2
import numpy as np

from emo_safe.media import iter_frames
from emo_safe.watermark import describe_geometry


def _thumbnails(path: Path, frames: int, count: int = 3, width: int = 220) -> list[str]:
    if frames <= 0:
        return []
    wanted = sorted({int(i) for i in np.linspace(0, frames - 1, count)})
    out = []
    try:
        for i, frame in enumerate(iter_frames(path, max_frames=wanted[-1] + 1)):
            if i in wanted:
                h, w = frame.shape[:2]
                small = cv2.resize(frame, (width, max(1, round(h * width / w))),
                                   interpolation=cv2.INTER_AREA)
                ok, buf = cv2.imencode(".jpg", small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 80])
                if ok:
                    out.append(base64.b64encode(buf.tobytes()).decode("ascii"))
    except Exception:  # a report must not fail on a file the verdict already explained
        return out
    return out


def thumbnails_for(row: dict, path: Path) -> list[str]:
    """A few frames of the file a verify row describes, as base64 JPEG (where it can be read:
    a cluster worker for a file the client cannot open)."""
    wm = row.get("watermark")
    return _thumbnails(path, wm["frames"] if wm else 0)


def _score_chart(segment_z: list[float], threshold: float = 4.0) -> str:
    """Per-second watermark z-scores as an inline SVG bar chart."""
    if not segment_z:
        return "<p>no watermark scores</p>"
    w, h, pad = 560, 140, 24
    top = max(max(segment_z), threshold * 1.5, 1.0)
    bw = (w - 2 * pad) / len(segment_z)
    bars = []
    for i, z in enumerate(segment_z):
        bh = max(0.0, z) / top * (h - 2 * pad)
        colour = "#1a7f37" if z > threshold else "#8c959f"
        bars.append(f'<rect x="{pad + i * bw:.1f}" y="{h - pad - bh:.1f}" width="{bw * 0.85:.1f}"'
                    f' height="{bh:.1f}" fill="{colour}"><title>second {i}: z = {z:.1f}'
                    "</title></rect>")
    ty = h - pad - threshold / top * (h - 2 * pad)
    return (f'<svg width="{w}" height="{h}" role="img" aria-label="watermark score per second">'
            f'<line x1="{pad}" x2="{w - pad}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#cf222e" '
            f'stroke-dasharray="4 3"/>{"".join(bars)}'
            f'<text x="{pad}" y="14" font-size="11">watermark z per second (dashed: z = '
            f'{threshold:g})</text></svg>')


# What each outcome means, for people who are not experts.
HEADLINES = {
    "generated": "This video was made by this deployment's AI generator, and it still carries "
                 "its signed Content Credential.",
    "generated-manifest-stripped": "This video was made by this deployment's AI generator. "
                                   "Its Content Credential was removed (as most platforms do), "
                                   "but its invisible watermark says which generation it is.",
    "tampered": "This video carries a Content Credential that no longer matches it: the video "
                "or its credential was changed after signing.",
    "signer-revoked": "This video carries a Content Credential whose signing certificate has "
                      "been revoked by this deployment: what that key signed is not credited.",
    "inconsistent": "This video carries this deployment's watermark, but it does not look like "
                    "the generation the watermark names: the watermark was probably copied onto "
                    "other footage.",
    "no-evidence": "Nothing links this video to this deployment. That does not mean it is "
                   "real: it may come from another generator, or have been changed too much.",
    "error": "This file could not be checked.",
}
VERDICT_CSS = ("section{border-top:1px solid #d0d7de;padding:1em 0}.outcome{font-size:1.4em;"
               "font-weight:bold}.o-generated,.o-generated-manifest-stripped{color:#1a7f37}"
               ".o-tampered,.o-inconsistent,.o-signer-revoked,.o-error{color:#cf222e}.o-no-evidence{color:#9a6700}"
               "th{text-align:left;padding-right:1em}.frames img{margin-right:8px}")


def _table(rows: list[tuple[str, object]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{_esc(v)}</td></tr>"
                               for k, v in rows) + "</table>"


def verdict_section(row: dict, verdict, frames_from: Path | None = None,
                    headline: bool = False, thumbnails: list[str] | None = None) -> str:
    """One file's verdict (a ``verify --json`` row) as an HTML section: outcome, reasons,
    C2PA (embedded or recovered), watermark scores per second, the audio mark, ledger, a few
    frames
    (``thumbnails`` taken where the file was read, else read from ``frames_from``, default the
    row's file)."""
    outcome = row.get("outcome", "error")
    section = [f"<section><h2>{html.escape(row['file'])}</h2><p class=\"outcome "
               f"o-{html.escape(outcome)}\">{html.escape(outcome)}</p>"]
    if headline:
        section.append(f"<p class=\"headline\">{html.escape(HEADLINES.get(outcome, ''))}</p>")
    if verdict is None:
        section.append(f"<p>{html.escape(row.get('error', ''))}</p></section>")
        return "".join(section)
    section.append("<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in row["reasons"])
                   + "</ul>")
    c2pa = row["c2pa"]
    gen = c2pa.get("generation") or {}
    section.append("<h3>C2PA manifest (in the file)</h3>" + _table([
        ("state", c2pa.get("state")), ("failure codes", ", ".join(c2pa.get("failure_codes") or [])),
        ("generation id", gen.get("generation_id"))]))
    rec = row.get("recovered_manifest")
    if rec:
        section.append("<h3>Content Credential recovered from the manifest repository</h3>"
                       + _table([("manifest", rec["manifest_id"]), ("state", rec["state"]),
                                 ("AI-generated", "yes" if rec["ai_generated"] else "no"),
                                 ("generator", (rec.get("generator") or {}).get("name")),
                                 ("generation id", rec.get("generation_id")),
                                 ("signed by", rec.get("signer_issuer"))]))
    wm = row.get("watermark")
    if wm:
        section.append(f"<h3>Watermark</h3><p>p = {wm['p_value']:.2e}, payload "
                       f"{html.escape(str(wm['payload'] or '-'))}, {wm['frames']} frames, "
                       f"scheme {html.escape(str(wm.get('scheme')))}"
                       + (f"; edit undone: {html.escape(describe_geometry(wm['geometry']))}"
                          if wm.get("geometry") and wm.get("payload") else "") + "</p>")
        section.append(_score_chart(wm.get("segment_z") or []))
    audio = row.get("audio")
    if audio:
        state = "detected" if audio["detected"] else "not detected"
        section.append(f"<h3>Audio mark</h3><p>{state}, p = {audio['p_value']:.2e}, payload "
                       f"{html.escape(str(audio['payload'] or '-'))}, "
                       f"{audio.get('seconds') or 0:.1f} s of audio, scheme "
                       f"{html.escape(str(audio.get('scheme')))}</p>")
    ledger = row.get("ledger")
    if ledger:
        section.append(f"<h3>Ledger</h3><p>generation {html.escape(ledger['id'])}, decision "
                       f"{html.escape(ledger['decision_id'])}, consents "
                       f"{html.escape(', '.join(ledger.get('consent_ids', [])) or '-')}</p>")
    thumbs = thumbnails if thumbnails is not None else \
        thumbnails_for(row, frames_from or Path(row["file"]))
    if thumbs:
        section.append('<div class="frames">' + "".join(
            f'<img alt="frame" src="data:image/jpeg;base64,{t}">' for t in thumbs) + "</div>")
    section.append("</section>")
    return "".join(section)


def verdicts_html(rows: list[tuple[dict, object, list[str] | None]]) -> str:
    """rows: (JSON row, Verdict or None for a per-file error, its frames as base64 JPEG or
    None to read them from the row's file)."""
    parts = [verdict_section(row, verdict, thumbnails=thumbs) for row, verdict, thumbs in rows]
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>emo-safe verify report"
            "</title><style>body{font-family:system-ui,sans-serif;margin:2em;max-width:980px}"
            + VERDICT_CSS + "</style></head><body><h1>emo-safe verify report</h1>"
            f"<p>{len(rows)} file(s), {stamp}. A verdict never claims that a video is real."
            "</p>" + "".join(parts) + "</body></html>")


# -- audit report -----------------------------------------------------------------------------
_PALETTE = ["#cf222e", "#bc4c00", "#9a6700", "#8250df", "#bf3989", "#0550ae", "#57606a",
            "#6e7781"]
_PAGE_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#1f2328}"
             ".c-pass .status{color:#1a7f37;font-weight:bold}.c-fail .status{color:#cf222e;"
             "font-weight:bold}.c-fail{background:#ffebe9}.c-info .status{color:#57606a}"
             "section{border-top:1px solid #d0d7de;padding:1em 0}th,td{text-align:left;"
             "padding:2px 10px 2px 0;font-size:13px}code{font-size:12px}.big{font-size:1.3em}"
             ".ok{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}"
             ".cards{display:flex;gap:2em}.card{border:1px solid #d0d7de;border-radius:6px;"
             "padding:.6em 1em}.card b{display:block;font-size:1.8em}")


def _esc(value) -> str:
    return html.escape("-" if value is None or value == "" else str(value))


def _stacked_bars(by_period: dict[str, dict[str, int]], series: list[str],
                  colours: dict[str, str], title: str) -> str:
    """Counts per period as stacked bars, one colour per series, with a y axis and a legend."""
    periods = sorted(by_period)
    if not periods:
        return "<p>no events in this period</p>"
    w, h, left, right, top, bottom = 900, 260, 44, 10, 28, 46
    totals = [sum(by_period[p].get(k, 0) for k in series) for p in periods]
    peak = max(max(totals), 1)
    step = 10 ** max(0, len(str(peak)) - 1)
    ymax = ((peak + step - 1) // step) * step
    plot_h, plot_w = h - top - bottom, w - left - right
    bw = plot_w / len(periods)
    bar = min(max(bw * 0.8, 1.0), 48.0)
    out = [f'<svg width="{w}" height="{h + 18 * ((len(series) + 3) // 4)}" role="img" '
           f'aria-label="{html.escape(title)}" class="chart">',
           f'<text x="{left}" y="16" font-size="13" font-weight="bold">{html.escape(title)}'
           "</text>"]
    for i in range(5):
        v = ymax * i / 4
        y = top + plot_h - v / ymax * plot_h
        out.append(f'<line x1="{left}" x2="{w - right}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#d0d7de"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
                   f"{v:g}</text>")
    label_every = max(1, len(periods) // 12)
    for i, p in enumerate(periods):
        y = top + plot_h
        for k in series:
            n = by_period[p].get(k, 0)
            if not n:
                continue
            bh = n / ymax * plot_h
            y -= bh
            out.append(f'<rect x="{left + (i + 0.5) * bw - bar / 2:.1f}" y="{y:.1f}" '
                       f'width="{bar:.1f}" height="{bh:.1f}" fill="{colours[k]}">'
                       f"<title>{html.escape(p)}: {html.escape(k)} {n}</title></rect>")
        if i % label_every == 0:
            out.append(f'<text x="{left + (i + 0.5) * bw:.1f}" y="{top + plot_h + 16}" '
                       f'font-size="11" text-anchor="middle">{html.escape(p)}</text>')
    for j, k in enumerate(series):
        x, y = left + (j % 4) * 210, h + 18 * (j // 4) - 10
        out.append(f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colours[k]}"/>'
                   f'<text x="{x + 17}" y="{y}" font-size="12">{html.escape(k)}</text>')
    out.append("</svg>")
    return "".join(out)


def _hbars(items: list[tuple[str, int]], colour: str, title: str) -> str:
    if not items:
        return f"<p>{html.escape(title)}: none</p>"
    w, row, left = 900, 22, 260
    peak = max(n for _, n in items) or 1
    out = [f'<svg width="{w}" height="{30 + row * len(items)}" role="img" '
           f'aria-label="{html.escape(title)}" class="chart">'
           f'<text x="0" y="16" font-size="13" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, n) in enumerate(items):
        y = 28 + i * row
        bw = n / peak * (w - left - 60)
        out.append(f'<text x="{left - 8}" y="{y + 14}" font-size="12" text-anchor="end">'
                   f"{html.escape(label if len(label) <= 36 else label[:35] + '…')}</text>"
                   f'<rect x="{left}" y="{y + 2}" width="{max(bw, 1):.1f}" height="{row - 6}" '
                   f'fill="{colour}"/><text x="{left + bw + 6:.1f}" y="{y + 14}" '
                   f'font-size="12">{n}</text>')
    out.append("</svg>")
    return "".join(out)


def _checklist_html(summary) -> str:
    """The compliance checklist: each item's status, the log's evidence, the obligations."""
    from emo_safe.ledger.compliance import FRAMEWORKS, OBLIGATIONS

    scope = FRAMEWORKS[summary.framework] if summary.framework else \
        "; ".join(FRAMEWORKS.values())
    rows = "".join(
        f'<tr class="c-{_esc(i.status)}" id="check-{_esc(i.id)}"><td class="status">'
        f"{_esc(i.status.upper())}</td><td>{_esc(i.title)}</td><td>{_esc(i.evidence)}"
        + ("".join(f"<br><code>{_esc(', '.join(f'{k}={v}' for k, v in d.items()))}</code>"
                   for d in i.details[:20]) if i.status == "fail" else "")
        + "</td><td>" + "<br>".join(f"<b>{_esc(o)}</b> {_esc(OBLIGATIONS.get(o, ''))}"
                                    for o in i.obligations) + "</td></tr>"
        for i in summary.checklist)
    failed = sum(1 for i in summary.checklist if i.status == "fail")
    verdict = (f'<p class="big bad" id="checklist-verdict">{failed} item(s) fail</p>' if failed
               else '<p class="big ok" id="checklist-verdict">every item passes</p>')
    return ('<section id="checklist"><h2>Compliance checklist</h2>'
            f"<p>Answered from the signed log for: {_esc(scope)} (docs/compliance.md maps each "
            "obligation to the feature and test that meets it).</p>" + verdict
            + "<table><tr><th>status</th><th>question</th><th>what the log shows</th>"
              "<th>evidences</th></tr>" + rows + "</table></section>")


def audit_html(summary) -> str:
    """An :class:`~emo_safe.ledger.audit.AuditSummary` as one self-contained page: no scripts,
    no network; charts are inline SVG. Ids and hashes only, never face data."""
    integ = summary.integrity
    head = summary.head.to_json() if summary.head is not None else {}
    reasons = sorted(summary.refusal_reasons, key=lambda k: -summary.refusal_reasons[k])
    series = ["generated", *[f"refused:{r}" for r in reasons]]
    colours = {"generated": "#1a7f37"} | {
        f"refused:{r}": _PALETTE[i % len(_PALETTE)] for i, r in enumerate(reasons)}
    window = (f"from {_esc(summary.since)} until {_esc(summary.until)}"
              if summary.since or summary.until else "the whole log")
    status = (f'<p class="big ok">intact</p><p>{integ.size} entries recomputed; every signed '
              "tree head checks with the log key; every data row equals its logged state.</p>"
              if integ.ok else
              f'<p class="big bad">TAMPERED</p><p>{_esc(integ.problems[0])}'
              f"{'' if integ.first_bad is None else f' (first bad entry: {integ.first_bad})'}"
              "</p><p>The figures below are read from the log as it is now.</p>")
    parts = [
        f"<h1>emo-safe audit report</h1><p>{window}; generated "
        f"{dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()}</p>",
        '<section id="integrity"><h2>Integrity</h2>' + status +
        f"<table><tr><th>signed tree head</th><td>size {_esc(head.get('size'))}, root "
        f"<code>{_esc(head.get('root'))}</code></td></tr><tr><th>signed at</th>"
        f"<td>{_esc(head.get('timestamp'))}</td></tr><tr><th>log key id</th>"
        f"<td><code>{_esc(head.get('key_id'))}</code></td></tr></table></section>",
        _checklist_html(summary),
        '<section id="counts"><div class="cards">'
        f'<div class="card"><b id="n-generations">{summary.generations}</b>generations</div>'
        f'<div class="card"><b id="n-refusals">{summary.refusals}</b>refusals</div>'
        f'<div class="card"><b id="n-decisions">{summary.decisions}</b>decisions</div>'
        f'<div class="card"><b id="n-consents">{len(summary.consents)}</b>consents</div>'
        "</div></section>",
        '<section id="over-time"><h2>Generations and refusals over time</h2>'
        + _stacked_bars(summary.by_period, series, colours,
                        f"events per {summary.period} (refusals by reason)") + "</section>",
        '<section id="reasons"><h2>Refusals by reason</h2>'
        + _hbars([(r, summary.refusal_reasons[r]) for r in reasons], "#cf222e",
                 "refused decisions citing each reason") + "</section>",
        '<section id="consents"><h2>Consent usage</h2>'
        + _hbars(sorted(((f"{c.get('name') or '?'} ({cid[:8]})", c["generations"])
                         for cid, c in summary.consents.items()), key=lambda x: -x[1])[:30],
                 "#0550ae", "generations per consent record")
        + "<table><tr><th>consent</th><th>name</th><th>scope</th><th>state</th>"
          "<th>expires</th><th>generations</th></tr>"
        + "".join(f"<tr><td><code>{_esc(cid)}</code></td><td>{_esc(c.get('name'))}</td>"
                  f"<td>{_esc(', '.join(c.get('scope') or []))}</td><td>{_esc(c.get('state'))}"
                  f"</td><td>{_esc(c.get('expires_at'))}</td><td>{c['generations']}</td></tr>"
                  for cid, c in summary.consents.items()) + "</table></section>",
        '<section id="policies"><h2>Policies applied</h2><p>Each policy version\'s full text '
        "is in the log from its first use (`emo-safe audit export`).</p><table><tr>"
        "<th>policy</th><th>sha256</th><th>first used</th><th>text logged</th>"
        "<th>decisions</th></tr>"
        + "".join(f"<tr><td>{_esc(p['name'])}</td><td><code>{_esc(sha)}</code></td>"
                  f"<td>{_esc(p.get('first_used'))}</td>"
                  f"<td>{'yes' if p.get('text_logged') else 'no'}</td>"
                  f"<td>{p['decisions']}</td></tr>" for sha, p in summary.policies.items())
        + "</table></section>",
        '<section id="keys"><h2>Key changes</h2><table><tr><th>time</th><th>keys created</th>'
        "<th>operator key</th><th>log key</th><th>watermark key</th><th>signer chain sha256"
        "</th></tr>"
        + "".join(f"<tr><td>{_esc(k.get('time'))}</td>"
                  f"<td>{_esc(', '.join(k.get('created') or []))}</td>"
                  f"<td><code>{_esc(k.get('operator_key_id'))}</code></td>"
                  f"<td><code>{_esc(k.get('log_key_id'))}</code></td>"
                  f"<td><code>{_esc(k.get('watermark_key_id'))}</code></td>"
                  f"<td><code>{_esc((k.get('signer_chain_sha256') or '')[:16])}</code></td></tr>"
                  for k in summary.key_events) + "</table></section>",
        '<section id="generations"><h2>Generations</h2>'
        + (f"<p>The latest {summary.generations_shown} of {summary.generations}; "
           "`emo-safe audit export` has them all.</p>"
           if summary.generations > summary.generations_shown else "")
        + "<table><tr><th>time</th><th>generation id</th><th>C2PA manifest</th>"
          "<th>watermark payload</th><th>generator</th><th>consents</th><th>output sha256</th>"
          "</tr>"
        + "".join(f"<tr><td>{_esc(g['created_at'])}</td><td><code>{_esc(g['id'])}</code></td>"
                  f"<td><code>{_esc(g['manifest_id'])}</code></td>"
                  f"<td><code>{_esc(g['watermark_payload'])}</code></td>"
                  f"<td>{_esc(g['generator'])}</td>"
                  f"<td><code>{_esc(', '.join(g['consent_ids'] or []))}</code></td>"
                  f"<td><code>{_esc((g['output_sha256'] or '')[:16])}</code></td></tr>"
                  for g in summary.recent_generations) + "</table></section>",
    ]
    return ('<!doctype html><html><head><meta charset="utf-8">'
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>emo-safe audit report</title><style>{_PAGE_CSS}</style></head><body>"
            + "".join(parts) + "</body></html>")
