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
# The fallback passes run only when the fast pass found nothing, on smaller copies, so that a
# photo without a face costs seconds, not minutes (dlib's CNN takes ~2 s at 480 px here).
_FALLBACK_MAX_SIDE = 640
_CNN_MAX_SIDE = 400
_ROTATIONS = (20.0, -20.0, 40.0, -40.0, 90.0, -90.0, 180.0)


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
    _cnn = None

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

    @classmethod
    def _load_cnn(cls):
        with cls._lock:
            if cls._cnn is None:
                import dlib

                cls._cnn = dlib.cnn_face_detection_model_v1(
                    str(_models_dir() / "mmod_human_face_detector.dat"))
            return cls._cnn

    def detect(self, image: np.ndarray, upsample: int = 1, embed: bool = True) -> list[Face]:
        """All faces the fast detector (HOG, one upsampling) finds in an RGB image, largest
        first."""
        image = np.ascontiguousarray(image)
        small, scale = _shrink(image, _DETECT_MAX_SIDE)
        detector, _, _ = self._load()
        rects, scores, _ = detector.run(small, upsample, 0.0)
        boxes = [(_scaled(r, 1 / scale), float(sc)) for r, sc in zip(rects, scores)]
        return self._describe(image, boxes, embed)

    def find_faces(self, image: np.ndarray, thorough: bool = True) -> FaceSearch:
        """Look for faces, harder when the fast pass finds none (so that hiding a face from one
        detector is not a way around the gate): more upsampling for small faces, the mirror
        image, rotations, then dlib's CNN detector. The first pass that finds a face wins."""
        image = np.ascontiguousarray(image)
        # Fast pass: no upsampling finds faces of 80 px and more (at <= 1600 px) in ~60 ms
        # instead of ~300 ms; the passes below look for smaller faces when it finds none.
        faces = self.detect(image, upsample=0)
        tried = ["hog"]
        if faces or not thorough:
            return FaceSearch(faces, "hog", tuple(tried))
        faces = self.detect(image, upsample=1)
        tried.append("hog-upsample1")
        if faces:
            return FaceSearch(faces, "hog-upsample1", tuple(tried))
        detector, _, _ = self._load()
        small, scale = _shrink(image, _FALLBACK_MAX_SIDE)

        def run(method: str, img: np.ndarray, to_original: np.ndarray, finder) -> list[Face]:
            tried.append(method)
            boxes = finder(img)
            return self._describe_transformed(image, img, boxes, to_original)

        identity = np.array([[1 / scale, 0, 0], [0, 1 / scale, 0]], np.float64)
        hog2 = _hog(detector, 2)
        faces = run("hog-upsample2", small, identity, hog2)
        if faces:
            return FaceSearch(faces, "hog-upsample2", tuple(tried))
        hog1 = _hog(detector, 1)
        w = small.shape[1]
        mirror = np.array([[-1 / scale, 0, (w - 1) / scale], [0, 1 / scale, 0]], np.float64)
        faces = run("mirrored", np.ascontiguousarray(small[:, ::-1]), mirror, hog1)
        if faces:
            return FaceSearch(faces, "mirrored", tuple(tried))
        for angle in _ROTATIONS:
            rotated, back = _rotate(small, angle)
            back = np.vstack([back, [0, 0, 1]])
            to_original = (np.diag([1 / scale, 1 / scale, 1]) @ back)[:2]
            method = f"rotated{angle:+.0f}"
            faces = run(method, rotated, to_original, hog1)
            if faces:
                return FaceSearch(faces, method, tuple(tried))
        cnn = self._load_cnn()

        def cnn_find(img):
            return [(d.rect, float(d.confidence)) for d in cnn(img, 0) if d.confidence > 0.3]

        tiny, tiny_scale = _shrink(image, _CNN_MAX_SIDE)
        faces = run("cnn", tiny, np.array([[1 / tiny_scale, 0, 0], [0, 1 / tiny_scale, 0]]),
                    cnn_find)
        return FaceSearch(faces, "cnn" if faces else "none", tuple(tried))

    # -----------------------------------------------------------------------------------------
    def _describe(self, image: np.ndarray, boxes, embed: bool) -> list[Face]:
        import dlib

        _, predictor, recognizer = self._load()
        faces = []
        for rect, score in boxes:
            shape = predictor(image, rect)
            pts = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
            emb = (np.array(recognizer.compute_face_descriptor(image, shape), np.float32)
                   if embed else np.zeros(128, np.float32))
            r = dlib.rectangle(rect.left(), rect.top(), rect.right(), rect.bottom())
            faces.append(Face(Box(r.left(), r.top(), r.right(), r.bottom()), pts, emb, score))
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        return faces

    def _describe_transformed(self, original: np.ndarray, img: np.ndarray, boxes,
                              to_original: np.ndarray) -> list[Face]:
        """Embed each face in the (upright) image it was found in; report landmarks and box in
        the original image's coordinates."""
        faces = []
        for face in self._describe(img, boxes, True):
            pts = face.landmarks.astype(np.float64)
            mapped = pts @ to_original[:, :2].T + to_original[:, 2]
            h, w = original.shape[:2]
            x0, y0 = np.clip(mapped.min(axis=0), 0, [w - 1, h - 1])
            x1, y1 = np.clip(mapped.max(axis=0), 0, [w - 1, h - 1])
            faces.append(Face(Box(int(x0), int(y0), int(x1), int(y1)),
                              mapped.astype(np.float32), face.embedding, face.score))
        return faces

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """68 landmarks inside a known face box (fast; used to re-measure generated frames)."""
        import dlib

        _, predictor, _ = self._load()
        shape = predictor(np.ascontiguousarray(image),
                          dlib.rectangle(box.left, box.top, box.right, box.bottom))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


@dataclass(frozen=True)
class FaceSearch:
    """The faces found and how: ``method`` is the pass that found them ("none" if no pass did)."""

    faces: list[Face]
    method: str
    tried: tuple[str, ...]


def _hog(detector, upsample: int):
    def find(img: np.ndarray) -> list:
        rects, scores, _ = detector.run(img, upsample, 0.0)
        return [(r, float(s)) for r, s in zip(rects, scores)]

    return find


def _shrink(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    if max(image.shape[:2]) <= max_side:
        return image, 1.0
    import cv2

    scale = max_side / max(image.shape[:2])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), scale


def _scaled(rect, factor: float):
    import dlib

    return dlib.rectangle(int(rect.left() * factor), int(rect.top() * factor),
                          int(rect.right() * factor), int(rect.bottom() * factor))


def _rotate(image: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """The image rotated by ``angle`` degrees on an enlarged canvas, and the 2x3 affine map from
    the rotated image back to the input."""
    import cv2

    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    rotated = cv2.warpAffine(image, m, (nw, nh), borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(rotated), cv2.invertAffineTransform(m)
