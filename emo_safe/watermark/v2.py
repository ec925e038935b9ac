"""Scheme ``org.emo-safe.wm.v2``: the tiled luma mark with a geometric search (see
:mod:`._codec_v2` for how): flips, right-angle and small rotations, scale 0.4-2.5 (crops that
are not resized back, picture-in-picture), aspect changes and padding are undone before the
payload is read. What new generations carry; v1 outputs keep verifying through
:mod:`.v1`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from emo_safe.watermark import _codec, _codec_v2
from emo_safe.watermark.scheme import (
    DEFAULT_MAX_P_VALUE,
    KeyedScheme,
    WatermarkEvidence,
    check_payload,
)


class VideoMarkV2(KeyedScheme):
    scheme_id = _codec_v2.SCHEME
    medium = "video"
    payload_bytes = _codec_v2.PAYLOAD_BYTES

    def __init__(self, key: bytes, geometric_search: bool = True) -> None:
        super().__init__(key)
        self._search = geometric_search

    @staticmethod
    def public_key_id(key: bytes) -> str:
        return _codec_v2.key_material(key).key_id

    def embed(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]:
        embedder = _codec_v2.Embedder(self._key, check_payload(payload, self.payload_bytes))
        for frame in frames:
            yield embedder.embed(frame)

    def accumulator(self, fps: float) -> _Accumulator:
        return _Accumulator(self, fps)


class _Accumulator:
    def __init__(self, scheme: VideoMarkV2, fps: float) -> None:
        self._scheme = scheme
        self._acc = _codec.Accumulator(fps)  # the same normalised sums as v1

    def add(self, frame: np.ndarray) -> None:
        self._acc.add(frame)

    def finish(self, max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence:
        self._acc.finish()
        d = _codec_v2.detect(self._acc, self._scheme._key, search=self._scheme._search)
        geometry = d.warp.describe() if d.warp is not None else None
        return WatermarkEvidence(
            detected=d.p_value <= max_p_value,
            p_value=d.p_value,
            payload=d.payload.hex() if d.payload is not None else None,
            frames=d.frames,
            scheme=self._scheme.scheme_id,
            threshold=max_p_value,
            z=d.z,
            # as v1 reports it: the resize that undid the zoom
            scale=round(1 / geometry["zoom"], 4) if geometry else None,
            segment_z=tuple(d.segment_z),
            key_id=self._scheme.key_id,
            geometry=geometry,
        )
