"""The face search: which detectors look at which copies of the photo, and how what they find
becomes faces with landmarks, embeddings and the eye check.

The fast pass always runs, and covers every face that can show in a generated video:

- HOG on a copy of at most 1600 px (faces of 80 px and more there);
- RetinaFace on a copy of at most 640 px (large faces, and the ones HOG misses: eyes covered,
  turned);
- for a photo over 1280 px, RetinaFace again on the whole photo at up to
  :data:`WHOLE_PHOTO_SIDE` px — all the gate hands a generator — so that a small second face in
  a large photo is found (docs/faces.md has the measured smallest face at 4, 16 and 37 MP); a
  smaller photo is looked at by RetinaFace with and without a border of its edge pixels.

When only RetinaFace saw faces and they lie sideways or upside down, the photo is also looked
at upright. Only when the fast pass finds no face at all does the thorough search run: a table
of passes (:data:`THOROUGH_PASSES`), tried in order, the first that finds a face wins — so that
hiding a face from one detector is not a way around the gate.

Every face is then described by dlib: its 68-point shape predictor and its ResNet embedding.
Embeddings are biometric data: they are returned inside the library and stored only in the
workspace database; nothing here logs or prints them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from emo_safe.faces import geometry
from emo_safe.faces.detectors import (
    Candidate,
    CnnDetector,
    FaceDetector,
    HogDetector,
    RetinaFaceDetector,
)
from emo_safe.faces.eyes import eye_detail, five_points
from emo_safe.faces.models import RetinaDetection, dlib_models
from emo_safe.faces.types import Box, Face, FaceSearch

DETECT_MAX_SIDE = 1600  # HOG's copy in the fast pass
RETINAFACE_MAX_SIDE = 640  # RetinaFace's copy for large faces (~20 ms)
# RetinaFace finds faces from ~20 px: on the 640 px copy that is every face of at least 1/32 of
# the photo's long side (at most 40 px in a photo of up to 1280 px). A larger photo gets the
# whole-photo look as well.
WHOLE_PHOTO_FROM = 1280
# The largest photo the gate passes to a generator (a larger one is downscaled to this first).
SMALL_FACE_SIDE = 2048
# RetinaFace's whole-photo look for small faces sees the working copy itself (up to 2048 px):
# every face of about 20 px and more there, i.e. everything the generator will get.
WHOLE_PHOTO_SIDE = SMALL_FACE_SIDE
RETINAFACE_LARGE_SIDE = 1280  # the thorough search's larger look
# The thorough search's passes run on smaller copies, so that a photo without a face costs
# seconds, not minutes (dlib's CNN takes ~2 s at 480 px here).
FALLBACK_MAX_SIDE = 640
CNN_MAX_SIDE = 400
_ROTATIONS = (20.0, -20.0, 40.0, -40.0, 90.0, -90.0, 180.0)
# HOG looks at a RetinaFace face's crop where the face is ~120 px (it finds faces from 80 px).
_HOG_LOOK_PX = 120.0


class FaceAnalyzer:
    """The face layer's front: thread-safe, models loaded lazily, once per process."""

    def detect(self, image: np.ndarray, upsample: int = 1, embed: bool = True) -> list[Face]:
        """All faces the HOG detector (at ``upsample``) finds in an RGB image, largest first."""
        image = np.ascontiguousarray(image)
        return self.describe(image, HogDetector(upsample, DETECT_MAX_SIDE).find(image), embed)

    def find_faces(self, image: np.ndarray, thorough: bool = True) -> FaceSearch:
        image = np.ascontiguousarray(image)
        faces, method, tried = self._fast_pass(image)
        if faces or not thorough:
            return FaceSearch(faces, method, tuple(tried))
        for name, run in THOROUGH_PASSES:
            if name == "retinaface-large" and max(image.shape[:2]) <= RETINAFACE_MAX_SIDE:
                continue
            tried.append(name)
            faces = run(self, image)
            if faces:
                return FaceSearch(faces, name, tuple(tried))
        return FaceSearch([], "none", tuple(tried))

    # the fast pass ------------------------------------------------------------------------
    def _fast_pass(self, image: np.ndarray) -> tuple[list[Face], str, list[str]]:
        tried = ["hog", "retinaface"]
        hog = self.detect(image, upsample=0)
        retina = self._retina_everywhere(image)
        faces, method = self.merge(image, hog, retina)
        turn = _quarter_turn(retina) if retina and not hog else 0
        if turn:
            # Only RetinaFace saw faces, and they lie sideways or upside down: the photo is
            # turned. Look at it upright as well, where HOG sees every face; a turned group
            # photo must not pass as one face.
            method = f"upright{turn:+d}"
            tried.append(method)
            img, to_original = geometry.turned(*geometry.shrink(image, DETECT_MAX_SIDE),
                                               float(turn))
            upright, _ = self.merge(img, self.detect(img, upsample=0),
                                    self._retina_everywhere(img))
            if len(upright) >= len(faces):
                faces = [self.map_face(image, f, to_original) for f in upright]
        return faces, method, tried

    @staticmethod
    def _retina_everywhere(image: np.ndarray) -> list[RetinaDetection]:
        """RetinaFace for large faces (a 640 px copy) and, in a photo over WHOLE_PHOTO_FROM,
        small ones (up to WHOLE_PHOTO_SIDE), one detection per face. Both look at the photo with
        a border of its own edge pixels around it, so that a face cut by the edge, whose centre
        lies outside the photo, still has anchors to be found by (docs/faces.md); a smaller
        photo is also looked at without the border."""
        padded, pad = _with_border(image)
        grow = max(padded.shape[:2]) / max(image.shape[:2])
        # (copy, its offset, the longest side the photo itself gets in it)
        looks = [(padded, pad, RETINAFACE_MAX_SIDE)]
        if max(image.shape[:2]) > WHOLE_PHOTO_FROM:
            looks.append((padded, pad, WHOLE_PHOTO_SIDE))
        else:
            # The border shifts RetinaFace's anchors: a borderline face (a sideways one in
            # tests/faces/test_search.py) can drop under the threshold on the bordered copy and
            # not on the plain one. A photo this small costs ~20 ms more to look at both ways.
            looks.append((image, 0, RETINAFACE_MAX_SIDE))
        found: list[RetinaDetection] = []
        for copy, offset, side in looks:
            wanted = int(round(side * (grow if offset else 1.0)))
            for c in RetinaFaceDetector(wanted).find(copy):
                det = RetinaDetection(c.retina.score, c.retina.points - np.float32(offset))
                if not any(_same_face(det, d) for d in found):
                    found.append(det)
        return found

    # turning candidates into faces ----------------------------------------------------------
    def merge(self, image: np.ndarray, hog: list[Face],
              retina: list[RetinaDetection]) -> tuple[list[Face], str]:
        """HOG's faces, plus a face for each RetinaFace detection that no HOG face explains.
        A HOG face keeps its own landmarks and embedding (consent templates were made that
        way); it takes RetinaFace's eye points for the eye check when the two agree."""
        faces = list(hog)
        added = 0
        for det in retina:
            cx, cy, _, _ = det.dlib_square()
            same = [i for i, f in enumerate(faces[: len(hog)])
                    if abs(f.box.center[0] - cx) < f.box.width / 2
                    and abs(f.box.center[1] - cy) < f.box.height / 2]
            if same:
                faces[same[0]] = faces[same[0]].with_eye_detail(eye_detail(image, det.points))
                continue
            faces.append(self.describe_retina(image, det))
            added += 1
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        method = ("hog+retinaface" if hog and added else "retinaface" if added
                  else "hog" if hog else "none")
        return faces, method

    def describe_retina(self, image: np.ndarray, det: RetinaDetection) -> Face:
        """Describe a RetinaFace detection with dlib, in a crop around it turned so the face is
        upright; the result is in the image's coordinates.

        RetinaFace finds faces turned sideways or upside down, but its five points are not
        always right on them. So HOG, which sees only upright faces, is asked first: in the
        crop turned by RetinaFace's eye-line angle, then turned a half and quarter turn more.
        Where HOG confirms the face its box is used (the way consent templates were made);
        where it sees nothing in any turn (eyes covered), the box comes from the five points."""
        cx, cy, side, roll = det.dlib_square()
        look = min(1.0, _HOG_LOOK_PX / max(side, 1.0))
        for angle in (roll, roll + 180.0, roll + 90.0, roll - 90.0):
            crop, _ = geometry.upright_crop(image, cx, cy, side, angle, look)
            c = crop.shape[0] / 2
            near = [k for k in HogDetector(0 if side * look >= 80 else 1, 10**6).find(crop)
                    if abs((k.rect[0] + k.rect[2]) / 2 - c) < side * look / 2
                    and abs((k.rect[1] + k.rect[3]) / 2 - c) < side * look / 2]
            if not near:
                continue
            best = max(near, key=lambda k: k.score)
            full, to_image = geometry.upright_crop(image, cx, cy, side, angle, 1.0)
            rect = tuple(int(v / look) for v in best.rect)
            return self.map_face(image, self.describe(full, [Candidate(best.score, rect)])[0],
                                 to_image)
        full, to_image = geometry.upright_crop(image, cx, cy, side, roll, 1.0)
        c, half = full.shape[0] / 2, side / 2
        rect = (int(c - half), int(c - half), int(c + half), int(c + half))
        face = self.map_face(image, self.describe(full, [Candidate(det.score, rect)])[0],
                             to_image)
        return face.with_eye_detail(eye_detail(image, det.points))

    @staticmethod
    def map_face(original: np.ndarray, face: Face, to_original: np.ndarray) -> Face:
        """A face described in a transformed copy, with landmarks and box in the original's
        coordinates (the embedding and eye detail do not depend on where the face is)."""
        mapped = geometry.apply(face.landmarks, to_original)
        h, w = original.shape[:2]
        x0, y0 = np.clip(mapped.min(axis=0), 0, [w - 1, h - 1])
        x1, y1 = np.clip(mapped.max(axis=0), 0, [w - 1, h - 1])
        return Face(Box(int(x0), int(y0), int(x1), int(y1)), mapped.astype(np.float32),
                    face.embedding, face.score, face.eye_detail)

    def describe(self, image: np.ndarray, candidates: list[Candidate],
                 embed: bool = True) -> list[Face]:
        """dlib's 68 landmarks and (``embed``) embedding of each boxed candidate."""
        import dlib

        _, predictor, recognizer = dlib_models()
        faces = []
        for cand in candidates:
            rect = dlib.rectangle(*cand.rect)
            shape = predictor(image, rect)
            pts = np.array([(p.x, p.y) for p in shape.parts()], np.float32)
            emb = (np.array(recognizer.compute_face_descriptor(image, shape), np.float32)
                   if embed else np.zeros(128, np.float32))
            faces.append(Face(Box(*cand.rect), pts, emb, cand.score,
                              eye_detail(image, five_points(pts))))
        faces.sort(key=lambda f: f.box.width * f.box.height, reverse=True)
        return faces

    def describe_transformed(self, original: np.ndarray, img: np.ndarray,
                             candidates: list[Candidate], to_original: np.ndarray) -> list[Face]:
        """Embed each face in the (upright) copy it was found in; report landmarks and box in
        the original image's coordinates."""
        return [self.map_face(original, face, to_original)
                for face in self.describe(img, candidates)]

    def landmarks(self, image: np.ndarray, box: Box) -> np.ndarray:
        """68 landmarks inside a known face box (fast; used to re-measure generated frames)."""
        import dlib

        _, predictor, _ = dlib_models()
        shape = predictor(np.ascontiguousarray(image),
                          dlib.rectangle(box.left, box.top, box.right, box.bottom))
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32)


