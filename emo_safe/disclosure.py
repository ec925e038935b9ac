"""The visible disclosure: an "AI-generated" label drawn into every frame.

Policies such as strict.toml require it (EU AI Act art. 50 asks deployers to disclose deep
fakes). It is drawn before the watermark and the signature, so both cover it: removing it
changes the pixels the manifest's hash binds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

DISCLOSURE_TEXT = "AI-generated"


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
