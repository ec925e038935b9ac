"""The watermark-scheme interface and its registry, keyed by scheme id.

A scheme is one module: a class with a ``scheme_id`` and a ``medium``, built from the
workspace's 256-bit key (from which it derives its own patterns). A video scheme
(:class:`WatermarkScheme`) embeds a payload into a frame stream and accumulates frames for
detection; an audio scheme (:class:`AudioWatermarkScheme`) marks and reads a mono track.
Outputs made by an older scheme keep verifying because the detector asks every scheme its
profile lists. To add one: write the module, add its id and ``module:class`` to ``SCHEMES``
and its medium to ``MEDIUM`` below, and a test.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable

import numpy as np

from emo_safe.errors import ProfileError

DEFAULT_MAX_P_VALUE = 1e-6
CONCLUSIVE_P = 1e-12  # a decoded payload this strong ends a multi-scheme read


@dataclass(frozen=True)
class WatermarkEvidence:
    """What one scheme found. ``p_value`` is the probability of evidence at least this strong
    in a video that does not carry this key's mark; ``detected`` means
    ``p_value <= threshold``, the threshold the caller asked for."""

    detected: bool
    p_value: float
    payload: str | None  # hex, only when it decoded and passed its checks
    frames: int
    scheme: str
    threshold: float = DEFAULT_MAX_P_VALUE
    z: float = 0.0
    scale: float | None = None
    segment_z: tuple[float, ...] = ()
    key_id: str = ""
    track: int | None = None  # the video stream it was read from
    medium: str = "video"  # "video": read from frames; "audio": from an audio track
    seconds: float | None = None  # for audio: how much was analysed
    # for a scheme that undoes geometry (v2): the flip, rotation, scale and aspect it undid
    geometry: dict | None = None

    def to_dict(self) -> dict:
        out = {
            "detected": self.detected,
            "p_value": self.p_value,
            "payload": self.payload,
            "frames": self.frames,
            "z": round(self.z, 3),
            "scale": self.scale,
            "segment_z": [round(z, 2) for z in self.segment_z],
            "scheme": self.scheme,
            "threshold": self.threshold,
            "medium": self.medium,
        }
        if self.seconds is not None:
            out["seconds"] = self.seconds
        if self.geometry is not None:
            out["geometry"] = dict(self.geometry)
        if self.track is not None:
            out["track"] = self.track
        return out


class SchemeAccumulator(Protocol):
    """Evidence gathered frame by frame (memory constant in the clip's length).

    An accumulator whose search has costly stages may also offer
    ``quick_finish(max_p_value) -> (WatermarkEvidence, final)``: its cheap reading, and whether
    that is already its whole answer. :class:`MultiAccumulator` asks every scheme's quick
    reading before any scheme's costly stages, so a mark that one scheme reads at once does
    not wait for another scheme's search. It may also offer ``peek() -> WatermarkEvidence``:
    the quick reading of the frames so far, leaving the gathering to go on (the early looks
    of a long clip)."""

    def add(self, frame: np.ndarray) -> None: ...

    def finish(self, max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence: ...


@runtime_checkable
class WatermarkScheme(Protocol):
    scheme_id: str
    medium: str  # "video"
    key_id: str  # a public id of the key (a hash): safe for manifests and profiles
    payload_bytes: int

    def embed(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]: ...

    def accumulator(self, fps: float) -> SchemeAccumulator: ...


@runtime_checkable
class AudioWatermarkScheme(Protocol):
    scheme_id: str
    medium: str  # "audio"
    key_id: str
    payload_bytes: int
    min_reliable_seconds: float  # shorter audio may carry too little of the mark to read

    def embed(self, audio, payload: bytes): ...  # media.Audio -> media.Audio

    def detect(self, audio, max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence: ...


class KeyedScheme:
    """What every scheme class shares: built from the workspace key, it shows only the key's
    public id (never the key) in its repr."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = self.public_key_id(key)

    @staticmethod
    def public_key_id(key: bytes) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(key_id={self.key_id!r})"


def check_payload(payload, n_bytes: int) -> bytes:
    """The payload as bytes, or one clear InputError (every scheme's embed starts here)."""
    from emo_safe.errors import InputError

    if not isinstance(payload, bytes | bytearray) or len(payload) != n_bytes:
        raise InputError(f"the watermark payload must be {n_bytes} bytes ({n_bytes * 2} hex "
                         "digits)")
    return bytes(payload)


# scheme id -> "module:class"; the class is constructed with the workspace key
SCHEMES = {
    "org.emo-safe.wm.v1": "emo_safe.watermark.v1:VideoMarkV1",
    "org.emo-safe.wm.v2": "emo_safe.watermark.v2:VideoMarkV2",
    "org.emo-safe.wm.audio.v1": "emo_safe.watermark.audio:AudioMarkV1",
}
MEDIUM = {"org.emo-safe.wm.v1": "video", "org.emo-safe.wm.v2": "video",
          "org.emo-safe.wm.audio.v1": "audio"}
DEFAULT_SCHEME = "org.emo-safe.wm.v2"  # what new generations carry; v1 outputs still verify
DEFAULT_AUDIO_SCHEME = "org.emo-safe.wm.audio.v1"


def available_schemes(medium: str | None = None) -> list[str]:
    """Every registered scheme id, or those of one medium ("video", "audio")."""
    return sorted(s for s in SCHEMES if medium is None or MEDIUM.get(s) == medium)


def get_scheme(scheme_id: str, key: bytes) -> WatermarkScheme | AudioWatermarkScheme:
    """The scheme registered under ``scheme_id``, keyed with the workspace key."""
    target = SCHEMES.get(scheme_id)
    if target is None:
        raise ProfileError(f"unknown watermark scheme {scheme_id!r}; this emo-safe knows "
                           + ", ".join(available_schemes()))
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)(key)


