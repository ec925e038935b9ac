"""The labels: the visible "AI-generated" label drawn into every frame, and the implicit
metadata label of China's GB 45438-2025.

The visible label: policies such as strict.toml require it (EU AI Act art. 50 asks deployers
to disclose deep fakes). It is drawn before the watermark and the signature, so both cover it:
removing it changes the pixels the manifest's hash binds.

The implicit label (``[disclosure] implicit_label = true``): a container metadata field named
``AIGC`` whose value is a JSON object with GB 45438-2025's keys (docs/compliance.md, field by
field). It is written before signing, so the C2PA hard binding covers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

DISCLOSURE_TEXT = "AI-generated"

IMPLICIT_LABEL_TAG = "AIGC"
IMPLICIT_LABEL_STANDARD = "GB 45438-2025"
# The keys, in the standard's order. Label "1": the content is AI-generated (the standard's
# other values, for content that may be or is suspected to be, are for propagation platforms).
IMPLICIT_LABEL_KEYS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1",
                       "ContentPropagator", "PropagateID", "ReservedCode2")


def implicit_label(producer: str, content_id: str, reserved: str = "") -> dict[str, str]:
    """The metadata to write: ``{"AIGC": json}``. ``producer``: the service provider's name or
    code; ``content_id``: this output's id (the generation id, also the watermark payload);
    ``reserved``: ReservedCode1, the producer's own field. The propagation keys stay empty for
    the platforms that spread the file."""
    value = {"Label": "1", "ContentProducer": producer, "ProduceID": content_id,
             "ReservedCode1": reserved, "ContentPropagator": "", "PropagateID": "",
             "ReservedCode2": ""}
    return {IMPLICIT_LABEL_TAG: json.dumps(value, ensure_ascii=False, separators=(",", ":"))}


def read_implicit_label(tag_value: str | None) -> dict | None:
    """The label's keys from a file's ``AIGC`` tag; ``{"malformed": True}`` when the tag is
    there but is not the standard's JSON object; None when there is no tag."""
    if tag_value is None:
        return None
    try:
        value = json.loads(tag_value)
    except ValueError:
        return {"malformed": True}
    if not isinstance(value, dict) or "Label" not in value:
        return {"malformed": True}
    return {k: str(value.get(k, "")) for k in IMPLICIT_LABEL_KEYS}


# The label's text per language. English is drawn with OpenCV's Hershey font; the others
# from grey masks rendered once from Noto Sans CJK (scripts/render-label-bitmaps; the fonts
# OpenCV has lack CJK, Hangul and accented glyphs).
LABEL_TEXTS = {
    "en": DISCLOSURE_TEXT,
    "zh": "人工智能生成",  # GB 45438-2025's wording
    "ja": "AI生成",
    "ko": "AI 생성",
    "de": "KI-generiert",
    "fr": "Généré par IA",
    "es": "Generado por IA",
}
DEFAULT_LANGUAGES = ("en",)


def label_text(languages: Iterable[str] = DEFAULT_LANGUAGES) -> str:
    """The label's lines as one string (what the ledger records)."""
    return " / ".join(LABEL_TEXTS[lang] for lang in languages)


def _mask(language: str) -> np.ndarray:
    from emo_safe._resources import sample_path

    cached = _MASKS.get(language)
    if cached is None:
        path = sample_path(f"labels/{language}.png")
        cached = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if cached is None:
            from emo_safe.errors import InstallationError

            raise InstallationError(f"the bundled label mask {path} is unreadable: reinstall")
        _MASKS[language] = cached
    return cached


_MASKS: dict[str, np.ndarray] = {}


def _layout(h: int, w: int, languages: tuple[str, ...]) -> tuple:
    """For an h x w frame: the font scale and stroke, each line's (language, x, baseline,
    height), and the (x0, y0, x1, y1) box, bottom-left, lines stacked upwards."""
    scale = max(0.35, min(h, w) / 700)
    thickness = max(1, int(round(scale * 2)))
    (ew, eh), base = cv2.getTextSize(DISCLOSURE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, int(eh * 0.45))
    lines, widths, y = [], [], h - pad
    for language in reversed(languages):
        if language == "en":
            lines.append(("en", pad + pad, y - pad - base, eh + base))
            widths.append(ew)
            y -= eh + base + pad
        else:
            mask = _mask(language)
            line_h = int(round(eh * 1.35))  # CJK glyphs need the descender's room too
            line_w = max(1, int(round(mask.shape[1] * line_h / mask.shape[0])))
            lines.append((language, pad + pad, y - pad, line_h))
            widths.append(line_w)
            y -= line_h + pad
    box = (pad, y - pad, pad + max(widths) + 2 * pad, h - pad)
    return scale, thickness, lines, box


