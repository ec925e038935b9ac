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


def _label_geometry(h: int, w: int) -> tuple:
    """Font scale, stroke, text origin and the (x0, y0, x1, y1) box, for an h x w frame."""
    scale = max(0.35, min(h, w) / 700)
    thickness = max(1, int(round(scale * 2)))
    (tw, th), base = cv2.getTextSize(DISCLOSURE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, int(th * 0.45))
    x0, y1 = pad, h - pad
    box = (x0, y1 - th - base - 2 * pad, x0 + tw + 2 * pad, y1)
    return scale, thickness, (x0 + pad, y1 - pad - base), box


def add_visible_label(frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Draw the label in the bottom-left corner: white text on a darkened box."""
    geometry = None
    for frame in frames:
        h, w = frame.shape[:2]
        if geometry is None or geometry[0] != (h, w):
            geometry = ((h, w), _label_geometry(h, w))
        scale, thickness, origin, (x0, y0, x1, y1) = geometry[1]
        out = np.array(frame, np.uint8, copy=True)
        region = out[max(y0, 0):y1, x0:x1]
        region[:] = (region.astype(np.uint16) * 2 // 5).astype(np.uint8)
        cv2.putText(out, DISCLOSURE_TEXT, origin, cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), thickness, cv2.LINE_AA)
        yield out


def _label_template(scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The label as drawn (white text on its dark box), grey, at font ``scale``, and the mask
    of its text pixels."""
    thickness = max(1, int(round(scale * 2)))
    (tw, th), base = cv2.getTextSize(DISCLOSURE_TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, int(th * 0.45))
    tile = np.full((th + base + 2 * pad, tw + 2 * pad), 40, np.uint8)
    cv2.putText(tile, DISCLOSURE_TEXT, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, 255,
                thickness, cv2.LINE_AA)
    return tile, tile > 200


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


def find_visible_label(frame: np.ndarray) -> LabelMatch:
    """Look for the visible label in ``frame`` (RGB), as drawn on a frame 0.6x to 2.5x this
    one's size and rescaled to it (a re-encode for another resolution). No OCR: the label is
    a known image, so a template match and a contrast measure at the match suffice
    (docs/compliance.md has the figures after a 360p 300 kbps re-encode)."""
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    corner = grey[h - max(24, h // 4):, : max(48, w // 2)]
    best = LabelMatch(0.0, 0.0, 0)
    for original in np.geomspace(0.6, 2.5, 24) * min(h, w):
        drawn, _ = _label_template(max(0.35, original / 700))
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
