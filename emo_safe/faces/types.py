"""What the face layer returns: boxes, faces (landmarks, embedding, eye detail) and the
result of a search."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Both eyes hidden: the high-frequency detail where the eyes are is under this fraction of the
# nose-and-mouth area's. Clean faces (and their greyscale, JPEG q20, 60-px, rotated, cropped,
# darkened copies) measure >= 1.13 in their more detailed eye; eyes painted over <= 0.70,
# blurred out <= 0.51 (docs/faces.md).
EYE_DETAIL_MIN = 0.9


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def center(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)


@dataclass(frozen=True, repr=False)
class Face:
    """One detected face. ``repr`` deliberately omits the embedding."""

    box: Box
    landmarks: np.ndarray = field(compare=False)  # (68, 2) float32, x/y in image pixels
    embedding: np.ndarray = field(compare=False)  # (128,) float32 — biometric, keep private
    score: float = 0.0
    # How much detail the eyes show against the nose and mouth (see EYE_DETAIL_MIN).
    eye_detail: float = field(default=float("inf"), compare=False)

    def __repr__(self) -> str:
        return f"Face(box={self.box}, score={self.score:.2f})"

    @property
    def eyes_hidden(self) -> bool:
        """Both eyes painted over, blurred out or otherwise without detail: neither consent
        matching nor public-figure screening can be trusted on such a face."""
        return self.eye_detail < EYE_DETAIL_MIN

    def distance(self, embedding: np.ndarray) -> float:
        return float(np.linalg.norm(self.embedding - np.asarray(embedding, np.float32)))

    def with_eye_detail(self, detail: float) -> Face:
        return Face(self.box, self.landmarks, self.embedding, self.score, detail)


@dataclass(frozen=True)
class FaceSearch:
    """The faces found and how: ``method`` is the pass that found them ("none" if no pass did);
    ``tried`` every pass that ran."""

    faces: list[Face]
    method: str
    tried: tuple[str, ...]
