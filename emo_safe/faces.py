"""Face detection, 68 landmarks and 128-d embeddings behind one small interface.

Two detectors look at every photo: dlib's HOG frontal detector and a RetinaFace network
(MobileNet-0.25, 1.7 MB, shipped in ``emo_safe/data`` and run by OpenCV's DNN module; see
MODELS.md there). HOG alone misses faces whose eyes are covered and small faces; RetinaFace finds
them in ~20 ms. Every face is then described by dlib: its 68-point shape predictor and its ResNet
face-recognition model, whose weights ship inside the ``face-recognition-models`` package (no
download). docs/faces.md has the measurements behind each choice.

Embeddings are biometric data: they are returned to callers inside the library and stored only
in the workspace database; nothing here logs or prints them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
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

_RETINAFACE_FILE = Path(__file__).resolve().parent / "data" / "retinaface-mobilenet0.25.onnx"
_RETINAFACE_SHA256 = "b7a7acab55e104dce6f32cdfff929bd83946da5cd869b9e2e9bdffafd1b7e4a5"
# RetinaFace runs on a copy whose longest side is at most this (~20 ms); the thorough search
# looks again at up to _RETINAFACE_LARGE_SIDE for small faces in large photos.
_RETINAFACE_MAX_SIDE = 640
_RETINAFACE_LARGE_SIDE = 1280
# Faces in every test photo and transform score 0.988-1.0; no non-face image of scikit-image's
# samples scores over 0.70 (docs/faces.md).
_RETINAFACE_MIN_SCORE = 0.8
# A RetinaFace face whose eye line is tilted more than this is described in an upright crop
# (dlib's shape predictor expects roughly upright faces).
_UPRIGHT_TOLERANCE_DEG = 15.0
# dlib's HOG box relative to the eye midpoint and the eye-to-mouth vector (fitted on 62 faces
# found by both detectors: centre 0.47 of the way to the mouth, side 2.36 eye-to-mouth lengths).
_BOX_CENTRE_TOWARDS_MOUTH = 0.47
_BOX_SIDE_IN_EYE_MOUTH = 2.36
# Both eyes hidden: the high-frequency detail where the eyes are is under this fraction of the
# nose-and-mouth area's. Clean faces (and their greyscale, JPEG q20, 60-px, rotated, cropped,
# darkened copies) measure >= 1.13 in their more detailed eye; eyes painted over <= 0.70,
# blurred out <= 0.51 (docs/faces.md).
EYE_DETAIL_MIN = 0.9
# The ArcFace 5-point template (112 x 112): eye centres, nose tip, mouth corners.
_TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                          [41.5493, 92.3655], [70.7299, 92.2041]], np.float32)


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
        """Look for faces with both detectors; look harder when neither finds one (so that
        hiding a face from one detector is not a way around the gate): more upsampling for
        small faces, RetinaFace on a larger copy and on the image turned sideways and upside
        down, the mirror image, rotations, then dlib's CNN detector. The first pass that finds
        a face wins."""
        image = np.ascontiguousarray(image)
        # Fast pass: HOG without upsampling finds faces of 80 px and more (at <= 1600 px) in
        # ~60 ms; RetinaFace at 640 px adds the faces HOG misses (eyes covered, small, turned).
        hog = self.detect(image, upsample=0)
        tried = ["hog", "retinaface"]
        retina = _RetinaFace.get().detect(image, _RETINAFACE_MAX_SIDE)
        faces, method = self._merge(image, hog, retina)
        turn = _quarter_turn(retina) if retina and not hog else 0
        if turn:
            # Only RetinaFace saw faces, and they lie sideways or upside down: the photo is
            # turned. Look at it upright as well, where HOG sees every face; a turned group
            # photo must not pass as one face.
            method = f"upright{turn:+d}"
            tried.append(method)
            img, to_original = _turned(*_shrink(image, _DETECT_MAX_SIDE), float(turn))
            upright, _ = self._merge(img, self.detect(img, upsample=0),
                                     _RetinaFace.get().detect(img, _RETINAFACE_MAX_SIDE))
            if len(upright) >= len(faces):
                faces = [self._map_face(image, f, to_original) for f in upright]
        if faces or not thorough:
            return FaceSearch(faces, method, tuple(tried))
        faces = self.detect(image, upsample=1)
        tried.append("hog-upsample1")
        if faces:
            return FaceSearch(faces, "hog-upsample1", tuple(tried))
        if max(image.shape[:2]) > _RETINAFACE_MAX_SIDE:
            tried.append("retinaface-large")
            faces, _ = self._merge(image, [], _RetinaFace.get().detect(
                image, _RETINAFACE_LARGE_SIDE))
            if faces:
                return FaceSearch(faces, "retinaface-large", tuple(tried))
        detector, _, _ = self._load()
        small, scale = _shrink(image, _FALLBACK_MAX_SIDE)

        def run(method: str, img: np.ndarray, to_original: np.ndarray, finder) -> list[Face]:
            tried.append(method)
            boxes = finder(img)
            return self._describe_transformed(image, img, boxes, to_original)

        for angle in (90.0, -90.0, 180.0):
            img, to_original = _turned(small, scale, angle)
            method = f"retinaface-rotated{angle:+.0f}"
            tried.append(method)
            found = _RetinaFace.get().detect(img, _RETINAFACE_MAX_SIDE)
            faces = [self._map_face(image, f, to_original)
                     for f in self._merge(img, [], found)[0]]
            if faces:
                return FaceSearch(faces, method, tuple(tried))

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
            img, to_original = _turned(small, scale, angle)
            method = f"rotated{angle:+.0f}"
            faces = run(method, img, to_original, hog1)
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
    def _merge(self, image: np.ndarray, hog: list[Face],
               retina: list[RetinaDetection]) -> tuple[list[Face], str]:
        """HOG's faces, plus a face for each RetinaFace detection that no HOG face explains.
        A HOG face keeps its own landmarks and embedding (consent templates were made that
        way); it takes RetinaFace's eye points for the eye check when the two agree."""
        faces = list(hog)
        added = 0
        for det in retina:
            cx, cy, side, _ = det.dlib_square()
            same = [i for i, f in enumerate(faces[: len(hog)])
                    if abs(f.box.center[0] - cx) < f.box.width / 2
                    and abs(f.box.center[1] - cy) < f.box.height / 2]
            if same:
                i = same[0]
                faces[i] = _with_eye_detail(faces[i], _eye_detail(image, det.points))
                continue
            face = self._describe_retina(image, det)
            if face is not None:
                faces.append(face)
                added += 1
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        method = ("hog+retinaface" if hog and added else "retinaface" if added
                  else "hog" if hog else "none")
        return faces, method

    def _describe_retina(self, image: np.ndarray, det: RetinaDetection) -> Face:
        """Describe a RetinaFace detection with dlib, in a crop around it turned so the face is
        upright; the result is in the image's coordinates.

        RetinaFace finds faces turned sideways or upside down, but its five points are not
        always right on them. So HOG, which sees only upright faces, is asked first: in the
        crop turned by RetinaFace's eye-line angle, then turned a half and quarter turn more.
        Where HOG confirms the face its box is used (the way consent templates were made);
        where it sees nothing in any turn (eyes covered), the box comes from the five points."""
        import dlib

        cx, cy, side, roll = det.dlib_square()
        detector, _, _ = self._load()
        # HOG looks at a copy where the face is ~120 px (it finds faces from 80 px up).
        look = min(1.0, 120.0 / max(side, 1.0))
        for angle in (roll, roll + 180.0, roll + 90.0, roll - 90.0):
            crop, to_image = _upright_crop(image, cx, cy, side, angle, look)
            c = crop.shape[0] / 2
            rects, scores, _ = detector.run(crop, 0 if side * look >= 80 else 1, 0.0)
            near = [(r, sc) for r, sc in zip(rects, scores)
                    if abs(r.center().x - c) < side * look / 2
                    and abs(r.center().y - c) < side * look / 2]
            if not near:
                continue
            r, sc = max(near, key=lambda t: t[1])
            full, to_image = _upright_crop(image, cx, cy, side, angle, 1.0)
            rect = _scaled(r, 1 / look)
            return self._map_face(image, self._describe(full, [(rect, float(sc))], True)[0],
                                  to_image)
        full, to_image = _upright_crop(image, cx, cy, side, roll, 1.0)
        c, half = full.shape[0] / 2, side / 2
        rect = dlib.rectangle(int(c - half), int(c - half), int(c + half), int(c + half))
        face = self._map_face(image, self._describe(full, [(rect, det.score)], True)[0], to_image)
        return _with_eye_detail(face, _eye_detail(image, det.points))

    def _map_face(self, original: np.ndarray, face: Face, to_original: np.ndarray) -> Face:
        """A face described in a transformed copy, with landmarks and box in the original's
        coordinates (the embedding and eye detail do not depend on where the face is)."""
        pts = face.landmarks.astype(np.float64)
        mapped = pts @ to_original[:, :2].T + to_original[:, 2]
        h, w = original.shape[:2]
        x0, y0 = np.clip(mapped.min(axis=0), 0, [w - 1, h - 1])
        x1, y1 = np.clip(mapped.max(axis=0), 0, [w - 1, h - 1])
        return Face(Box(int(x0), int(y0), int(x1), int(y1)), mapped.astype(np.float32),
                    face.embedding, face.score, face.eye_detail)

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
            faces.append(Face(Box(r.left(), r.top(), r.right(), r.bottom()), pts, emb, score,
                              _eye_detail(image, _five_points(pts))))
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        return faces

    def _describe_transformed(self, original: np.ndarray, img: np.ndarray, boxes,
                              to_original: np.ndarray) -> list[Face]:
        """Embed each face in the (upright) image it was found in; report landmarks and box in
        the original image's coordinates."""
        return [self._map_face(original, face, to_original)
                for face in self._describe(img, boxes, True)]

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


