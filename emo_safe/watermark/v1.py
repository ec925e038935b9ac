"""Scheme ``org.emo-safe.wm.v1``: the keyed luma mark of emo-safe 0.1 (``_codec``), behind
the scheme interface. Frozen: outputs made with it keep verifying. :class:`TiledLumaScheme` is
what v1 and v2 share: an embedder per payload, evidence summed over normalised luma frames."""

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


class TiledLumaScheme(KeyedScheme):
    """A video scheme whose mark is a tile added to the luma: subclasses give the embedder
    (``_embedder``) and the search over the summed frames (``_detect``)."""

    medium = "video"
    payload_bytes = _codec.PAYLOAD_BYTES
    sums: dict = {_codec.LUMA: None}  # what detection sums per frame (kind -> transform)

    def _embedder(self, payload: bytes):
        raise NotImplementedError

    def _detect(self, acc: _codec.Accumulator, max_p_value: float,
                state=None) -> WatermarkEvidence:
        """The whole search (``state``: what :meth:`_detect_quick` handed back)."""
        raise NotImplementedError

    def _detect_quick(self, acc: _codec.Accumulator, max_p_value: float
                      ) -> tuple[WatermarkEvidence, bool, object]:
        """(the cheap reading, whether it is final, state for :meth:`_detect`)."""
        raise NotImplementedError

    def embed(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]:
        embedder = self._embedder(check_payload(payload, self.payload_bytes))
        for frame in frames:
            yield embedder.embed(frame)

    def accumulator(self, fps: float) -> _Accumulator:
        return _Accumulator(self, fps)

    def _evidence(self, d: _codec.Detection, max_p_value: float, **extra) -> WatermarkEvidence:
        return WatermarkEvidence(
            detected=d.p_value <= max_p_value,
            p_value=d.p_value,
            payload=d.payload.hex() if d.payload is not None else None,
            frames=d.frames,
            scheme=self.scheme_id,
            threshold=max_p_value,
            z=d.z,
            scale=d.scale,
            segment_z=tuple(d.segment_z),
            key_id=self.key_id,
            **extra,
        )


class _Accumulator:
    def __init__(self, scheme: TiledLumaScheme, fps: float) -> None:
        self._scheme = scheme
        self._acc = _codec.Accumulator(fps, scheme.sums)
        self._owner = True
        self._state = None  # what the quick reading leaves for the full one
        self.share_key = ("normalised luma", fps)

    def share(self, other: _Accumulator) -> None:
        """Read ``other``'s sums, and have it gather this scheme's too, instead of
        normalising every frame again (``other`` adds)."""
        for kind, transform in self._scheme.sums.items():
            other._acc.want(kind, transform)
        self._acc, self._owner = other._acc, False

    def add(self, frame: np.ndarray) -> None:
        if self._owner:
            self._acc.add(frame)

    def finish(self, max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence:
        self._acc.finish()
        return self._scheme._detect(self._acc, max_p_value, self._state)

    def quick_finish(self, max_p_value: float = DEFAULT_MAX_P_VALUE
                     ) -> tuple[WatermarkEvidence, bool]:
        self._acc.finish()
        evidence, final, self._state = self._scheme._detect_quick(self._acc, max_p_value)
        return evidence, final

    def peek(self, max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence:
        """The quick reading of the frames added so far, leaving the sums to go on (nothing
        is flushed, nothing kept: the reading is of the whole-clip sum, which every frame
        updates)."""
        evidence, _final, _search = self._scheme._detect_quick(self._acc, max_p_value)
        return evidence


class VideoMarkV1(TiledLumaScheme):
    scheme_id = _codec.SCHEME

    @staticmethod
    def public_key_id(key: bytes) -> str:
        return _codec.key_material(key).key_id

    def _embedder(self, payload: bytes) -> _codec.Embedder:
        return _codec.Embedder(self._key, payload)

    def _detect(self, acc: _codec.Accumulator, max_p_value: float,
                state=None) -> WatermarkEvidence:
        return self._evidence(_codec.detect(acc, self._key), max_p_value)

    def _detect_quick(self, acc: _codec.Accumulator, max_p_value: float
                      ) -> tuple[WatermarkEvidence, bool, None]:
        """The frame at its own scale (v1's outputs as made and re-encoded); final when it
        decodes at p <= 1e-9, else the scale search follows."""
        d = _codec.detect(acc, self._key, scales=(1.0,))
        final = d.payload is not None and d.p_value <= _codec.EARLY_P
        return self._evidence(d, max_p_value), final, None
