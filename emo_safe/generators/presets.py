"""Presets for the open audio-driven portrait generators people wrap: ``PRESET:/path/to/repo``
runs that project's own documented inference program on the gated inputs and collects its
video from where that program writes it, with every guarantee of ``command:`` (no shell,
timeout that kills everything it started, private work directory, audio re-muxed from the
gated input, the unmarked output deleted; see ``_external.py``).

None of them can run on a machine without a GPU and their downloaded weights; the tests use
stand-in programs that check they received exactly the upstream argument set and write a video
where upstream would. docs/generators.md cites the upstream file behind each one.

Common options (``--generator-option KEY=VALUE``): ``python`` (the interpreter of the
project's own environment; default: this one), ``timeout`` (seconds), ``seed``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from emo_safe._version import __version__
from emo_safe.errors import InputError
from emo_safe.generators import _external
from emo_safe.generators.base import GeneratedVideo, GenerationInput
from emo_safe.generators.command import DEFAULT_TIMEOUT, TIMEOUT_OPTION
from emo_safe.generators.options import Option

PYTHON_OPTION = Option(str, "the Python interpreter of the project's own environment")


class UpstreamPreset:
    """One upstream project. Subclasses name the script, build its argument vector and say
    where its video lands."""

    project = ""
    script = ""  # relative to the project's root
    audio_rate: int | None = None  # the WAV rate the program expects, if it insists on one
    version = __version__
    options: dict[str, Option] = {"python": PYTHON_OPTION, "timeout": TIMEOUT_OPTION}

    def __init__(self, root: str) -> None:
        if not root:
            raise InputError(f"the {self.project} preset needs the project's folder: "
                             f"{self.project}:/path/to/{self.project}")
        self.root = Path(root).expanduser().resolve()
        if not (self.root / self.script).is_file():
            raise InputError(f"{self.root} is not a {self.project} checkout (no {self.script})")
        self.name = self.project

    def arguments(self, inp: GenerationInput, photo: Path, audio: Path, work: Path
                  ) -> list[str]:
        raise NotImplementedError

    def output(self, inp: GenerationInput, photo: Path, audio: Path, work: Path,
               started: dt.datetime) -> tuple[Path, list[Path]]:
        """The video the program wrote, and files outside ``work`` to delete with it."""
        raise NotImplementedError

    def prepare(self, inp: GenerationInput, photo: Path, audio: Path, work: Path) -> None:
        """Anything the program needs besides its arguments (a config file)."""

    def generate(self, inp: GenerationInput) -> GeneratedVideo:
        timeout = float(inp.options.get("timeout", DEFAULT_TIMEOUT))
        python = str(inp.options.get("python", sys.executable))
        work = _external.new_work_dir()
        outside: list[Path] = []
        try:
            photo, audio = _external.write_inputs(inp, work, self.audio_rate,
                                                  stem=f"es{work.name[-8:]}",
                                                  audio_stem=f"es{work.name[-8:]}a")
            self.prepare(inp, photo, audio, work)
            started = dt.datetime.now()
            argv = [python, str(self.root / self.script),
                    *self.arguments(inp, photo, audio, work)]
            try:
                _external.run_program(argv, self.root, work, timeout, self.name)
            finally:
                output, outside = self.output(inp, photo, audio, work, started)
        except BaseException:
            _external._remove(work, outside)
            raise
        settings = {"project": self.project, "script": self.script, "timeout_s": timeout,
                    "seed": inp.seed, **{k: v for k, v in inp.options.items()
                                         if k not in ("python", "timeout")}}
        return _external.collect(output, work, inp, self.name, settings, outside)


class SadTalker(UpstreamPreset):
    """OpenTalker/SadTalker ``inference.py``: ``--driven_audio --source_image --result_dir
    --checkpoint_dir --size --preprocess [--still] [--enhancer]``; it writes
    ``RESULT_DIR/<timestamp>.mp4``."""

    project, script = "sadtalker", "inference.py"
    options = {**UpstreamPreset.options,
               "size": Option(int, "face render size", choices=None, minimum=256, maximum=512),
               "preprocess": Option(str, "how to preprocess the image",
                                    choices=("crop", "extcrop", "resize", "full", "extfull")),
               "still": Option(bool, "fewer head motions (for full-body images)"),
               "enhancer": Option(str, "face enhancer", choices=("gfpgan", "RestoreFormer")),
               "pose_style": Option(int, "pose style", minimum=0, maximum=45)}

    def arguments(self, inp, photo, audio, work):
        o = inp.options
        argv = ["--driven_audio", str(audio), "--source_image", str(photo),
                "--result_dir", str(work / "results"),
                "--checkpoint_dir", str(self.root / "checkpoints"),
                "--size", str(o.get("size", 256)), "--preprocess", str(o.get("preprocess",
                                                                             "crop")),
                "--pose_style", str(o.get("pose_style", 0))]
        if o.get("still"):
            argv.append("--still")
        if o.get("enhancer"):
            argv += ["--enhancer", str(o["enhancer"])]
        return argv

    def output(self, inp, photo, audio, work, started):
        found = sorted((work / "results").glob("*.mp4"))
        return (found[-1] if found else work / "results" / "missing.mp4"), []


class Hallo(UpstreamPreset):
    """fudan-generative-vision/hallo ``scripts/inference.py``: ``--source_image
    --driving_audio --output [--pose_weight --face_weight --lip_weight]``, 16 kHz audio, run
    from the project's root (its config path is relative)."""

    project, script, audio_rate = "hallo", "scripts/inference.py", 16_000
    options = {**UpstreamPreset.options,
               "pose_weight": Option(float, "weight of pose", minimum=0, maximum=10),
               "face_weight": Option(float, "weight of face", minimum=0, maximum=10),
               "lip_weight": Option(float, "weight of lip", minimum=0, maximum=10)}

    def arguments(self, inp, photo, audio, work):
        argv = ["--source_image", str(photo), "--driving_audio", str(audio),
                "--output", str(work / "output.mp4")]
        for key in ("pose_weight", "face_weight", "lip_weight"):
            if key in inp.options:
                argv += [f"--{key}", f"{inp.options[key]:g}"]
        return argv

    def output(self, inp, photo, audio, work, started):
        return work / "output.mp4", []


