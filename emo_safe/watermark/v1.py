"""Scheme ``org.emo-safe.wm.v1``: the keyed luma mark of emo-safe 0.1 (``_codec``), behind
the scheme interface. Frozen: outputs made with it keep verifying."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from emo_safe.errors import InputError
from emo_safe.watermark import _codec
from emo_safe.watermark.scheme import DEFAULT_MAX_P_VALUE, WatermarkEvidence


class VideoMarkV1:
    scheme_id = _codec.SCHEME
    medium = "video"
    payload_bytes = _codec.PAYLOAD_BYTES

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = _codec.key_material(key).key_id

    def __repr__(self) -> str:
        return f"VideoMarkV1(key_id={self.key_id!r})"

    def embed(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]:
        if not isinstance(payload, bytes | bytearray) or len(payload) != self.payload_bytes:
            raise InputError(f"the watermark payload must be {self.payload_bytes} bytes "
                             f"({self.payload_bytes * 2} hex digits)")
        embedder = _codec.Embedder(self._key, bytes(payload))
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
