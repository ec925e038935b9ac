"""Scheme ``org.emo-safe.wm.v2``: the tiled luma mark with a geometric search (see
:mod:`._codec_v2` for how): flips, right-angle and small rotations, zooms of 0.4-2.5 (crops
that are not resized back, picture-in-picture, pads to another aspect) and stretches are undone
before the payload is read. What new generations carry; v1 outputs keep verifying through
:mod:`.v1`.
"""

from __future__ import annotations

from emo_safe.watermark import _codec, _codec_v2
from emo_safe.watermark.scheme import WatermarkEvidence
from emo_safe.watermark.v1 import TiledLumaScheme


class VideoMarkV2(TiledLumaScheme):
    scheme_id = _codec_v2.SCHEME
    sums = _codec_v2.SUMS

    def __init__(self, key: bytes, geometric_search: bool = True) -> None:
        super().__init__(key)
        self._search = geometric_search

    @staticmethod
    def public_key_id(key: bytes) -> str:
        return _codec_v2.key_material(key).key_id

    def _embedder(self, payload: bytes) -> _codec_v2.Embedder:
        return _codec_v2.Embedder(self._key, payload)

    def _detect(self, acc: _codec.Accumulator, max_p_value: float,
                state: _codec_v2.Search | None = None) -> WatermarkEvidence:
        search = state if state is not None else _codec_v2.Search(acc, self._key)
        return self._report(search.run(self._search), max_p_value)

    def _detect_quick(self, acc: _codec.Accumulator, max_p_value: float
                      ) -> tuple[WatermarkEvidence, bool, _codec_v2.Search]:
        """The plain warps only (the frame as it is, mirrored, turned, v1's zooms); final
        when the full search would stop there too. The search is handed back, so the full
        reading does not read the plain warps again."""
        search = _codec_v2.Search(acc, self._key)
        if not self._search:
            return self._report(search.run(search=False), max_p_value), True, search
        d = search.quick()
        return self._report(d, max_p_value), _codec_v2.stops_early(d), search

    def _report(self, d: _codec_v2.Detection, max_p_value: float) -> WatermarkEvidence:
        if d.scale is not None:  # as v1 reports it: the resize that undid the zoom
            d.scale = round(d.scale, 4)
        geometry = d.warp.describe() if d.warp is not None else None
        if geometry is not None and d.first_frame:
            geometry["first_frame"] = True
        if geometry is not None and d.fine:
            geometry["fine_domain"] = True
        if geometry is not None and d.keystone_shift is not None:
            geometry["keystone"] = round(d.keystone_shift, 3)
        return self._evidence(d, max_p_value, geometry=geometry)
