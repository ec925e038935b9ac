"""``command:`` adapter: an external generator program (a Hallo or EchoMimic inference script,
say) behind the same gate, watermark, manifest and ledger as the built-in generators.

``command:python infer.py --ref {photo} --audio {audio} --out {output}``: the template is split
like a shell command line (no shell runs it) and the placeholders ``{photo}`` (PNG of the gated
portrait), ``{audio}`` (16-bit WAV of the gated audio), ``{output}`` (where the program must
write its video), ``{seed}``, ``{fps}`` and ``{size}`` are filled in. The program runs only after
the gate allowed the request, in a private work directory, bounded by a timeout that kills
everything it started (see ``_external.py``); its output is read frame by frame into the
pipeline, the audio is re-muxed from the gated input, and the directory (with the program's
unmarked video) is deleted when the frames have been consumed or the pipeline gives up.

A template that runs a shell itself (``sh -c '...'``) gets every placeholder value
shell-quoted inside the script, so a path (under ``$TMPDIR``) is always one word.
What is recorded is the program's name and a hash of the template, never the template.
"""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

from emo_safe._version import __version__
from emo_safe.errors import InputError
from emo_safe.generators import _external
from emo_safe.generators.base import GeneratedVideo, GenerationInput
from emo_safe.generators.options import Option

PLACEHOLDERS = ("photo", "audio", "output", "seed", "fps", "size")
DEFAULT_TIMEOUT = 1800.0
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"})
TIMEOUT_OPTION = Option(float, "seconds the program may run (everything it started is then "
                        "killed)", minimum=1)


class CommandGenerator:
    version = __version__
    options = {"timeout": TIMEOUT_OPTION}

    def __init__(self, template: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            self.argv = shlex.split(template)
        except ValueError as exc:
            raise InputError(f"command generator template: {exc}") from None
        if not self.argv:
            raise InputError("command generator template is empty")
        if "{output}" not in template:
            raise InputError("command generator template must contain {output}")
        self.template_sha256 = hashlib.sha256(template.encode()).hexdigest()
        self.timeout = float(timeout)
        self.name = f"command:{Path(self.argv[0]).name}"
        self._shell_script = self._script_index(self.argv)

    @staticmethod
    def _script_index(argv: list[str]) -> int | None:
        """Where the script of ``SHELL -c SCRIPT`` is, if the template runs a shell."""
        if Path(argv[0]).name in SHELLS:
            for i, arg in enumerate(argv[1:-1], start=1):
                if arg == "-c" or (arg.startswith("-") and "c" in arg[1:]
                                   and not arg.startswith("--")):
                    return i + 1
        return None

    def _argv(self, values: dict[str, str]) -> list[str]:
        quoted = {k: shlex.quote(v) for k, v in values.items()}
        try:
            return [arg.format(**(quoted if i == self._shell_script else values))
                    for i, arg in enumerate(self.argv)]
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(f"command generator template: unknown placeholder {exc}; use "
                             + ", ".join("{" + p + "}" for p in PLACEHOLDERS)) from None

    def generate(self, inp: GenerationInput) -> GeneratedVideo:
        timeout = float(inp.options.get("timeout", self.timeout))
        work = _external.new_work_dir()
        try:
            photo, audio = _external.write_inputs(inp, work)
            output = work / "output.mp4"
            argv = self._argv({"photo": str(photo), "audio": str(audio), "output": str(output),
                               "seed": str(inp.seed), "fps": f"{inp.fps:g}",
                               "size": str(inp.size)})
            _external.run_program(argv, work, work, timeout, self.name)
        except BaseException:
            _external._remove(work, ())
            raise
        settings = {"program": Path(self.argv[0]).name, "template_sha256": self.template_sha256,
                    "timeout_s": timeout, "seed": inp.seed}
        return _external.collect(output, work, inp, self.name, settings)