def _draw(out: np.ndarray, layout: tuple) -> None:
    scale, thickness, lines, (x0, y0, x1, y1) = layout
    region = out[max(y0, 0):y1, x0:x1]
    region[:] = (region.astype(np.uint16) * 2 // 5).astype(np.uint8)
    for language, x, baseline, line_h in lines:
        if language == "en":
            cv2.putText(out, DISCLOSURE_TEXT, (x, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        (255, 255, 255), thickness, cv2.LINE_AA)
            continue
        mask = _mask(language)
        line_w = max(1, int(round(mask.shape[1] * line_h / mask.shape[0])))
        alpha = cv2.resize(mask, (line_w, line_h), interpolation=cv2.INTER_AREA)
        top = baseline - line_h
        if top < 0 or x + line_w > out.shape[1]:
            continue  # a frame too small for this line: the others still show
        target = out[top:baseline, x:x + line_w].astype(np.float32)
        a = (alpha.astype(np.float32) / 255.0)[..., None]
        out[top:baseline, x:x + line_w] = (target * (1 - a) + 255 * a).astype(np.uint8)


def add_visible_label(frames: Iterable[np.ndarray],
                      languages: Iterable[str] = DEFAULT_LANGUAGES) -> Iterator[np.ndarray]:
    """Draw the label in the bottom-left corner: white text, one line per language (the first
    on top), on a darkened box."""
    languages = tuple(languages) or DEFAULT_LANGUAGES
    for language in languages:
        if language not in LABEL_TEXTS:
            raise ValueError(f"no label text for language {language!r}")
    geometry = None
    for frame in frames:
        h, w = frame.shape[:2]
        if geometry is None or geometry[0] != (h, w):
            geometry = ((h, w), _layout(h, w, languages))
        out = np.array(frame, np.uint8, copy=True)
        _draw(out, geometry[1])
        yield out


def _label_tile(size: int, languages: tuple[str, ...]) -> np.ndarray:
    """The label as drawn on a size x size frame of uniform grey 100, cropped to its box."""
    frame = np.full((size, size, 3), 100, np.uint8)
    layout = _layout(size, size, languages)
    _draw(frame, layout)
    x0, y0, x1, y1 = layout[3]
    return cv2.cvtColor(frame[max(y0, 0):y1, x0:x1], cv2.COLOR_RGB2GRAY)


@dataclass(frozen=True)
class LabelMatch:
    """Where the visible label best matches a frame: ``correlation`` (normalised, of the drawn
    label with the frame's bottom-left corner) and ``contrast`` (text minus box, 0-1, at that
    place). ``found`` when both clear their bars."""

    correlation: float
    contrast: float
    text_height_px: int

    MIN_CORRELATION = 0.7
    MIN_CONTRAST = 0.3

    @property
    def found(self) -> bool:
        return self.correlation >= self.MIN_CORRELATION and self.contrast >= self.MIN_CONTRAST


def find_visible_label(frame: np.ndarray,
                       languages: Iterable[str] = DEFAULT_LANGUAGES) -> LabelMatch:
    """Look for the visible label (of ``languages``) in ``frame`` (RGB), as drawn on a frame
    0.6x to 2.5x this one's size and rescaled to it (a re-encode for another resolution). No
    OCR: the label is a known image, so a template match and a contrast measure at the match
    suffice (docs/compliance.md has the figures after a 360p 300 kbps re-encode)."""
    languages = tuple(languages) or DEFAULT_LANGUAGES
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    corner = grey[h - max(24, h * 2 // 5):, : max(48, w * 3 // 5)]
    best = LabelMatch(0.0, 0.0, 0)
    for original in np.geomspace(0.6, 2.5, 24) * min(h, w):
        drawn = _label_tile(int(round(original)), languages)
        factor = min(h, w) / original
        size = (max(1, round(drawn.shape[1] * factor)), max(1, round(drawn.shape[0] * factor)))
        tile = cv2.resize(drawn, size, interpolation=cv2.INTER_AREA if factor < 1 else
                          cv2.INTER_LINEAR)
        text = tile > 40 + 0.6 * (255 - 40)
        if tile.shape[0] < 4 or tile.shape[0] >= corner.shape[0] or \
                tile.shape[1] >= corner.shape[1] or not text.any() or text.all():
            continue
        scores = cv2.matchTemplate(corner, tile, cv2.TM_CCOEFF_NORMED)
        _, correlation, _, (x, y) = cv2.minMaxLoc(scores)
        if correlation <= best.correlation:
            continue
        patch = corner[y:y + tile.shape[0], x:x + tile.shape[1]].astype(np.float32)
        contrast = (patch[text].mean() - patch[~text].mean()) / 255.0
        best = LabelMatch(float(correlation), float(contrast), int(text.any(axis=1).sum()))
    return best


# The audio notice: GB 45438-2025 (as TC260's guide and implementers describe it; the
# standard's text was not read here) asks audio to open with a spoken "AI-generated" notice or
# a rhythm of short-long-short-short (Morse "L"). This is the rhythm: 880 Hz, 120 ms units.
AUDIO_NOTICE_HZ = 880.0
AUDIO_NOTICE_UNIT_S = 0.12
AUDIO_NOTICE_PATTERN = (1, 3, 1, 1)  # tone lengths in units; one unit of silence between
AUDIO_NOTICE_TAIL_S = 0.36  # silence before the content starts
AUDIO_NOTICE_DESCRIPTION = "tonal notice short-long-short-short, 880 Hz (GB 45438-2025)"


def audio_notice(rate: int, amplitude: float = 0.3) -> np.ndarray:
    """The tonal notice as mono float32 samples at ``rate`` Hz (with 8 ms fades, no clicks)."""
    unit = int(round(AUDIO_NOTICE_UNIT_S * rate))
    fade = max(1, int(0.008 * rate))
    parts = []
    for units in AUDIO_NOTICE_PATTERN:
        n = units * unit
        tone = amplitude * np.sin(2 * np.pi * AUDIO_NOTICE_HZ * np.arange(n) / rate)
        ramp = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / fade)
        parts += [tone * ramp, np.zeros(unit)]
    parts.append(np.zeros(int(round(AUDIO_NOTICE_TAIL_S * rate)) - unit))
    return np.concatenate(parts).astype(np.float32)


def audio_notice_seconds() -> float:
    return (sum(AUDIO_NOTICE_PATTERN) + len(AUDIO_NOTICE_PATTERN)) * AUDIO_NOTICE_UNIT_S + \
        AUDIO_NOTICE_TAIL_S - AUDIO_NOTICE_UNIT_S


def find_audio_notice(samples: np.ndarray, rate: int) -> bool:
    """Does the audio open with the notice's rhythm? The 880 Hz envelope of its first seconds,
    in 20 ms steps, against the pattern (tolerant of codecs and a few ms of offset)."""
    head = np.asarray(samples[: int(rate * (audio_notice_seconds() + 0.3))], np.float64)
    step = int(0.02 * rate)
    if len(head) < step * 10:
        return False
    t = np.arange(step) / rate
    probe = np.exp(-2j * np.pi * AUDIO_NOTICE_HZ * t)
    frames = head[: len(head) // step * step].reshape(-1, step)
    tone = np.abs(frames @ probe) / step  # the 880 Hz component per 20 ms
    total = np.sqrt((frames ** 2).mean(axis=1)) + 1e-9
    on = (tone / total > 0.5) & (tone > 0.02)  # a pure 880 Hz tone, loud enough
    runs, current, length = [], on[0], 0
    for value in on:
        if value == current:
            length += 1
        else:
            runs.append((bool(current), length))
            current, length = value, 1
    runs.append((bool(current), length))
    tones = [n * 0.02 / AUDIO_NOTICE_UNIT_S for value, n in runs if value][:4]
    if len(tones) < 4:
        return False
    return all(abs(got - want) <= 0.6 * max(1, want / 2)
               for got, want in zip(tones, AUDIO_NOTICE_PATTERN, strict=True))
