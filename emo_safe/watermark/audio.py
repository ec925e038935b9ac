"""Scheme ``org.emo-safe.wm.audio.v1``: the keyed audio mark (see :mod:`._audio` for how).

It marks a mono track (the pipeline's audio, before muxing) and reads evidence from any audio:
a video's track, or an audio file of its own (WAV, MP3, M4A, OGG/Opus, FLAC). Its key is
derived from the workspace key with its own label, so its patterns are unrelated to the video
mark's; its ``key_id`` is a public hash like the video mark's.
"""

from __future__ import annotations

import numpy as np

from emo_safe.media import Audio, resample
from emo_safe.watermark import _audio
from emo_safe.watermark.scheme import (
    DEFAULT_MAX_P_VALUE,
    KeyedScheme,
    WatermarkEvidence,
    check_payload,
)


class AudioMarkV1(KeyedScheme):
    scheme_id = _audio.SCHEME
    medium = "audio"
    payload_bytes = _audio.PAYLOAD_BYTES
    # The shortest audio the payload is measured to come back from under every attack of
    # the benchmark (its 3-s excerpt; a cycle of the layout is 3.07 s): each bit's cells are
    # spread over the cycle, so a shorter clip holds fewer of them and may carry too little.
    min_reliable_seconds = 3.0

    @staticmethod
    def public_key_id(key: bytes) -> str:
        return _audio.layout(key).key_id

    def embed(self, audio: Audio, payload: bytes) -> Audio:
        """The same audio with the mark added (same rate and length; clipped to [-1, 1])."""
        payload = check_payload(payload, self.payload_bytes)
        samples = np.asarray(audio.samples, np.float32)
        if samples.size == 0:
            return audio
        x16 = resample(samples, audio.rate, _audio.RATE)
        mark = resample(_audio.mark_signal(x16, self._key, payload).astype(np.float32),
                        _audio.RATE, audio.rate)
        mark = np.pad(mark[: samples.size], (0, max(0, samples.size - mark.size)))
        return Audio(np.clip(samples + mark, -1.0, 1.0).astype(np.float32), audio.rate)

    def detect(self, audio: Audio, max_p_value: float = DEFAULT_MAX_P_VALUE,
               time_scale_search: bool = True) -> WatermarkEvidence:
        """``time_scale_search``: also undo speed changes (pitch too) and tempo changes
        (pitch kept) of 0.90-1.10x in 0.1 % steps, 401 times the hypotheses counted in the
        p-value. Coarse to fine: skipped when the plain reading decodes; otherwise the
        hypotheses are scored cheaply and the best three are read exactly (see
        :mod:`._audio`). ``scale`` reports the factor found (1.0: none)."""
        y16 = resample(np.asarray(audio.samples, np.float32), audio.rate, _audio.RATE)
        d = _audio.detect(y16, self._key, _audio.TIME_SCALES if time_scale_search else ())
        return WatermarkEvidence(
            detected=d.p_value <= max_p_value,
            p_value=d.p_value,
            payload=d.payload.hex() if d.payload is not None else None,
            frames=0,
            scheme=self.scheme_id,
            threshold=max_p_value,
            z=d.z,
            scale=d.time_scale[1],
            key_id=self.key_id,
            medium="audio",
            seconds=round(d.seconds, 3),
        )
