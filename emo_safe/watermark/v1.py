"""Scheme ``org.emo-safe.wm.v1``: the keyed luma mark of emo-safe 0.1 (``_codec``), behind
the scheme interface. Frozen: outputs made with it keep verifying."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from emo_safe.watermark import _codec
from emo_safe.watermark.scheme import (
    DEFAULT_MAX_P_VALUE,
    KeyedScheme,
    WatermarkEvidence,
    check_payload,
)


class VideoMarkV1(KeyedScheme):
    scheme_id = _codec.SCHEME
    medium = "video"
    payload_bytes = _codec.PAYLOAD_BYTES

    @staticmethod
    def public_key_id(key: bytes) -> str:
        return _codec.key_material(key).key_id

    def embed(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]:
        embedder = _codec.Embedder(self._key, check_payload(payload, self.payload_bytes))
        for frame in frames:
            yield embedder.embed(frame)

    def accumulator(self, fps: float) -> _Accumulator:
        return _Accumulator(self, fps)


class _Accumulator:
    def __init__(self, scheme: VideoMarkV1, fps: float) -> None:
        self._scheme = scheme
        self._acc = _codec.Accumulator(fps)

    def add(self, frame: np.ndarray) -> None:
        self._acc.add(frame)

    def finish(self, max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence:
        self._acc.finish()
        d = _codec.detect(self._acc, self._scheme._key)
        return WatermarkEvidence(
            detected=d.p_value <= max_p_value,
            p_value=d.p_value,
            payload=d.payload.hex() if d.payload is not None else None,
            frames=d.frames,
            scheme=self._scheme.scheme_id,
            threshold=max_p_value,
            z=d.z,
            scale=d.scale,
            segment_z=tuple(d.segment_z),
            key_id=self._scheme.key_id,
        )
