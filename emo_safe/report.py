"""Verdicts rendered as one self-contained HTML page (no network: images inline, charts SVG)."""

from __future__ import annotations

import base64
import datetime as dt
import html
from pathlib import Path

import cv2
import numpy as np

from emo_safe.media import iter_frames

_COLOURS = {"generated": "#1a7f37", "generated-manifest-stripped": "#1a7f37",
            "tampered": "#cf222e", "inconsistent": "#cf222e", "no-evidence": "#9a6700",
            "error": "#cf222e"}


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


def verdicts_html(rows: list[tuple[dict, object]]) -> str:
    """rows: (JSON row, Verdict or None for a per-file error)."""
    parts = []
    for row, verdict in rows:
        outcome = row.get("outcome", "error")
        colour = _COLOURS.get(outcome, "#57606a")
        name = html.escape(row["file"])
        section = [f'<section><h2>{name}</h2><p class="outcome" style="color:{colour}">'
                   f"{html.escape(outcome)}</p>"]
        if verdict is None:
            section.append(f"<p>{html.escape(row.get('error', ''))}</p></section>")
            parts.append("".join(section))
            continue
        section.append("<ul>" + "".join(f"<li>{html.escape(r)}</li>" for r in row["reasons"])
                       + "</ul>")
        c2pa = row["c2pa"]
        gen = c2pa.get("generation") or {}
        section.append("<h3>C2PA manifest</h3><table>"
                       f"<tr><th>state</th><td>{html.escape(str(c2pa.get('state')))}</td></tr>"
                       f"<tr><th>failure codes</th><td>"
                       f"{html.escape(', '.join(c2pa.get('failure_codes') or []) or '-')}</td></tr>"
                       f"<tr><th>generation id</th><td>"
                       f"{html.escape(str(gen.get('generation_id', '-')))}</td></tr></table>")
        wm = row.get("watermark")
        if wm:
            section.append(f"<h3>Watermark</h3><p>p = {wm['p_value']:.2e}, payload "
                           f"{html.escape(str(wm['payload'] or '-'))}, {wm['frames']} frames</p>")
            section.append(_score_chart(wm.get("segment_z") or []))
        ledger = row.get("ledger")
        if ledger:
            section.append(f"<h3>Ledger</h3><p>generation {html.escape(ledger['id'])}, decision "
                           f"{html.escape(ledger['decision_id'])}, consents "
                           f"{html.escape(', '.join(ledger.get('consent_ids', [])) or '-')}</p>")
        frames = wm["frames"] if wm else 0
        thumbs = _thumbnails(Path(row["file"]), frames)
        if thumbs:
            section.append('<div class="frames">' + "".join(
                f'<img alt="frame" src="data:image/jpeg;base64,{t}">' for t in thumbs) + "</div>")
        section.append("</section>")
        parts.append("".join(section))
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>emo-safe verify report"
            "</title><style>body{font-family:system-ui,sans-serif;margin:2em;max-width:980px}"
            "section{border-top:1px solid #d0d7de;padding:1em 0}.outcome{font-size:1.4em;"
            "font-weight:bold}th{text-align:left;padding-right:1em}.frames img{margin-right:8px}"
            "</style></head><body><h1>emo-safe verify report</h1>"
            f"<p>{len(rows)} file(s), {stamp}. A verdict never claims that a video is real."
            "</p>" + "".join(parts) + "</body></html>")
