"""A compact perceptual fingerprint of a video: per sampled second, two independent 64-bit
perceptual hashes.

- ``phash``: the DCT hash of the frame's coarse luminance layout (8x8 lowest DCT coefficients
  of a 32x32 copy, signs against their median).
- ``ehash``: the same hash of the frame's *edge* map (gradient magnitude). It answers a
  different question: where the structure is, not where the light is. A smooth, low-frequency
  luminance change can be tuned to move ``phash`` onto any target (every one of its bits is a
  low-frequency coefficient), but it adds almost no gradient, so it leaves ``ehash`` where the
  footage's own edges put it; matching both means matching the picture itself.

Stored with every generation in the ledger (16 bytes a second, not biometric: coarse hashes
of the whole frame). The detector recomputes both on a suspicious video and compares them
with the fingerprint of the generation its watermark names: a watermark estimated from one of
our outputs and added to other footage (the copy attack) names a generation whose frames do
not look like the video, and the verdict says so (``inconsistent``). Generations recorded by
emo-safe 0.1 have only the ``phash`` list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

MATCH_BITS = 14  # a frame's phash matches a stored second when at most this many bits differ
EDGE_MATCH_BITS = 14  # the same for ehash (docs/benchmarks.md: copy-attack and attack suite)
MATCH_SHARE = 0.5  # the video matches when at least this share of its sampled frames match
MAX_SECONDS = 3600


def _dct_hash(grey32: np.ndarray) -> int:
    low = cv2.dct(grey32.astype(np.float32))[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return int(np.packbits(bits).view(">u8")[0])


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)


def frame_hash(frame: np.ndarray) -> int:
    """The luminance-layout hash (pHash)."""
    return _dct_hash(cv2.resize(_grey(frame), (32, 32), interpolation=cv2.INTER_AREA))


def edge_hash(frame: np.ndarray) -> int:
    """The edge-layout hash: pHash of the gradient magnitude of a 128x128 copy."""
    return _edge_hash_small(cv2.resize(_grey(frame), (128, 128), interpolation=cv2.INTER_AREA))


def _edge_hash_small(small: np.ndarray) -> int:
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy)
    return _dct_hash(cv2.resize(magnitude, (32, 32), interpolation=cv2.INTER_AREA))


@dataclass(frozen=True)
class Fingerprint:
    """Per sampled second: ``phash`` and (from emo-safe 0.2) ``ehash``."""

    phash: tuple[int, ...]
    ehash: tuple[int, ...] | None = None

    def to_json(self):
        if self.ehash is None:
            return [f"{h:016x}" for h in self.phash]
        return {"v": 2, "phash": [f"{h:016x}" for h in self.phash],
                "ehash": [f"{h:016x}" for h in self.ehash]}

    @classmethod
    def from_json(cls, value) -> Fingerprint:
        if isinstance(value, list):  # emo-safe 0.1: a list of pHashes
            return cls(tuple(int(v, 16) for v in value))
        return cls(tuple(int(v, 16) for v in value.get("phash", [])),
                   tuple(int(v, 16) for v in value.get("ehash", [])))

    @property
    def seconds(self) -> int:
        return len(self.phash)


def orient(img: np.ndarray, quarter_turns: int, mirror: bool) -> np.ndarray:
    """``np.rot90`` by ``quarter_turns``, then a horizontal mirror: what undoes a watermark
    geometry of ``rotation = 90 * quarter_turns`` degrees and ``flip = mirror``."""
    out = np.rot90(img, quarter_turns % 4)
    return np.ascontiguousarray(out[:, ::-1] if mirror else out)


class FingerprintTap:
    """Passes frames through, hashing one per second (so it rides along the one decode). It
    keeps a 128 x 128 grey copy of each sampled frame (16 KB a second) so that the hashes can
    be taken again with a mirror or a right-angle turn undone, once the watermark has said
    which one the video carries."""

    def __init__(self, fps: float) -> None:
        self.step = max(1, round(fps))
        self._phash: list[int] = []
        self._ehash: list[int] = []
        self._small: list[np.ndarray] = []

    def tap(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for i, frame in enumerate(frames):
            self.add(frame, i)
            yield frame

    def add(self, frame: np.ndarray, index: int) -> None:
        if index % self.step == 0 and len(self._phash) < MAX_SECONDS:
            grey = _grey(frame)
            self._phash.append(_dct_hash(cv2.resize(grey, (32, 32),
                                                    interpolation=cv2.INTER_AREA)))
            small = cv2.resize(grey, (128, 128), interpolation=cv2.INTER_AREA)
            self._ehash.append(_edge_hash_small(small))
            self._small.append(small.astype(np.uint8))

    @property
    def hashes(self) -> list[int]:
        return list(self._phash)

    def fingerprint(self, quarter_turns: int = 0, mirror: bool = False) -> Fingerprint:
        """The hashes of the frames as they are, or with :func:`orient` applied first."""
        if not quarter_turns % 4 and not mirror:
            return Fingerprint(tuple(self._phash), tuple(self._ehash))
        smalls = [orient(s.astype(np.float32), quarter_turns, mirror) for s in self._small]
        return Fingerprint(
            tuple(_dct_hash(cv2.resize(s, (32, 32), interpolation=cv2.INTER_AREA))
                  for s in smalls),
            tuple(_edge_hash_small(s) for s in smalls))


def _distances(ref: np.ndarray, h: int) -> np.ndarray:
    x = np.bitwise_xor(ref, np.uint64(h))
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def similarity(candidate: Fingerprint, stored: Fingerprint) -> float:
    """Share of the candidate's sampled frames that match some stored second. With edge
    hashes on both sides, a frame matches a second only when *both* its hashes are close to
    that same second's."""
    if not candidate.phash or not stored.phash:
        return 0.0
    p_ref = np.array(stored.phash, dtype=np.uint64)
    use_edges = bool(stored.ehash) and bool(candidate.ehash)
    e_ref = np.array(stored.ehash, dtype=np.uint64) if use_edges else None
    matched = 0
    for i, h in enumerate(candidate.phash):
        ok = _distances(p_ref, h) <= MATCH_BITS
        if use_edges:
            ok &= _distances(e_ref, candidate.ehash[i]) <= EDGE_MATCH_BITS
        matched += int(ok.any())
    return matched / len(candidate.phash)
