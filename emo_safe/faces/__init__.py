"""Face detection, 68 landmarks and 128-d embeddings behind one small interface.

- :mod:`.types`: :class:`Box`, :class:`Face`, :class:`FaceSearch`;
- :mod:`.detectors`: the detector protocol and HOG, RetinaFace and CNN behind it;
- :mod:`.search`: :class:`FaceAnalyzer` — the fast pass and the thorough search (a table of
  passes), and how candidates become described faces;
- :mod:`.geometry`, :mod:`.eyes` (the eye check), :mod:`.models` (loading, hash checks).

docs/faces.md has the measurements behind each choice.
"""

from emo_safe.faces.search import SMALL_FACE_SIDE, FaceAnalyzer
from emo_safe.faces.types import EYE_DETAIL_MIN, Box, Face, FaceSearch

# Euclidean distance between dlib embeddings under which two faces are taken to be the same
# person. dlib's own operating point is 0.6 (99.38% on LFW); consent matching is stricter because
# a false accept animates someone who did not agree.
SAME_PERSON_DISTANCE = 0.5

__all__ = ["EYE_DETAIL_MIN", "SAME_PERSON_DISTANCE", "SMALL_FACE_SIDE", "Box", "Face",
           "FaceAnalyzer", "FaceSearch"]
