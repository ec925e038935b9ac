"""Face detection, 68 landmarks and 128-d embeddings behind one small interface.

The implementation is dlib's HOG frontal detector, its 68-point shape predictor and its ResNet
face-recognition model, whose weights ship inside the ``face-recognition-models`` package (no
download). Embeddings are biometric data: they are returned to callers inside the library and
stored only in the workspace database; nothing here logs or prints them.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# Euclidean distance between dlib embeddings under which two faces are taken to be the same
# person. dlib's own operating point is 0.6 (99.38% on LFW); consent matching is stricter because
# a false accept animates someone who did not agree.
SAME_PERSON_DISTANCE = 0.5

_DETECT_MAX_SIDE = 1600


def _models_dir() -> Path:
    # Not `import face_recognition_models`: its __init__ needs pkg_resources.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


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

    def __repr__(self) -> str:
        return f"Face(box={self.box}, score={self.score:.2f})"

    def distance(self, embedding: np.ndarray) -> float:
        return float(np.linalg.norm(self.embedding - np.asarray(embedding, np.float32)))


class FaceAnalyzer:
    """Thread-safe, lazily loaded dlib models (loading the ResNet takes about half a second)."""

    _lock = threading.Lock()
    _models: tuple | None = None

    @classmethod
    def _load(cls):
        with cls._lock:
            if cls._models is None:
                import dlib

                d = _models_dir()
                cls._models = (
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(str(d / "shape_predictor_68_face_landmarks.dat")),
                    dlib.face_recognition_model_v1(
                        str(d / "dlib_face_recognition_resnet_model_v1.dat")
                    ),
                )
            return cls._models

    def detect(self, image: np.ndarray, upsample: int = 1, embed: bool = True) -> list[Face]:
        """All faces in an RGB uint8 image, largest first."""
        import dlib

        detector, predictor, recognizer = self._load()
        image = np.ascontiguousarray(image)
        scale = 1.0
        small = image
        if max(image.shape[:2]) > _DETECT_MAX_SIDE:
            import cv2

            scale = _DETECT_MAX_SIDE / max(image.shape[:2])
            small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rects, scores, _ = detector.run(small, upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            full = dlib.rectangle(
                int(rect.left() / scale), int(rect.top() / scale),
                int(rect.right() / scale), int(rect.bottom() / scale),
            )
            shape = predictor(image, full)
            pts = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
            emb = (
                np.array(recognizer.compute_face_descriptor(image, shape), np.float32)
                if embed
                else np.zeros(128, np.float32)
            )
            box = Box(full.left(), full.top(), full.right(), full.bottom())
            faces.append(Face(box, pts, emb, float(score)))
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        return faces

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """68 landmarks inside a known face box (fast; used to re-measure generated frames)."""
        import dlib

        _, predictor, _ = self._load()
        shape = predictor(np.ascontiguousarray(image),
                          dlib.rectangle(box.left, box.top, box.right, box.bottom))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)