def _quarter_turn(detections: list[RetinaDetection]) -> int:
    """The quarter turn (0, 90, -90 or 180 degrees) that makes most of these faces upright."""
    turns = [int(round(d.dlib_square()[3] / 90.0)) * 90 for d in detections]
    turn = max(set(turns), key=turns.count)
    return 180 if turn == -180 else turn


def _upright_crop(image: np.ndarray, cx: float, cy: float, side: float, angle: float,
                  scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A square of three face sides about (cx, cy), turned by ``angle`` degrees
    (counter-clockwise) and scaled, and the 2x3 map from the crop back to the image."""
    import cv2

    size = max(int(3 * side * scale), 16)
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += [size / 2 - cx, size / 2 - cy]
    crop = cv2.warpAffine(image, m, (size, size), borderMode=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(crop), cv2.invertAffineTransform(m)


def _scaled(rect, factor: float):
    import dlib

    return dlib.rectangle(int(rect.left() * factor), int(rect.top() * factor),
                          int(rect.right() * factor), int(rect.bottom() * factor))


def _turned(small: np.ndarray, scale: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """A shrunk copy (``scale`` of the original) rotated by ``angle`` degrees, and the 2x3 map
    from it back to the original image."""
    img, back = _rotate(small, angle)
    return img, (np.diag([1 / scale, 1 / scale, 1]) @ np.vstack([back, [0, 0, 1]]))[:2]


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


# ------------------------------------------------------------------------------ RetinaFace
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


class _RetinaFace:
    """The bundled RetinaFace network, loaded once per process after its hash is checked."""

    _lock = threading.Lock()
    _instance: _RetinaFace | None = None
    _MEAN_BGR = np.array([104.0, 117.0, 123.0], np.float32)  # the training images' mean
    # (stride, anchor sizes) of the three feature maps, as trained
    _LEVELS = ((8, (16, 32)), (16, (64, 128)), (32, (256, 512)))

    def __init__(self) -> None:
        import cv2

        raw = _RETINAFACE_FILE.read_bytes()
        if hashlib.sha256(raw).hexdigest() != _RETINAFACE_SHA256:
            raise RuntimeError(f"{_RETINAFACE_FILE} does not have the expected SHA-256: "
                               "the installation is damaged; reinstall emo-safe")
        self._net = cv2.dnn.readNetFromONNX(np.frombuffer(raw, np.uint8))
        self._run_lock = threading.Lock()  # an OpenCV Net is not safe to run from two threads

    @classmethod
    def get(cls) -> _RetinaFace:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def detect(self, image: np.ndarray, max_side: int,
               min_score: float = _RETINAFACE_MIN_SCORE) -> list[RetinaDetection]:
        """Faces in an RGB image, found on a copy no larger than ``max_side``; points in the
        image's own coordinates."""
        import cv2

        small, scale = _shrink(image, max_side)
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


# ------------------------------------------------------------------------------ eye check
def _five_points(landmarks68: np.ndarray) -> np.ndarray:
    """RetinaFace's five points from dlib's 68: eye centres, nose tip, mouth corners."""
    lm = landmarks68
    return np.array([lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), lm[30], lm[48], lm[54]],
                    np.float32)


def _eye_detail(image: np.ndarray, points: np.ndarray) -> float:
    """High-frequency detail in the more detailed eye, as a fraction of the nose-and-mouth
    area's, measured on a 112-px aligned face so that it does not depend on the photo's size.
    A painted rectangle or a blur leaves the eyes with almost none; real eyes (iris, lids,
    lashes) have more than the cheeks and mouth."""
    import cv2

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


def _with_eye_detail(face: Face, detail: float) -> Face:
    return Face(face.box, face.landmarks, face.embedding, face.score, detail)
