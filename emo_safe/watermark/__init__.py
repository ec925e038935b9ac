"""Invisible video watermark: embed and detect on frame streams, keyed by the workspace key.

The public surface is deliberately small: :func:`embed_frames`, :func:`detect_frames`, the file
helpers :func:`embed_file` / :func:`detect_file`, the :class:`WatermarkEvidence` result, and the
pipeline's :class:`WorkspaceMarker`. Pattern generation and the decoder live in ``_codec`` and
``_ecc`` and are not part of the API.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emo_safe.errors import InputError
from emo_safe.watermark import _codec

SCHEME = _codec.SCHEME
PAYLOAD_BYTES = _codec.PAYLOAD_BYTES
FALSE_POSITIVE_RATE = _codec.P_THRESHOLD


@dataclass
class WatermarkEvidence:
    """What the detector found. ``p_value`` is the probability of evidence at least this strong
    in a video that does not carry this key's mark; ``detected`` means p <= 1e-6."""

    detected: bool
    p_value: float
    payload: str | None  # hex, only when it decoded and passed its checks
    frames: int
    z: float = 0.0
    scale: float | None = None
    segment_z: list[float] = field(default_factory=list)
    scheme: str = SCHEME

    def to_dict(self) -> dict:
        return {
            "detected": self.detected,
            "p_value": self.p_value,
            "payload": self.payload,
            "frames": self.frames,
            "z": round(self.z, 3),
            "scale": self.scale,
            "segment_z": [round(z, 2) for z in self.segment_z],
            "scheme": self.scheme,
            "threshold": FALSE_POSITIVE_RATE,
        }


def key_id(key: bytes) -> str:
    """A public identifier of a watermark key (a hash), for manifests and detector profiles."""
    return _codec.key_material(key).key_id


def _check_payload(payload: bytes) -> bytes:
    if not isinstance(payload, bytes | bytearray) or len(payload) != PAYLOAD_BYTES:
        raise InputError(f"the watermark payload must be {PAYLOAD_BYTES} bytes "
                         f"({PAYLOAD_BYTES * 2} hex digits)")
    return bytes(payload)


def embed_frames(frames: Iterable[np.ndarray], key: bytes,
                 payload: bytes) -> Iterator[np.ndarray]:
    """Mark a stream of RGB uint8 frames (any size); yields marked frames one at a time."""
    embedder = _codec.Embedder(key, _check_payload(payload))
    for frame in frames:
        yield embedder.embed(frame)


def detect_frames(frames: Iterable[np.ndarray], key: bytes, fps: float = 25.0) -> WatermarkEvidence:
    """Aggregate evidence over a stream of RGB frames; memory stays constant in its length."""
    acc = _codec.Accumulator(fps)
    for frame in frames:
        acc.add(frame)
    acc.finish()
    d = _codec.detect(acc, key)
    return WatermarkEvidence(
        detected=d.detected,
        p_value=d.p_value,
        payload=d.payload.hex() if d.payload is not None else None,
        frames=d.frames,
        z=d.z,
        scale=d.scale,
        segment_z=d.segment_z,
    )


def detect_file(path: str | os.PathLike, key: bytes,
                max_frames: int | None = None) -> WatermarkEvidence:
    from emo_safe import media

    info = media.probe(path)
    return detect_frames(media.iter_frames(path, max_frames=max_frames), key, info.fps)


def embed_file(src: str | os.PathLike, dest: str | os.PathLike, key: bytes, payload: bytes,
               crf: int = 18) -> int:
    """Re-encode ``src`` with the mark (audio kept). Writes a temp file, then renames."""
    from emo_safe import media

    src, dest = Path(src), Path(dest)
    payload = _check_payload(payload)
    info = media.probe(src)
    audio = media.read_audio_track(src) if info.has_audio else None
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        n = media.write_mp4(tmp, embed_frames(media.iter_frames(src), key, payload), info.fps,
                            audio, crf=crf)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return n


class WorkspaceMarker:
    """The pipeline's mark stage: the workspace key, the generation id as payload."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = key_id(key)

    def __repr__(self) -> str:
        return f"WorkspaceMarker(key_id={self.key_id!r})"

    def mark(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]:
        return embed_frames(frames, self._key, payload)

    def describe(self, payload: bytes) -> dict:
        return {"scheme": SCHEME, "payload": payload.hex(), "key_id": self.key_id}
