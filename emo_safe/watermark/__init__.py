"""Invisible watermarks: embed and detect on frame streams and audio tracks, keyed by the
workspace key.

The public surface is deliberately small: the scheme registry (:func:`get_scheme`,
:func:`available_schemes`), :func:`embed_frames` / :func:`detect_frames`, the file helpers
:func:`embed_file` / :func:`detect_file` (the frames) and :func:`detect_media` (frames and
audio), the :class:`WatermarkEvidence` result, and the pipeline's :class:`WorkspaceMarker` and
:class:`WorkspaceAudioMarker`. Pattern generation and decoders live in each scheme's
private modules (``_codec``, ``_ecc``) and are not part of the API.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo_safe.watermark.scheme import (
    DEFAULT_AUDIO_SCHEME,
    DEFAULT_MAX_P_VALUE,
    DEFAULT_SCHEME,
    WatermarkEvidence,
    WatermarkScheme,
    available_schemes,
    check_payload,
    get_scheme,
    strongest,
)

__all__ = ["DEFAULT_AUDIO_SCHEME", "DEFAULT_MAX_P_VALUE", "DEFAULT_SCHEME", "PAYLOAD_BYTES",
           "FileEvidence", "WatermarkEvidence", "WatermarkScheme", "WorkspaceAudioMarker",
           "WorkspaceMarker", "available_schemes", "describe_geometry", "detect_audio",
           "detect_file", "detect_media", "detect_frames", "embed_audio_file", "embed_file",
           "embed_frames", "get_scheme", "key_id", "parse_payload", "read_audio_for_detection"]

PAYLOAD_BYTES = 6  # every scheme carries the 48-bit generation id


def describe_geometry(geometry: dict | None) -> str:
    """What a scheme's reported geometry (v2: flip, rotation, zoom, aspect, the perspective
    correction the payload needed, whether the mark was read from the first frame alone or at
    twice the working resolution) says was done to the video, in words: "mirrored, rotated
    350.0 degrees", "read from the first frame alone", "as made"."""
    if not geometry:
        return "as made"
    parts = ["mirrored"] if geometry.get("flip") else []
    rotation = float(geometry.get("rotation", 0.0)) % 360
    if min(rotation, 360 - rotation) > 0.5:
        parts.append(f"rotated {rotation:.1f} degrees")
    if abs(float(geometry.get("zoom", 1.0)) - 1) > 0.02:
        parts.append(f"zoomed x{geometry['zoom']:.2f}")
    if abs(float(geometry.get("aspect", 1.0)) - 1) > 0.02:
        parts.append(f"stretched x{geometry['aspect']:.2f}")
    if geometry.get("keystone") is not None:
        parts.append(f"perspective undone (corners moved up to "
                     f"{100 * float(geometry['keystone']):.0f} % of the half-size)")
    if geometry.get("first_frame"):
        parts.append("read from the first frame alone")
    if geometry.get("fine_domain"):
        parts.append("read at twice the working resolution")
    return ", ".join(parts) or "as made"


def parse_payload(text: str) -> bytes:
    """A payload given as hex digits (a generation id): 12 of them for 48 bits."""
    from emo_safe.errors import InputError

    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"the payload must be hex digits, got {text!r}") from None
    if len(data) != PAYLOAD_BYTES:
        raise InputError(f"the payload must be {PAYLOAD_BYTES * 2} hex digits "
                         f"({PAYLOAD_BYTES * 8} bits), got {len(text)}")
    return data


def key_id(key: bytes, scheme: str = DEFAULT_SCHEME) -> str:
    """A public identifier of a watermark key (a hash), for manifests and detector profiles."""
    return get_scheme(scheme, key).key_id


def embed_frames(frames: Iterable[np.ndarray], key: bytes, payload: bytes,
                 scheme: str = DEFAULT_SCHEME) -> Iterator[np.ndarray]:
    """Mark a stream of RGB uint8 frames (any size); yields marked frames one at a time."""
    return get_scheme(scheme, key).embed(frames, payload)


