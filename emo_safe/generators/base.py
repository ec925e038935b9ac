"""The generator protocol (public API: keep it compatible) and helpers for implementations.

A generator has a ``name``, a ``version`` and ``generate(GenerationInput) -> GeneratedVideo``;
optionally ``options`` (name -> :class:`~emo_safe.generators.options.Option`) for the settings
it takes. Generators are found by name or adapter prefix in the registry
(``generators/registry.py``: entry points, the built-ins included) and hand their frames only
to the pipeline (:class:`emo_safe.pipeline.SafeGenerator`), which gates, marks, signs and
records them; nothing in the public API returns unmarked frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from emo_safe.faces import Box, Face
from emo_safe.media import Audio


@dataclass(frozen=True)
class GenerationInput:
    image: np.ndarray  # RGB uint8 portrait
    face: Face  # the one gated face
    audio: Audio
    seed: int = 0
    fps: float = 25.0
    size: int = 512  # side of the square, face-centred output
    # Model settings some generators take (steps, guidance); recorded with the generation.
    options: dict = field(default_factory=dict)


@dataclass
class GeneratedVideo:
    frames: Iterator[np.ndarray]  # RGB uint8, all the same size
    fps: float
    audio: Audio  # what to mux with the frames
    frame_count: int
    settings: dict = field(default_factory=dict)  # recorded in the ledger and the manifest


@runtime_checkable
class Generator(Protocol):
    name: str
    version: str

    def generate(self, inp: GenerationInput) -> GeneratedVideo: ...


def frame_count_for(audio: Audio, fps: float) -> int:
    return max(1, math.ceil(audio.duration * fps - 1e-9))


def face_crop_box(image_shape: tuple[int, ...], box: Box,
                  factor: float = 2.6) -> tuple[int, int, int]:
    """A square (x0, y0, side) around the face, ``factor`` face widths wide, inside the image."""
    h, w = image_shape[:2]
    side = int(min(max(box.width, box.height) * factor, h, w))
    cx, cy = box.center
    cy -= 0.1 * box.height  # leave room for hair, less for the neck
    x0 = int(round(min(max(cx - side / 2, 0), w - side)))
    y0 = int(round(min(max(cy - side / 2, 0), h - side)))
    return x0, y0, side


def face_crop(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    x0, y0, side = face_crop_box(image.shape, box)
    crop = image[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)
