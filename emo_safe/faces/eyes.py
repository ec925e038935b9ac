"""The eye check: is there real detail where the eyes are, or were they painted over or
blurred out? Measured on a 112-px aligned face so it does not depend on the photo's size."""

from __future__ import annotations

import cv2
import numpy as np

# The ArcFace 5-point template (112 x 112): eye centres, nose tip, mouth corners.
_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                          [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """RetinaFace's five points from dlib's 68: eye centres, nose tip, mouth corners."""
    lm = landmarks68
    return np.array([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), lm[30], lm[48], lm[54]],
                    np.float32)


def eye_detail(image: np.ndarray, points: np.ndarray) -> float:
    """High-frequency detail in the more detailed eye, as a fraction of the nose-and-mouth
    area's. A painted rectangle or a blur leaves the eyes with almost none; real eyes (iris,
    lids, lashes) have more than the cheeks and mouth."""
    m, _ = cv2.estimateAffinePartial2D(np.asarray(points, np.float32), _TEMPLATE_112,
                                       method=cv2.LMEDS)
    if m is None:
        return float("inf")  # degenerate points: no claim either way
    chip = cv2.warpAffine(np.ascontiguousarray(image), m, (112, 112),
                          borderMode=cv2.BORDER_REPLICATE)
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=3))
    eyes = max(float(lap[44:60, 26:50].mean()), float(lap[44:60, 62:86].mean()))
    lower = float(lap[64:100, 36:76].mean())
    return eyes / (lower + 1e-3)
