"""The models behind the face layer, loaded once per process: dlib's HOG detector, 68-point
shape predictor, ResNet face-recognition model and CNN detector (weights from the
``face-recognition-models`` package), and the bundled RetinaFace network (MobileNet-0.25,
1.7 MB ONNX in ``emo_safe/data``, run by OpenCV's DNN module; see MODELS.md there). A missing
or altered model file is an :class:`~emo_safe.errors.InstallationError`."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo_safe.errors import InstallationError
from emo_safe.faces.geometry import shrink

RETINAFACE_FILE = Path(__file__).resolve().parents[1] / "data" / "retinaface-mobilenet0.25.onnx"
RETINAFACE_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
# Faces in every test photo and transform score 0.988-1.0; no non-face image of scikit-image's
# samples scores over 0.70 (docs/faces.md).
RETINAFACE_MIN_SCORE = 0.8
# dlib's HOG box relative to the eye midpoint and the eye-to-mouth vector (fitted on 62 faces
# found by both detectors: centre 0.47 of the way to the mouth, side 2.36 eye-to-mouth lengths).
_BOX_CENTRE_TOWARDS_MOUTH = 0.47
_BOX_SIDE_IN_EYE_MOUTH = 2.36

_lock = threading.Lock()
_dlib: tuple | None = None
_cnn = None


def _models_dir() -> Path:
    # Not `import face_recognition_models`: its __init__ needs pkg_resources.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise InstallationError("the face-recognition-models package is not installed: "
                                "reinstall emo-safe")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def dlib_models() -> tuple:
    """(HOG detector, 68-point shape predictor, ResNet recogniser); ~0.5 s the first time."""
    global _dlib
    with _lock:
        if _dlib is None:
            import dlib

            d = _models_dir()
            try:
                _dlib = (
                    dlib.get_frontal_face_detector(),
                    dlib.shape_predictor(str(d / "shape_predictor_68_face_landmarks.dat")),
                    dlib.face_recognition_model_v1(
                        str(d / "dlib_face_recognition_resnet_model_v1.dat")),
                )
            except RuntimeError:
                raise InstallationError(f"dlib's face models in {d} cannot be loaded: "
                                        "reinstall face-recognition-models") from None
        return _dlib


def dlib_cnn():
    global _cnn
    with _lock:
        if _cnn is None:
            import dlib

            try:
                _cnn = dlib.cnn_face_detection_model_v1(
                    str(_models_dir() / "mmod_human_face_detector.dat"))
            except RuntimeError:
                raise InstallationError("dlib's CNN face detector cannot be loaded: reinstall "
                                        "face-recognition-models") from None
        return _cnn


@dataclass(frozen=True)
class RetinaDetection:
    score: float
    points: np.ndarray  # (5, 2): eye centres (image left, right), nose tip, mouth corners

    def dlib_square(self) -> tuple[float, float, float, float]:
        """Centre x, y and side of the box dlib's HOG detector would draw around this face, and
        the face's roll in degrees (the eye line's angle)."""
        eyes = (self.points[0] + self.points[1]) / 2
        mouth = (self.points[3] + self.points[4]) / 2
        down = mouth - eyes
        length = float(np.hypot(*down))
        cx, cy = eyes + _BOX_CENTRE_TOWARDS_MOUTH * down
        dx, dy = self.points[1] - self.points[0]
        return float(cx), float(cy), _BOX_SIDE_IN_EYE_MOUTH * length, math.degrees(
            math.atan2(dy, dx))


class RetinaFaceNet:
    """The bundled RetinaFace network, loaded once per process after its hash is checked."""

    _lock = threading.Lock()
    _instance: RetinaFaceNet | None = None
    _MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)  # the training images' mean
    # (stride, anchor sizes) of the three feature maps, as trained
    _LEVELS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))

    def __init__(self, path: Path | None = None) -> None:
        import cv2

        path = path or RETINAFACE_FILE
        try:
            raw = path.read_bytes()
        except OSError:
            raise InstallationError(f"{path} is missing: the installation is damaged; "
                                    "reinstall emo-safe") from None
        if hashlib.sha256(raw).hexdigest() != RETINAFACE_SHA256:
            raise InstallationError(f"{path} does not have the expected SHA-256: the "
                                    "installation is damaged; reinstall emo-safe")
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(raw, np.uint8))
        self._run_lock = threading.Lock()  # an OpenCV Net is not safe to run from two threads

    @classmethod
    def get(cls) -> RetinaFaceNet:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def detect(self, image: np.ndarray, max_side: int,
               min_score: float = RETINAFACE_MIN_SCORE) -> list[RetinaDetection]:
        """Faces in an RGB image, found on a copy no larger than ``max_side``; points in the
        image's own coordinates."""
        import cv2

        small, scale = shrink(image, max_side)
        h, w = small.shape[:2]
        blob = (small[:, :, ::-1].astype(np.float32) - self._MEAN_BGR).transpose(2, 0, 1)[None]
        with self._run_lock:
            self._net.setInput(np.ascontiguousarray(blob))
            loc, conf, marks = self._net.forward(["loc", "conf", "landmarks"])
        anchors = self._anchors(h, w)
        score = conf[0, :, 1]
        keep = score > min_score
        if not keep.any():
            return []
        anchors, loc, score, marks = anchors[keep], loc[0][keep], score[keep], marks[0][keep]
        # The SSD-style decoding RetinaFace was trained with (variances 0.1 and 0.2).
        centre = anchors[:, :2] + loc[:, :2] * 0.1 * anchors[:, 2:]
        size = anchors[:, 2:] * np.exp(loc[:, 2:] * 0.2)
        boxes = np.concatenate([centre - size / 2, size], axis=1)
        points = anchors[:, None, :2] + marks.reshape(-1, 5, 2) * 0.1 * anchors[:, None, 2:]
        chosen = np.asarray(cv2.dnn.NMSBoxes(boxes.tolist(), score.tolist(), min_score, 0.4),
                            dtype=int).ravel()
        return [RetinaDetection(float(score[i]), (points[i] / scale).astype(np.float32))
                for i in chosen]

    def _anchors(self, h: int, w: int) -> np.ndarray:
        """(cx, cy, size, size) of every anchor, in the order the network emits them."""
        out = []
        for stride, sizes in self._LEVELS:
            ys, xs = np.meshgrid(np.arange(math.ceil(h / stride)),
                                 np.arange(math.ceil(w / stride)), indexing="ij")
            cx = (xs.ravel() + 0.5) * stride
            cy = (ys.ravel() + 0.5) * stride
            per_cell = [np.stack([cx, cy, np.full_like(cx, s), np.full_like(cx, s)], axis=1)
                        for s in sizes]
            out.append(np.stack(per_cell, axis=1).reshape(-1, 4))
        return np.concatenate(out).astype(np.float32)
