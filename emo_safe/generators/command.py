"""``command:`` adapter: an external generator program (a Hallo or EchoMimic inference script,
say) behind the same gate, watermark, manifest and ledger as the built-in generators.

``command:python infer.py --ref {photo} --audio {audio} --out {output}``: the template is split
like a shell command line (no shell runs it) and the placeholders ``{photo}`` (PNG of the gated
portrait), ``{audio}`` (16-bit WAV of the gated audio), ``{output}`` (where the program must
write its video), ``{seed}``, ``{fps}`` and ``{size}`` are filled in. The program runs only after
the gate allowed the request (the pipeline calls ``generate`` after the decision), in a private
temporary directory, with a timeout; its output is read frame by frame into the pipeline, the
audio is re-muxed from the gated input, and the directory (with the program's unmarked video) is
deleted when the frames have been consumed or the pipeline gives up.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from emo_safe._version import __version__
from emo_safe.errors import GeneratorError, InputError
from emo_safe.generators.base import GeneratedVideo, GenerationInput
from emo_safe.media import iter_frames, probe, write_wav

PLACEHOLDERS = ("photo", "audio", "output", "seed", "fps", "size")
DEFAULT_TIMEOUT = 1800.0


class CommandGenerator:
    version = __version__

    def __init__(self, template: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            self.argv = shlex.split(template)
        except ValueError as exc:
            raise InputError(f"command generator template: {exc}") from None
        if not self.argv:
            raise InputError("command generator template is empty")
        if "{output}" not in template:
            raise InputError("command generator template must contain {output}")
        self.template = template
        self.timeout = float(timeout)
        self.name = f"command:{Path(self.argv[0]).name}"

    def _argv(self, values: dict[str, str]) -> list[str]:
        try:
            return [arg.format(**values) for arg in self.argv]
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"command generator template: unknown placeholder {exc}; use "
                             + ", ".join("{" + p + "}" for p in PLACEHOLDERS)) from None

    def generate(self, inp: GenerationInput) -> GeneratedVideo:
        work = Path(tempfile.mkdtemp(prefix="emo-safe-cmd-"))  # 0700
        try:
            photo, audio, output = work / "photo.png", work / "audio.wav", work / "output.mp4"
            cv2.imwrite(str(photo), np.ascontiguousarray(inp.image[:, :, ::-1]))
            write_wav(audio, inp.audio)
            argv = self._argv({"photo": str(photo), "audio": str(audio), "output": str(output),
                               "seed": str(inp.seed), "fps": f"{inp.fps:g}",
                               "size": str(inp.size)})
            self._run(argv, work)
            if not output.is_file() or output.stat().st_size == 0:
                raise GeneratorError(f"{self.name} exited without writing {{output}}")
            try:
                info = probe(output)
            except InputError as exc:
                raise GeneratorError(f"{self.name} wrote an unreadable video: {exc}") from None
            n = info.frames or int(round((info.duration or 0) * info.fps)) or 1
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        settings = {"command": self.template, "timeout_s": self.timeout, "seed": inp.seed,
                    "fps": info.fps, "size": [info.width, info.height]}
        return GeneratedVideo(frames=self._frames(output, work), fps=info.fps, audio=inp.audio,
                              frame_count=n, settings=settings)

    def _run(self, argv: list[str], cwd: Path) -> None:
        try:
            proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            raise GeneratorError(f"cannot start {argv[0]}: {exc.strerror}") from None
        try:
            out, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole process group: no orphans
            proc.communicate()
            raise GeneratorError(f"{self.name} did not finish within {self.timeout:g} s and was "
                                 "stopped; nothing was published") from None
        if proc.returncode != 0:
            tail = (out or b"").decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise GeneratorError(f"{self.name} failed with exit code {proc.returncode}: "
                                 f"{tail[0][:200]}")

    @staticmethod
    def _frames(output: Path, work: Path) -> Iterator[np.ndarray]:
        try:
            yield from iter_frames(output)
        finally:
            shutil.rmtree(work, ignore_errors=True)
