"""``still``: the face-centred portrait held for the length of the audio. The fast baseline."""

from __future__ import annotations

from emo_safe._version import __version__
from emo_safe.generators.base import GeneratedVideo, GenerationInput, face_crop, frame_count_for


class StillGenerator:
    name = "still"
    version = __version__

    def generate(self, inp: GenerationInput) -> GeneratedVideo:
        frame = face_crop(inp.image, inp.face.box, inp.size)
        frame.setflags(write=False)
        n = frame_count_for(inp.audio, inp.fps)
        return GeneratedVideo(
            frames=(frame for _ in range(n)),
            fps=inp.fps,
            audio=inp.audio,
            frame_count=n,
            settings={"fps": inp.fps, "size": inp.size, "seed": inp.seed},
        )