def detect_frames(frames: Iterable[np.ndarray], key: bytes, fps: float = 25.0,
                  schemes: Iterable[str] | None = None,
                  max_p_value: float = DEFAULT_MAX_P_VALUE,
                  looks: tuple[int, ...] = ()) -> WatermarkEvidence:
    """Aggregate evidence over a stream of RGB frames for every scheme (default: all known)
    in one pass; the strongest evidence is returned. Memory is constant in the length.
    ``looks``: frame counts at which to look early
    (:func:`~emo_safe.watermark.scheme.early_looks`); reading stops once a mark is
    conclusive."""
    from emo_safe.watermark.scheme import MultiAccumulator

    acc = MultiAccumulator([get_scheme(s, key).accumulator(fps)
                            for s in (schemes or sorted(available_schemes("video"),
                                                        key=lambda s: s != DEFAULT_SCHEME))],
                           looks=looks)
    for frame in frames:
        acc.add(frame)
        if acc.settled is not None:
            break
    return strongest(acc.finish(max_p_value))


@dataclass(frozen=True)
class FileEvidence:
    """What a file's frames and its audio track showed (None: that medium is absent)."""

    video: WatermarkEvidence | None
    audio: WatermarkEvidence | None

    @property
    def primary(self) -> WatermarkEvidence:
        """The frames' evidence when they are marked (or there is no audio), else the
        audio's: what a one-line answer reports."""
        if self.video is not None and (self.video.detected or self.audio is None
                                       or not self.audio.detected):
            return self.video
        assert self.audio is not None  # a file has frames or audio, or it is refused
        return self.audio

    @property
    def detected(self) -> bool:
        return any(e is not None and e.detected for e in (self.video, self.audio))

    def to_dict(self) -> dict:
        """The primary evidence's fields (as before the audio mark), then each medium's."""
        return {**self.primary.to_dict(),
                "media": {"video": self.video.to_dict() if self.video else None,
                          "audio": self.audio.to_dict() if self.audio else None}}


def detect_audio(audio, key: bytes, schemes: Iterable[str] | None = None,
                 max_p_value: float = DEFAULT_MAX_P_VALUE,
                 time_scale_search: bool = True) -> WatermarkEvidence:
    """The strongest evidence of every audio scheme (default: all known) in a
    :class:`~emo_safe.media.Audio`; ``time_scale_search``: also undo speed and tempo changes
    of 0.90-1.10x (see :meth:`AudioMarkV1.detect`)."""
    return strongest([get_scheme(s, key).detect(audio, max_p_value,
                                                time_scale_search=time_scale_search)
                      for s in (schemes or available_schemes("audio"))])


def detect_file(path: str | os.PathLike, key: bytes, max_frames: int | None = None,
                max_p_value: float = DEFAULT_MAX_P_VALUE) -> WatermarkEvidence:
    """The frames' mark of a video file (every video scheme; the audio is not read: see
    :func:`detect_media` for both marks)."""
    from emo_safe import media
    from emo_safe.watermark.scheme import early_looks

    info = media.probe(path)
    return detect_frames(_decoded_ahead(path, max_frames), key, info.fps,
                         max_p_value=max_p_value,
                         looks=early_looks(info.fps, info.duration, max_frames))


def _decoded_ahead(path, max_frames: int | None) -> Iterator[np.ndarray]:
    """A file's frames for detection, the decode a few frames ahead in its own thread."""
    from emo_safe import media

    return media.read_ahead(media.iter_frames(path, max_frames=max_frames))


def read_audio_for_detection(path: str | os.PathLike, max_seconds: float = 600.0):
    """The first ``max_seconds`` of a file's first audio track, decoded once at the audio
    mark's analysis rate (mono 16 kHz), for every audio scheme."""
    from emo_safe import media
    from emo_safe.watermark import _audio

    return media.load_audio(path, media.AudioLimits(max_seconds=max_seconds, min_seconds=0,
                                                    max_bytes=None),
                            rate=_audio.RATE, truncate=True)