def _with_border(image: np.ndarray) -> tuple[np.ndarray, int]:
    """The image with a border of replicated edge pixels, 1/16 of its longest side wide."""
    import cv2

    pad = max(8, round(max(image.shape[:2]) / 16))
    return cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE), pad


def _same_face(a: RetinaDetection, b: RetinaDetection) -> bool:
    ax, ay, aside, _ = a.dlib_square()
    bx, by, bside, _ = b.dlib_square()
    return abs(ax - bx) < max(aside, bside) / 2 and abs(ay - by) < max(aside, bside) / 2


def _quarter_turn(detections: list[RetinaDetection]) -> int:
    """The quarter turn (0, 90, -90 or 180 degrees) that makes most of these faces upright."""
    turns = [int(round(d.dlib_square()[3] / 90.0)) * 90 for d in detections]
    turn = max(set(turns), key=turns.count)
    return 180 if turn == -180 else turn


# ------------------------------------------------------------------------ the thorough search
def _on_copy(detector: FaceDetector, max_side: int, transform: str = "none",
             angle: float = 0.0) -> Callable[[FaceAnalyzer, np.ndarray], list[Face]]:
    """A pass: ``detector`` on a copy of at most ``max_side`` px, mirrored or turned, its faces
    described there and mapped back to the photo."""

    def run(analyzer: FaceAnalyzer, image: np.ndarray) -> list[Face]:
        small, scale = geometry.shrink(image, max_side)
        if transform == "mirror":
            img, back = np.ascontiguousarray(small[:, ::-1]), geometry.mirror_map(
                small.shape[1], scale)
        elif transform == "turn":
            img, back = geometry.turned(small, scale, angle)
        else:
            img, back = small, geometry.scale_map(scale)
        return analyzer.describe_transformed(image, img, detector.find(img), back)

    return run


