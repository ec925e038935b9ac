"""A compact perceptual fingerprint of a video: one 64-bit DCT hash (pHash) per second.

Stored with every generation in the ledger (8 bytes a second, not biometric: a hash of the
whole frame's coarse luminance layout). The detector recomputes it on a suspicious video and
compares it with the fingerprint of the generation its watermark names: a watermark estimated
from one of our outputs and added to other footage (the copy attack) names a generation whose
frames look nothing like the video, and the verdict says so (``inconsistent``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

MATCH_BITS = 14  # a frame matches a stored second when at most this many of 64 bits differ
MATCH_SHARE = 0.5  # the video matches when at least this share of its sampled frames match
MAX_SECONDS = 3600


def frame_hash(frame: np.ndarray) -> int:
    grey = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA)
    low = cv2.dct(small)[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return int(np.packbits(bits).view(">u8")[0])


class FingerprintTap:
    """Passes frames through, hashing one per second (so it rides along the one decode)."""

    def __init__(self, fps: float) -> None:
        self.step = max(1, round(fps))
        self.hashes: list[int] = []

    def tap(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for i, frame in enumerate(frames):
            if i % self.step == 0 and len(self.hashes) < MAX_SECONDS:
                self.hashes.append(frame_hash(frame))
            yield frame

    def to_hex(self) -> list[str]:
        return [f"{h:016x}" for h in self.hashes]


def similarity(candidate: list[int], stored: list[int]) -> float:
    """Share of the candidate's sampled frames that match some stored second."""
    if not candidate or not stored:
        return 0.0
    ref = np.array(stored, dtype=np.uint64)
    matched = 0
    for h in candidate:
        x = np.bitwise_xor(ref, np.uint64(h))
        dist = np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)
        matched += int(dist.min() <= MATCH_BITS)
    return matched / len(candidate)


def parse_hex(values: list[str]) -> list[int]:
    return [int(v, 16) for v in values]
