"""An example emo-safe generator: the face-centred portrait, slowly zooming, for the length of
the audio. Everything a real model adapter needs is here: a name and version, declared options,
and frames handed back as an iterator. emo-safe's pipeline gates the request before this runs
and watermarks, signs and records whatever it yields; a generator never writes files itself."""

from __future__ import annotations

import cv2

from emo_safe.generators import GeneratedVideo, GenerationInput, Option
from emo_safe.generators.base import face_crop, frame_count_for


class KenBurns:
    name = "kenburns"
    version = "1.0.0"
    # Settings it accepts (--generator-option zoom=1.3); emo-safe validates them.
    options = {"zoom": Option(float, "how far to zoom in by the end", minimum=1.0, maximum=2.0)}

    def generate(self, inp: GenerationInput) -> GeneratedVideo:
        zoom = float(inp.options.get("zoom", 1.15))
        size = inp.size
        base = face_crop(inp.image, inp.face.box, size)
        n = frame_count_for(inp.audio, inp.fps)

        def frames():
            for i in range(n):
                z = 1 + (zoom - 1) * i / max(1, n - 1)
                side = int(size / z)
                o = (size - side) // 2
                yield cv2.resize(base[o:o + side, o:o + side], (size, size),
                                 interpolation=cv2.INTER_CUBIC)

        return GeneratedVideo(frames=frames(), fps=inp.fps, audio=inp.audio, frame_count=n,
                              settings={"zoom": zoom, "size": size, "fps": inp.fps})