def _retina_on_copy(max_side: int, angle: float = 0.0):
    def run(analyzer: FaceAnalyzer, image: np.ndarray) -> list[Face]:
        if angle:
            img, back = geometry.turned(*geometry.shrink(image, FALLBACK_MAX_SIDE), angle)
        else:
            img, back = image, None
        found = analyzer.merge(img, [], [c.retina for c in
                                         RetinaFaceDetector(max_side).find(img)])[0]
        return [analyzer.map_face(image, f, back) for f in found] if angle else found

    return run


def _hog_on_image(upsample: int):
    def run(analyzer: FaceAnalyzer, image: np.ndarray) -> list[Face]:
        return analyzer.detect(image, upsample=upsample)

    return run


# (name, pass): the order is the order of cost; the first pass that finds a face wins.
THOROUGH_PASSES: tuple[tuple[str, Callable[[FaceAnalyzer, np.ndarray], list[Face]]], ...] = (
    ("hog-upsample1", _hog_on_image(1)),
    ("retinaface-large", _retina_on_copy(RETINAFACE_LARGE_SIDE)),
    *((f"retinaface-rotated{a:+.0f}", _retina_on_copy(RETINAFACE_MAX_SIDE, a))
      for a in (90.0, -90.0, 180.0)),
    ("hog-upsample2", _on_copy(HogDetector(2, 10**6), FALLBACK_MAX_SIDE)),
    ("mirrored", _on_copy(HogDetector(1, 10**6), FALLBACK_MAX_SIDE, "mirror")),
    *((f"rotated{a:+.0f}", _on_copy(HogDetector(1, 10**6), FALLBACK_MAX_SIDE, "turn", a))
      for a in _ROTATIONS),
    ("cnn", _on_copy(CnnDetector(CNN_MAX_SIDE), CNN_MAX_SIDE)),
)