def detect_media(path: str | os.PathLike, key: bytes, max_frames: int | None = None,
                 max_p_value: float = DEFAULT_MAX_P_VALUE,
                 max_audio_seconds: float = 600.0,
                 time_scale_search: bool = True, early_looks: bool = True) -> FileEvidence:
    """Both marks of a video file, or the audio mark of an audio file (WAV, MP3, M4A, Opus,
    FLAC...): the first ``max_audio_seconds`` of the audio are read. ``early_looks``: a long
    video is read only until its mark is conclusive (see :func:`detect_frames`)."""
    from emo_safe import media
    from emo_safe.watermark import scheme

    info = media.probe(path, allow_audio_only=True)
    looks = scheme.early_looks(info.fps, info.duration, max_frames) if early_looks else ()
    video = detect_frames(_decoded_ahead(path, max_frames), key, info.fps,
                          max_p_value=max_p_value, looks=looks) if info.streams else None
    audio = None
    if info.has_audio:
        audio = detect_audio(read_audio_for_detection(path, max_audio_seconds), key,
                             max_p_value=max_p_value, time_scale_search=time_scale_search)
    return FileEvidence(video, audio)


def embed_file(src: str | os.PathLike, dest: str | os.PathLike, key: bytes, payload: bytes,
               crf: int = 18, scheme: str = DEFAULT_SCHEME,
               audio_scheme: str | None = DEFAULT_AUDIO_SCHEME) -> int:
    """Re-encode ``src`` with the mark, its audio marked too (``audio_scheme=None``: the
    audio is kept as it is). All or nothing: a temporary file made exclusively next to
    ``dest`` is moved onto it only when complete, and never over a file that exists."""
    from emo_safe import _fs, media

    src, dest = Path(src), Path(dest)
    marker = get_scheme(scheme, key)
    payload = check_payload(payload, marker.payload_bytes)
    info = media.probe(src)
    audio = media.read_audio_track(src) if info.has_audio else None
    if audio is not None and audio.samples.size and audio_scheme is not None:
        audio = get_scheme(audio_scheme, key).embed(audio, payload)
    with _fs.atomic_path(dest, replace=False) as tmp:
        return media.write_mp4(tmp, marker.embed(media.iter_frames(src), payload), info.fps,
                               audio, crf=crf)


def embed_audio_file(src: str | os.PathLike, dest: str | os.PathLike, key: bytes,
                     payload: bytes, scheme: str = DEFAULT_AUDIO_SCHEME) -> float:
    """Mark an audio file's (first) track into a mono file whose container the suffix of
    ``dest`` names (.wav, .flac, .m4a, .mp3, .ogg). All or nothing, never over a file that
    exists. Returns the seconds marked."""
    from emo_safe import _fs, media

    audio = media.load_audio(src)
    marked = get_scheme(scheme, key).embed(audio, payload)
    with _fs.atomic_path(Path(dest), replace=False) as tmp:
        media.write_audio(tmp, marked, Path(dest).suffix)
    return marked.duration


class _WorkspaceStage:
    """A pipeline stage around one scheme: the workspace key, the generation id as payload;
    ``describe`` is what the manifest and the ledger say about the mark."""

    def __init__(self, key: bytes, scheme: str) -> None:
        self._scheme = get_scheme(scheme, key)
        self.key_id = self._scheme.key_id

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(scheme={self._scheme.scheme_id!r}, "
                f"key_id={self.key_id!r})")

    def describe(self, payload: bytes) -> dict:
        return {"scheme": self._scheme.scheme_id, "payload": payload.hex(),
                "key_id": self.key_id}


class WorkspaceMarker(_WorkspaceStage):
    """The pipeline's mark stage for the frames."""

    def __init__(self, key: bytes, scheme: str = DEFAULT_SCHEME) -> None:
        super().__init__(key, scheme)

    def mark(self, frames: Iterable[np.ndarray], payload: bytes) -> Iterator[np.ndarray]:
        return self._scheme.embed(frames, payload)


class WorkspaceAudioMarker(_WorkspaceStage):
    """The pipeline's mark stage for the audio track."""

    def __init__(self, key: bytes, scheme: str = DEFAULT_AUDIO_SCHEME) -> None:
        super().__init__(key, scheme)

    def mark(self, audio, payload: bytes):
        return self._scheme.embed(audio, payload)
