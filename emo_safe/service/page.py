"""The verification page: one form (works without JavaScript: a plain multipart post), and
the result in plain sentences. Self-contained: the only style is one inline block whose hash
the Content-Security-Policy names; images are data: URIs; no script, font or request leaves
the page."""

from __future__ import annotations

import html
from pathlib import Path

from emo_safe.report import HEADLINES, VERDICT_CSS, verdict_section

CSS = ("body{font-family:system-ui,sans-serif;margin:2em auto;max-width:860px;color:#1f2328;"
       "padding:0 1em}h1{font-size:1.5em}form{border:2px dashed #8c959f;border-radius:8px;"
       "padding:1.5em;margin:1em 0}input[type=file]{font-size:1em;padding:.5em;width:100%}"
       "button{font-size:1em;padding:.5em 1.5em;margin-top:1em}.headline{font-size:1.1em}"
       ".note{color:#57606a;font-size:.9em}" + VERDICT_CSS)


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta "
            f"name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>"
            f"{html.escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>")


def _form(max_mb: float | None) -> str:
    limit = f", up to {max_mb:g} MB" if max_mb else ""
    return ("<form method=\"post\" action=\"/\" enctype=\"multipart/form-data\">"
            "<label for=\"file\">Choose a video or an audio file, or drop it on the button "
            "below</label><br>"
            "<input id=\"file\" type=\"file\" name=\"file\" accept=\"video/*,audio/*\" "
            "required><br>"
            "<button type=\"submit\">Check this file</button>"
            f"<p class=\"note\">MP4, MOV, WebM or MKV; WAV, MP3, M4A, Ogg or FLAC{limit}. The "
            "file is "
            "checked and deleted; nothing of it is kept.</p></form>")


def index_page(max_mb: float) -> str:
    return _page("Check a video — emo-safe", (
        "<h1>Was this video made by our AI generator?</h1>"
        "<p>Upload a clip to check it against this deployment: its signed Content Credential "
        "(C2PA), its invisible watermark, and our records. A stripped or re-encoded copy is "
        "still recognised, and its credential recovered; so is its soundtrack on its own (a "
        "voice note, a dub), by the audio's own mark.</p>" + _form(max_mb)))


def result_page(row: dict, verdict, path: Path) -> str:
    outcome = row["outcome"]
    return _page(f"{outcome} — emo-safe", (
        f"<h1>{html.escape(HEADLINES.get(outcome, outcome))}</h1>"
        + verdict_section(row, verdict, frames_from=path, headline=False)
        + "<p class=\"note\">A verdict never claims that a video is real.</p>"
        + "<h2>Check another video</h2>" + _form(None)))


def error_page(status: int, message: str):
    from fastapi.responses import HTMLResponse

    return HTMLResponse(_page("Cannot check this file — emo-safe", (
        f"<h1>This file could not be checked</h1><p class=\"outcome o-error\">"
        f"{html.escape(message)}</p><p><a href=\"/\">Check another video</a></p>")),
        status_code=status)
