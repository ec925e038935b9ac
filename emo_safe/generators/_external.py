"""Running an external generator program safely: the machinery behind ``command:`` and the
upstream presets.

- No shell: the program gets an argument vector.
- A private work directory (0700) holds its inputs and outputs; it is removed when the frames
  have been read, when anything fails, and on SIGTERM/SIGHUP (the CLI turns those into an
  exception, see ``emo_safe/_signals.py``), so no unmarked video outlives the run.
- Bounded by the timeout whatever the program does: its output goes to a file in the work
  directory (no pipe a background child could hold open), the wait has a deadline, and then
  every process the run started is killed — its process group, every process that carries the
  run's token in its environment (even one that started its own session), and, on Linux, every
  orphan reparented to us (this process is a child subreaper). That happens after a successful
  run too: no background child survives it.
- emo-safe's own secrets (the key passphrase, the database URL) are not in its environment.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from emo_safe.errors import GeneratorError, InputError
from emo_safe.generators.base import GeneratedVideo, GenerationInput
from emo_safe.media import iter_frames, probe

TOKEN_VARIABLE = "EMO_SAFE_RUN"
# Variables of emo-safe's own that a generator program must never see.
_SECRET_PREFIX = "EMO_SAFE_"
_subreaper_lock = threading.Lock()
_subreaper_set = False


def child_environment(token: str, extra: dict | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SECRET_PREFIX)}
    env[TOKEN_VARIABLE] = token
    env.update(extra or {})
    return env


def _become_subreaper() -> None:
    """Orphaned descendants of our programs are reparented to us, not to init, so they can be
    found (and reaped) after their parent is gone. Linux only; elsewhere the token scan does."""
    global _subreaper_set
    with _subreaper_lock:
        if _subreaper_set or not sys.platform.startswith("linux"):
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
        except (OSError, AttributeError):
            pass
        _subreaper_set = True


def _processes_of_run(token: str, baseline: set[int]) -> set[int]:
    """Processes of this run: those with its token in their environment, and our children
    that were not ours when it started (orphans reparented to us)."""
    found: set[int] = set()
    marker = f"{TOKEN_VARIABLE}={token}".encode()
    me = os.getpid()
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return found
    for entry in entries:
        pid = int(entry)
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    found.add(pid)
                    continue
            with open(f"/proc/{pid}/stat", "rb") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
            if ppid == me and pid not in baseline:
                found.add(pid)
        except (OSError, ValueError, IndexError):
            continue
    return found


def _children() -> set[int]:
    me = os.getpid()
    out = set()
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return out
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
            if int(stat[stat.rindex(b")") + 2:].split()[1]) == me:
                out.add(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    return out


def kill_run(proc: subprocess.Popen, token: str, baseline: set[int]) -> None:
    """Kill every process the run started, however it detached, and reap our own."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for _ in range(50):
        left = _processes_of_run(token, baseline) - {proc.pid}
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.02)
        for pid in left:  # reap the ones that were reparented to us
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def run_program(argv: Sequence[str], cwd: Path, work: Path, timeout: float, name: str,
                env_extra: dict | None = None) -> None:
    """Run ``argv`` to completion within ``timeout`` seconds; its output goes to
    ``work/program.log``. Raises GeneratorError on a failure, a non-zero exit or the deadline."""
    _become_subreaper()
    token = secrets.token_hex(16)
    baseline = _children()
    log = work / "program.log"
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env=child_environment(token, env_extra))
    except OSError as exc:
        raise GeneratorError(f"cannot start {argv[0]}: {exc.strerror}") from None
    try:
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GeneratorError(f"{name} did not finish within {timeout:g} s and was stopped; "
                                 "nothing was published") from None
    finally:
        kill_run(proc, token, baseline)  # on success too: no background child survives
    if code != 0:
        try:
            tail = log.read_bytes()[-4000:].decode("utf-8", "replace").strip().splitlines()
        except OSError:
            tail = []
        raise GeneratorError(f"{name} failed with exit code {code}: "
                             f"{(tail[-1] if tail else '')[:200]}")


def new_work_dir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="emo-safe-cmd-"))  # 0700


def write_inputs(inp: GenerationInput, work: Path, audio_rate: int | None = None,
                 stem: str = "photo", audio_stem: str = "audio") -> tuple[Path, Path]:
    """The gated portrait as PNG and the gated audio as 16-bit WAV (resampled to
    ``audio_rate`` when a program needs one rate, e.g. 16 kHz)."""
    import cv2

    from emo_safe.media import Audio, write_wav

    photo, audio = work / f"{stem}.png", work / f"{audio_stem}.wav"
    cv2.imwrite(str(photo), np.ascontiguousarray(inp.image[:, :, ::-1]))
    sound = inp.audio
    if audio_rate and audio_rate != sound.rate:
        n = max(1, int(round(len(sound.samples) * audio_rate / sound.rate)))
        t = np.linspace(0, len(sound.samples) - 1, n)
        sound = Audio(np.interp(t, np.arange(len(sound.samples)), sound.samples)
                      .astype(np.float32), audio_rate)
    write_wav(audio, sound)
    return photo, audio


def collect(output: Path, work: Path, inp: GenerationInput, name: str,
            settings: dict, also_remove: Sequence[Path] = ()) -> GeneratedVideo:
    """The program's video as a frame stream. The work directory (and ``also_remove``: files
    the program wrote outside it) are deleted once the frames are read or the caller gives up;
    the audio is the gated input's, never the program's."""
    try:
        if not output.is_file() or output.stat().st_size == 0:
            raise GeneratorError(f"{name} exited without writing its video")
        try:
            info = probe(output)
        except InputError as exc:
            raise GeneratorError(f"{name} wrote an unreadable video: {exc}") from None
    except BaseException:
        _remove(work, also_remove)
        raise
    n = info.frames or int(round((info.duration or 0) * info.fps)) or 1
    settings = {**settings, "fps": info.fps, "frame": {"width": info.width, "height": info.height}}

    return GeneratedVideo(frames=_FramesThenRemove(output, work, tuple(also_remove)),
                          fps=info.fps, audio=inp.audio, frame_count=n, settings=settings)


class _FramesThenRemove(Iterator[np.ndarray]):
    """Frames of the program's video; the unmarked files go when the frames are exhausted or
    ``close()`` is called (the pipeline always calls it), even if iteration never started."""

    def __init__(self, output: Path, work: Path, also: tuple[Path, ...]) -> None:
        self._frames = iter_frames(output)
        self._work, self._also = work, also

    def __next__(self) -> np.ndarray:
        try:
            return next(self._frames)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        self._frames.close()
        _remove(self._work, self._also)


def _remove(work: Path, also: Sequence[Path]) -> None:
    for path in also:
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
    shutil.rmtree(work, ignore_errors=True)