class EchoMimic(UpstreamPreset):
    """antgroup/echomimic ``infer_audio2vid.py``: ``--config CONFIG -W -H --seed --fps
    --steps --cfg``; the portrait and audio go in the config's ``test_cases`` (a copy of
    ``configs/prompts/animation.yaml`` in the work directory), and the video is written under
    the project's ``output/<date>/<HHMM>--seed_<seed>-<W>x<H>/`` as
    ``<image>_<audio>_<H>x<W>_<cfg>_<HHMM>_withaudio.mp4``."""

    project, script, audio_rate = "echomimic", "infer_audio2vid.py", 16_000
    config = "configs/prompts/animation.yaml"
    options = {**UpstreamPreset.options,
               "steps": Option(int, "inference steps", minimum=1, maximum=200),
               "cfg": Option(float, "guidance scale", minimum=0, maximum=20)}

    def __init__(self, root: str) -> None:
        super().__init__(root)
        if not (self.root / self.config).is_file():
            raise InputError(f"{self.root} is not an echomimic checkout (no {self.config})")

    def prepare(self, inp, photo, audio, work):
        text = (self.root / self.config).read_text(encoding="utf-8")
        head = text.split("test_cases:", 1)[0]
        # JSON strings are valid YAML double-quoted scalars: no YAML library needed.
        (work / "animation.yaml").write_text(
            f"{head}test_cases:\n  {json.dumps(str(photo))}:\n    - {json.dumps(str(audio))}\n",
            encoding="utf-8")

    def arguments(self, inp, photo, audio, work):
        size = str(inp.size)
        return ["--config", str(work / "animation.yaml"), "-W", size, "-H", size,
                "--seed", str(inp.seed), "--fps", f"{round(inp.fps)}",
                "--steps", str(inp.options.get("steps", 30)),
                "--cfg", f"{inp.options.get('cfg', 2.5):g}"]

    def output(self, inp, photo, audio, work, started):
        pattern = f"*--seed_{inp.seed}-{inp.size}x{inp.size}/{photo.stem}_{audio.stem}_*.mp4"
        mine = sorted((self.root / "output").glob(f"*/{pattern}"))
        with_audio = [p for p in mine if p.stem.endswith("_withaudio")]
        chosen = with_audio[-1] if with_audio else work / "missing.mp4"
        return chosen, mine


class Sonic(UpstreamPreset):
    """jixiaozhong/Sonic ``demo.py IMAGE AUDIO OUTPUT [--dynamic_scale] [--seed] [--crop]``."""

    project, script = "sonic", "demo.py"
    options = {**UpstreamPreset.options,
               "dynamic_scale": Option(float, "motion strength", minimum=0, maximum=4),
               "crop": Option(bool, "crop the face region first")}

    def arguments(self, inp, photo, audio, work):
        argv = [str(photo), str(audio), str(work / "output.mp4"), "--seed", str(inp.seed)]
        if "dynamic_scale" in inp.options:
            argv += ["--dynamic_scale", f"{inp.options['dynamic_scale']:g}"]
        if inp.options.get("crop"):
            argv.append("--crop")
        return argv

    def output(self, inp, photo, audio, work, started):
        return work / "output.mp4", [photo.with_name(photo.name + ".crop.png")]


class Memo(UpstreamPreset):
    """memoavatar/memo ``inference.py --config configs/inference.yaml --input_image
    --input_audio --output_dir --seed``; it writes ``OUTPUT_DIR/<image>_<audio>.mp4``."""

    project, script = "memo", "inference.py"

    def arguments(self, inp, photo, audio, work):
        return ["--config", str(self.root / "configs" / "inference.yaml"),
                "--input_image", str(photo), "--input_audio", str(audio),
                "--output_dir", str(work / "outputs"), "--seed", str(inp.seed)]

    def output(self, inp, photo, audio, work, started):
        return work / "outputs" / f"{photo.stem}_{audio.stem}.mp4", []
