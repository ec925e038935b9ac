"""``diffusers:`` adapter (extra ``diffusers``): a diffusers pipeline behind the gate, the mark,
the manifest and the ledger, without changes to its code.

``diffusers:/path/to/pipeline`` loads a ``DiffusionPipeline`` saved with ``save_pretrained``
(local files only: nothing is downloaded). ``diffusers:package.module:factory`` calls
``factory()``, which returns either a pipeline or a plain callable producing frames.

EMO-style pipelines (Hallo, EchoMimic, V-Express, AniPortrait...) name their inputs
differently, so the adapter reads the call signature and passes what the pipeline accepts:
``image`` / ``ref_image`` (the gated face-centred portrait, PIL), ``audio`` (mono float32
samples) and ``sample_rate``, ``audio_path`` (a WAV in a private temporary directory),
``num_frames`` / ``video_length``, ``fps``, ``height`` / ``width``, ``num_inference_steps``,
``guidance_scale``, a seeded ``torch.Generator`` and ``output_type="np"``. A pipeline that takes
no frame count (an image pipeline) is called in batches (``batch_size``) until the audio is
covered. Frames are streamed to the pipeline batch by batch; nothing else sees them.
"""

from __future__ import annotations

import importlib
import inspect
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from emo_safe._version import __version__
from emo_safe.errors import GeneratorError, InputError
from emo_safe.generators.base import GeneratedVideo, GenerationInput, face_crop, frame_count_for
from emo_safe.generators.options import Option

BATCH = 8


def _import_diffusers():
    try:
        import diffusers  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise InputError("the diffusers: generator needs the `diffusers` extra: "
                         "pip install torch==2.13.0 && pip install 'emo-safe[diffusers]'") from None


def _load(source: str):
    _import_diffusers()
    path = Path(source).expanduser()
    if path.is_dir():
        from diffusers import DiffusionPipeline

        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download at run time
        try:
            return DiffusionPipeline.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:  # diffusers raises many kinds for a bad folder
            raise InputError(f"cannot load a diffusers pipeline from {path}: "
                             f"{type(exc).__name__}: {exc}") from None
    module, sep, attr = source.partition(":")
    if not sep or not module or not attr:
        raise InputError(f"diffusers:{source}: give a pipeline folder or module:callable")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"diffusers:{source}: {exc}") from None
    return factory()


def _to_frames(output) -> list[np.ndarray]:
    """Frames as RGB uint8 arrays from whatever a pipeline returns."""
    for attr in ("frames", "images", "videos"):
        if hasattr(output, attr):
            output = getattr(output, attr)
            break
    if isinstance(output, tuple):
        output = output[0]
    if hasattr(output, "detach"):  # a torch tensor: (B, C, H, W) or (B, F, C, H, W)
        output = output.detach().cpu().float().numpy()
        output = np.moveaxis(output, -3, -1)
    if isinstance(output, list) and output and hasattr(output[0], "convert"):  # PIL images
        output = [np.asarray(im.convert("RGB")) for im in output]
    arr = np.asarray(output)
    if arr.ndim == 5:  # (B, F, H, W, C): one video per batch item
        arr = arr.reshape(-1, *arr.shape[2:])
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4):
        raise GeneratorError(f"the diffusers pipeline returned frames of shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(np.rint(arr.astype(np.float32) * 255), 0, 255).astype(np.uint8)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return [np.ascontiguousarray(f[..., :3]) for f in arr]


class DiffusersGenerator:
    version = __version__
    options = {"steps": Option(int, "inference steps", minimum=1, maximum=1000),
               "guidance": Option(float, "guidance scale", minimum=0, maximum=100)}

    def __init__(self, source: str) -> None:
        self.source = source
        self.pipeline = _load(source)
        if hasattr(self.pipeline, "set_progress_bar_config"):
            self.pipeline.set_progress_bar_config(disable=True)  # the CLI draws its own
        self.name = f"diffusers:{type(self.pipeline).__name__}"

    def generate(self, inp: GenerationInput) -> GeneratedVideo:
        n = frame_count_for(inp.audio, inp.fps)
        steps = inp.options.get("steps")
        guidance = inp.options.get("guidance")
        settings = {"source": self.source, "pipeline": type(self.pipeline).__name__,
                    "seed": inp.seed, "fps": inp.fps, "size": inp.size, "steps": steps,
                    "guidance": guidance}
        return GeneratedVideo(frames=self._frames(inp, n, steps, guidance), fps=inp.fps,
                              audio=inp.audio, frame_count=n, settings=settings)

    def _frames(self, inp: GenerationInput, n: int, steps, guidance) -> Iterator[np.ndarray]:
        import torch
        from PIL import Image

        call = self.pipeline
        try:
            params = set(inspect.signature(call).parameters)
        except (TypeError, ValueError):
            params = set()
        portrait = face_crop(inp.image, inp.face.box, inp.size)
        generator = torch.Generator("cpu").manual_seed(int(inp.seed))
        work = Path(tempfile.mkdtemp(prefix="emo-safe-diffusers-"))
        try:
            kwargs: dict = {}
            offer = {
                "image": Image.fromarray(portrait), "ref_image": Image.fromarray(portrait),
                "audio": inp.audio.samples, "sample_rate": inp.audio.rate, "fps": inp.fps,
                "height": inp.size, "width": inp.size, "generator": generator,
                "output_type": "np", "num_inference_steps": steps, "guidance_scale": guidance,
                "seed": inp.seed,
            }
            if "audio_path" in params:
                from emo_safe.media import write_wav

                write_wav(work / "audio.wav", inp.audio)
                offer["audio_path"] = str(work / "audio.wav")
            for key, value in offer.items():
                if key in params and value is not None:
                    kwargs[key] = value
            count_key = next((k for k in ("num_frames", "video_length") if k in params), None)
            done = 0
            while done < n:
                batch = min(BATCH, n - done)
                if count_key:
                    kwargs[count_key] = n  # a video pipeline makes the whole clip in one call
                elif "batch_size" in params:
                    kwargs["batch_size"] = batch
                try:
                    with torch.inference_mode():
                        frames = _to_frames(call(**kwargs))
                except GeneratorError:
                    raise
                except Exception as exc:  # a third-party pipeline may raise anything
                    raise GeneratorError(f"{self.name} failed: {type(exc).__name__}: {exc}") \
                        from None
                if not frames:
                    raise GeneratorError(f"{self.name} returned no frames")
                for f in frames[: n - done]:
                    if f.shape[:2] != (inp.size, inp.size):
                        f = cv2.resize(f, (inp.size, inp.size), interpolation=cv2.INTER_CUBIC)
                    yield f
                done += min(len(frames), n - done)
        finally:
            shutil.rmtree(work, ignore_errors=True)