def detect(scheme: WatermarkScheme, frames: Iterable[np.ndarray], fps: float = 25.0,
           max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence:
    acc = scheme.accumulator(fps)
    for frame in frames:
        acc.add(frame)
    return acc.finish(max_p_value)


EARLY_LOOK_SECONDS = 8  # the first early look; then at twice as far each time


def early_looks(fps: float, duration: float | None,
                max_frames: int | None = None) -> tuple[int, ...]:
    """Frame counts at which :class:`MultiAccumulator` looks for a conclusive mark before the
    clip ends: after 8, 16, 32 ... seconds, each only where what will be read (``duration``
    when known, at most ``max_frames``) runs at least twice as long, so that a look can save
    more reading than it costs (a look is each scheme's quick reading, about half a second;
    a 10-s clip gets none). Whole seconds of frames, so that the one-second segments are
    complete at a look."""
    per_second = max(1, round(fps))
    looks, seconds = [], EARLY_LOOK_SECONDS
    while (seconds <= 3600 and (duration is None or duration >= 2 * seconds)
           and (max_frames is None or max_frames >= 2 * seconds * fps)):
        looks.append(per_second * seconds)
        seconds *= 2
    return tuple(looks)


@dataclass
class MultiAccumulator:
    """Feeds one decode to several schemes; the strongest evidence wins.

    With ``looks`` (frame counts, see :func:`early_looks`) it also reads each scheme's quick
    reading (``peek``) after that many frames, and when one decodes at p <= ``CONCLUSIVE_P``
    it is settled: later frames are not gathered (``settled`` tells the caller it may stop
    decoding), and :meth:`finish` reports that reading, its p-value multiplied by the looks
    taken (each look is another chance of a false alarm: Bonferroni). A look that is not
    conclusive changes nothing: the clip is read to its end as without it."""

    parts: list[SchemeAccumulator] = field(default_factory=list)
    looks: tuple[int, ...] = ()
    settled: WatermarkEvidence | None = None
    frames: int = 0
    looked: int = 0
    workers: int | None = None  # threads for each stage's readings (None: one per core)

    def __post_init__(self) -> None:
        # Parts that gather the same sums (v1 and v2: normalised luma at one frame rate)
        # share one set, so each frame is resized once, not once per scheme.
        first: dict = {}
        for part in self.parts:
            key = getattr(part, "share_key", None)
            if key is None:
                continue
            if key in first:
                part.share(first[key])
            else:
                first[key] = part

    def add(self, frame: np.ndarray) -> None:
        if self.settled is not None:
            return
        for part in self.parts:
            part.add(frame)
        self.frames += 1
        if self.frames in self.looks:
            self._look()

    def _look(self) -> None:
        self.looked += 1
        for part in self.parts:
            peek = getattr(part, "peek", None)
            evidence = peek() if peek is not None else None
            if evidence is not None and _conclusive(evidence):
                self.settled = evidence
                return

    def finish(self, max_p_value: float = DEFAULT_MAX_P_VALUE) -> list[WatermarkEvidence]:
        """Each scheme's evidence, in order: first every scheme's quick reading (its whole
        reading when it has no ``quick_finish``), then the full search of those whose quick
        reading was not final. It stops at the first evidence whose payload decodes at
        p <= ``CONCLUSIVE_P`` (the strongest there can be: another scheme's search cannot
        change what is reported). A v1 output is read by v1 before v2's registration stages
        run. A settled read reports the early look's reading.

        The schemes' readings of one stage run in threads at once, up to ``workers`` (the
        searches spend their time in FFTs and warps, which release the GIL: a file no scheme
        decodes is read about a third faster on two cores), and what is reported is what
        the readings one after the other would report: the list is cut at the first
        conclusive one in order, whatever finished first."""
        if self.settled is not None:
            p = min(1.0, self.settled.p_value * self.looked)
            return [replace(self.settled, p_value=p, detected=p <= max_p_value,
                            threshold=max_p_value)]
        found, pending = [], []
        for i, (evidence, final) in enumerate(self._each(
                [functools.partial(_quick_reading, part, max_p_value) for part in self.parts])):
            found.append(evidence)
            if _conclusive(evidence):
                return found
            if not final:
                pending.append(i)
        searched = self._each([functools.partial(self.parts[i].finish, max_p_value)
                               for i in pending])
        for i, evidence in zip(pending, searched):
            found[i] = evidence
            if _conclusive(evidence):
                break
        return found

    def _each(self, readings: list) -> Iterator:
        """The readings' results in order, in threads when there are two or more and
        ``workers`` allows; one after the other (``workers=1``, or one core) they are run
        lazily, so the caller's stop at a conclusive reading skips the rest."""
        workers = min(len(readings), self.workers or os.cpu_count() or 1)
        if workers < 2:
            return (reading() for reading in readings)
        with ThreadPoolExecutor(max_workers=workers,
                                thread_name_prefix="emo-safe-scheme") as pool:
            return iter([f.result() for f in [pool.submit(r) for r in readings]])


def _quick_reading(part: SchemeAccumulator, max_p_value: float
                   ) -> tuple[WatermarkEvidence, bool]:
    """A scheme's cheap reading and whether it is final (its whole reading, final, when it
    has no ``quick_finish``)."""
    quick = getattr(part, "quick_finish", None)
    return quick(max_p_value) if quick else (part.finish(max_p_value), True)


def _conclusive(evidence: WatermarkEvidence) -> bool:
    return evidence.payload is not None and evidence.p_value <= CONCLUSIVE_P


def strongest(found: list[WatermarkEvidence]) -> WatermarkEvidence | None:
    """The evidence to report: a decoded payload first, then the smallest p-value."""
    if not found:
        return None
    return min(found, key=lambda e: (e.payload is None, e.p_value))
