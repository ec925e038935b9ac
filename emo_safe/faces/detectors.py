"""Face detectors behind one protocol: ``find(image) -> list[Candidate]``.

- :class:`HogDetector`: dlib's HOG frontal detector (fast; upright faces of 80 px and more
  without upsampling, 40 px with one upsampling);
- :class:`RetinaFaceDetector`: the bundled RetinaFace network (faces HOG misses: eyes covered,
  small, turned; five landmarks per face);
- :class:`CnnDetector`: dlib's CNN detector (slow; the thorough search's last resort).

Each looks at a copy no larger than its ``max_side`` and reports candidates in the
coordinates of the image it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from emo_safe.faces.geometry import shrink
from emo_safe.faces.models import RetinaDetection, RetinaFaceNet, dlib_cnn, dlib_models


@dataclass(frozen=True)
class Candidate:
    """A face a detector saw: a box (HOG, CNN) or five points (RetinaFace)."""

    score: float
    rect: tuple[int, int, int, int] | None = None  # left, top, right, bottom
    retina: RetinaDetection | None = None


class FaceDetector(Protocol):
    name: str

    def find(self, image: np.ndarray) -> list[Candidate]: ...


def _rects(rects, scores, scale: float, min_score: float = -1e9) -> list[Candidate]:
    f = 1 / scale
    return [Candidate(float(s), (int(r.left() * f), int(r.top() * f), int(r.right() * f),
                                 int(r.bottom() * f)))
            for r, s in zip(rects, scores) if s > min_score]


@dataclass(frozen=True)
class HogDetector:
    upsample: int = 0
    max_side: int = 1600
    name: str = "hog"

    def find(self, image: np.ndarray) -> list[Candidate]:
        small, scale = shrink(np.ascontiguousarray(image), self.max_side)
        detector, _, _ = dlib_models()
        rects, scores, _ = detector.run(small, self.upsample, 0.0)
        return _rects(rects, scores, scale)


@dataclass(frozen=True)
class RetinaFaceDetector:
    max_side: int = 640
    name: str = "retinaface"

    def find(self, image: np.ndarray) -> list[Candidate]:
        return [Candidate(d.score, retina=d)
                for d in RetinaFaceNet.get().detect(image, self.max_side)]


@dataclass(frozen=True)
class CnnDetector:
    max_side: int = 400
    min_confidence: float = 0.3
    name: str = "cnn"

    def find(self, image: np.ndarray) -> list[Candidate]:
        small, scale = shrink(np.ascontiguousarray(image), self.max_side)
        found = dlib_cnn()(small, 0)
        return _rects([d.rect for d in found], [float(d.confidence) for d in found], scale,
                      self.min_confidence)
