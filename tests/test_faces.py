"""The face layer's thorough search: faces hidden from the fast detector are still found, in
the original image's coordinates."""

import cv2
import numpy as np

from emo_safe.faces import FaceAnalyzer
from emo_safe.media import load_image


def test_a_sideways_face_is_found_and_mapped_back(data_dir):
    fa = FaceAnalyzer()
    img = load_image(data_dir / "obama.jpg")
    upright = fa.find_faces(img)
    assert upright.method == "hog" and len(upright.faces) == 1
    sideways = np.ascontiguousarray(np.rot90(img))  # counter-clockwise
    found = fa.find_faces(sideways)
    assert found.method.startswith("rotated") and len(found.faces) == 1
    assert found.faces[0].distance(upright.faces[0].embedding) < 0.2  # the same person
    # The nose tip in the sideways image is the upright nose tip rotated.
    x, y = upright.faces[0].landmarks[30]
    expected = np.array([y, img.shape[1] - 1 - x])
    assert np.linalg.norm(found.faces[0].landmarks[30] - expected) < 15
    assert fa.find_faces(sideways, thorough=False).faces == []


def test_a_small_face_is_found(data_dir):
    img = load_image(data_dir / "obama.jpg")
    small = cv2.resize(img, None, fx=0.1, fy=0.1, interpolation=cv2.INTER_AREA)
    canvas = np.full((480, 640, 3), 90, np.uint8)
    canvas[200 : 200 + small.shape[0], 300 : 300 + small.shape[1]] = small
    found = FaceAnalyzer().find_faces(canvas)
    assert len(found.faces) == 1
    assert 290 < found.faces[0].box.center[0] < 300 + small.shape[1]


def test_no_face_tries_every_pass():
    blank = np.full((300, 300, 3), 128, np.uint8)
    found = FaceAnalyzer().find_faces(blank)
    assert found.faces == [] and found.method == "none"
    assert found.tried[0] == "hog" and found.tried[-1] == "cnn"
    assert "mirrored" in found.tried and "hog-upsample2" in found.tried
