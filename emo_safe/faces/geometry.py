"""Copies of an image at another size or turn, and the affine maps back to the original."""

from __future__ import annotations

import cv2
import numpy as np


def shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """A copy whose longest side is at most ``max_side``, and its scale (1.0: the image)."""
    if max(image.shape[:2]) <= max_side:
        return image, 1.0
    scale = max_side / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale


def rotate(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The image rotated by ``angle`` degrees on an enlarged canvas, and the 2x3 affine map from
    the rotated image back to the input."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    rotated = cv2.warpAffine(image, m, (nw, nh), borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(rotated), cv2.invertAffineTransform(m)


def turned(small: np.ndarray, scale: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """A shrunk copy (``scale`` of the original) rotated by ``angle`` degrees, and the 2x3 map
    from it back to the original image."""
    img, back = rotate(small, angle)
    return img, (np.diag([1 / scale, 1 / scale, 1]) @ np.vstack([back, [0, 0, 1]]))[:2]


def scale_map(scale: float) -> np.ndarray:
    """The 2x3 map from a copy at ``scale`` back to the original."""
    return np.array([[1 / scale, 0, 0], [0, 1 / scale, 0]], np.float64)


def mirror_map(width: int, scale: float) -> np.ndarray:
    """The 2x3 map from a mirrored copy (``width`` px wide, at ``scale``) to the original."""
    return np.array([[-1 / scale, 0, (width - 1) / scale], [0, 1 / scale, 0]], np.float64)


def upright_crop(image: np.ndarray, cx: float, cy: float, side: float, angle: float,
                 scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A square of three face sides about (cx, cy), turned by ``angle`` degrees
    (counter-clockwise) and scaled, and the 2x3 map from the crop back to the image."""
    size = max(int(3 * side * scale), 16)
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += [size / 2 - cx, size / 2 - cy]
    crop = cv2.warpAffine(image, m, (size, size), borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop), cv2.invertAffineTransform(m)


def apply(points: np.ndarray, to_original: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, np.float64)
    return pts @ to_original[:, :2].T + to_original[:, 2]
