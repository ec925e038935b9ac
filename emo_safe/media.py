"""Media I/O through PyAV (bundled FFmpeg): probe, stream-decode, encode H.264/AAC MP4.

Everything here streams: video frames come out of iterators one at a time and the encoder takes
an iterator, so a long video is never held in memory. Every failure to read an input becomes an
:class:`~emo_safe.errors.InputError` with one line that names the file and the problem.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from emo_safe.errors import InputError

AUDIO_RATE = 44_100  # decoded audio is mono float32 at this rate unless asked otherwise
VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mkv", ".webm"}


# --------------------------------------------------------------------------------------------
# helpers
def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _check_file(path: Path, kind: str, max_bytes: int | None = None) -> None:
    if not path.exists():
        raise InputError(f"{kind} file not found: {path}")
    if not path.is_file():
        raise InputError(f"{kind} path is not a regular file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{kind} file is empty: {path}")
    if max_bytes is not None and size > max_bytes:
        raise InputError(
            f"{kind} file {path} is too large ({size / 1e6:.1f} MB > {max_bytes / 1e6:.0f} MB)"
        )


def _open(path: Path, kind: str, **kwargs):
    try:
        return av.open(str(path), **kwargs)
    except av.error.FFmpegError:
        raise InputError(f"cannot read {kind} {path}: not a readable {kind} file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read {kind} {path}: {exc}") from None


# --------------------------------------------------------------------------------------------
# images
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass(frozen=True)
class ImageLimits:
    max_pixels: int = 40_000_000
    max_side: int = 12_000
    min_side: int = 64
    max_bytes: int = 50_000_000


def _image_header(data: bytes) -> tuple[str, int, int]:
    """Format, width and height from the header alone, before any pixel is decoded."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return "png", w, h
    if data[:3] == b"\xff\xd8\xff":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD,
                          0xCE, 0xCF):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return "jpeg", w, h
            i += 2 + length
        raise InputError("JPEG without a frame header (truncated or corrupt)")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return "webp", w & 0x3FFF, h & 0x3FFF
        if chunk == b"VP8L":
            b = data[21:25]
            w = 1 + (((b[1] & 0x3F) << 8) | b[0])
            h = 1 + (((b[3] & 0xF) << 10) | (b[2] << 2) | ((b[1] & 0xC0) >> 6))
            return "webp", w, h
        if chunk == b"VP8X":
            w = 1 + int.from_bytes(data[24:27], "little")
            h = 1 + int.from_bytes(data[27:30], "little")
            return "webp", w, h
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return "bmp", abs(w), abs(h)
    raise InputError("not a supported image (JPEG, PNG, WebP or BMP)")


def _jpeg_complete(data: bytes) -> bool:
    """A complete baseline/progressive JPEG has an EOI marker after its last scan."""
    last_sos = data.rfind(b"\xff\xda")
    return last_sos != -1 and data.find(b"\xff\xd9", last_sos) != -1


def load_image(path: str | os.PathLike, limits: ImageLimits = ImageLimits()) -> np.ndarray:
    """Decode a photo to RGB uint8 (EXIF orientation applied), checking limits first."""
    path = Path(path)
    _check_file(path, "image", limits.max_bytes)
    data = path.read_bytes()
    try:
        fmt, w, h = _image_header(data)
    except InputError as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None
    if w <= 0 or h <= 0:
        raise InputError(f"cannot read image {path}: invalid dimensions {w}x{h}")
    if w * h > limits.max_pixels or max(w, h) > limits.max_side:
        raise InputError(
            f"image {path} is too large ({w}x{h}; limit {limits.max_pixels / 1e6:.0f} megapixels, "
            f"{limits.max_side} px a side)"
        )
    if min(w, h) < limits.min_side:
        raise InputError(f"image {path} is too small ({w}x{h}; at least {limits.min_side} px)")
    if fmt == "jpeg" and not _jpeg_complete(data):
        raise InputError(f"cannot read image {path}: truncated JPEG (no end-of-image marker)")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot read image {path}: corrupt or truncated {fmt.upper()}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


# --------------------------------------------------------------------------------------------
# audio
@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``rate`` Hz."""

    samples: np.ndarray
    rate: int

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


@dataclass(frozen=True)
class AudioLimits:
    max_seconds: float = 600.0
    min_seconds: float = 0.2
    max_bytes: int = 200_000_000


def load_audio(path: str | os.PathLike, limits: AudioLimits = AudioLimits(),
               rate: int = AUDIO_RATE, truncate: bool = False) -> Audio:
    """Decode the first audio stream of any FFmpeg-readable file to mono float32.
    ``truncate``: a stream longer than ``limits.max_seconds`` yields its first
    ``max_seconds`` instead of an error (a detector reads a bounded prefix)."""
    path = Path(path)
    _check_file(path, "audio", limits.max_bytes)
    with _open(path, "audio") as container:
        if not container.streams.audio:
            raise InputError(f"cannot read audio {path}: it has no audio stream")
        stream = container.streams.audio[0]
        declared = _declared_duration(container, stream)
        if declared is not None and declared > limits.max_seconds and not truncate:
            raise InputError(
                f"audio {path} is too long ({declared / 60:.1f} min; limit "
                f"{limits.max_seconds / 60:.1f} min)"
            )
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        max_samples = int(limits.max_seconds * rate) + rate
        chunks: list[np.ndarray] = []
        total = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    chunks.append(arr)
                    total += arr.size
                if total > max_samples and truncate:
                    break
                if total > max_samples:  # the header may lie about the duration
                    raise InputError(
                        f"audio {path} is too long (over {limits.max_seconds / 60:.1f} min)"
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError:
            raise InputError(f"cannot read audio {path}: corrupt audio data") from None
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if truncate:
        samples = samples[: int(limits.max_seconds * rate)]
    if samples.size < limits.min_seconds * rate:
        raise InputError(
            f"audio {path} is empty or too short ({samples.size / rate:.2f} s; at least "
            f"{limits.min_seconds} s)"
        )
    if not np.all(np.isfinite(samples)):
        raise InputError(f"audio {path} contains invalid samples")
    return Audio(np.clip(samples, -1.0, 1.0), rate)


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Mono float32 samples at ``new_rate`` (libswresample: no delay, length scaled)."""
    samples = np.ascontiguousarray(samples, np.float32).reshape(-1)
    if rate == new_rate or samples.size == 0:
        return samples.copy()
    resampler = av.AudioResampler(format="flt", layout="mono", rate=new_rate)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate, frame.pts = rate, 0
    chunks = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    out = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    n = int(round(samples.size * new_rate / rate))
    return np.pad(out[:n], (0, max(0, n - out.size))).astype(np.float32)


def _declared_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


# --------------------------------------------------------------------------------------------
# video
@dataclass(frozen=True)
class VideoStream:
    """One video track of a file, as its headers declare it."""

    index: int  # among the file's video streams (0, 1, ...)
    width: int
    height: int
    fps: float
    frames: int | None
    codec: str
    default: bool = False  # the container marks it as the track players show

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    format: str
    width: int  # of the first decodable video stream
    height: int
    fps: float
    frames: int | None
    duration: float | None
    has_audio: bool
    streams: tuple[VideoStream, ...] = ()
    # container-level metadata tags (e.g. GB 45438's "AIGC" implicit label), values capped
    tags: tuple[tuple[str, str], ...] = ()

    def tag(self, name: str) -> str | None:
        return dict(self.tags).get(name)


MAX_TAG_CHARS = 4096  # a metadata tag longer than this is cut when probed (hostile files)


def probe(path: str | os.PathLike, max_bytes: int | None = None,
          allow_audio_only: bool = False) -> VideoInfo:
    """What a video file declares: its container and every decodable video stream.
    ``allow_audio_only``: a file with an audio stream and no video (WAV, MP3, M4A, Opus,
    FLAC...) is described with no video streams instead of being refused."""
    path = Path(path)
    kind = "media" if allow_audio_only else "video"  # an audio file is an answer too
    _check_file(path, kind, max_bytes)
    with _open(path, kind) as container:
        if not container.streams.video and allow_audio_only and container.streams.audio:
            stream = container.streams.audio[0]
            return VideoInfo(path=path, format=container.format.name, width=0, height=0,
                             fps=0.0, frames=None,
                             duration=_declared_duration(container, stream), has_audio=True,
                             streams=(), tags=_tags(container))
        if not container.streams.video:
            raise InputError(f"cannot read video {path}: it has no video stream")
        streams = []
        for i, vs in enumerate(container.streams.video):
            ctx = vs.codec_context
            if ctx is None or not ctx.width or not ctx.height:
                continue
            rate = vs.average_rate or vs.guessed_rate or Fraction(25)
            disposition = getattr(vs, "disposition", 0)
            streams.append(VideoStream(i, ctx.width, ctx.height, float(rate), vs.frames or None,
                                       ctx.name or "", bool(int(disposition or 0) & 1)))
        if not streams:
            raise InputError(f"cannot read video {path}: its video stream has no decodable codec "
                             "or size")
        first = streams[0]
        vs = container.streams.video[first.index]
        return VideoInfo(
            path=path,
            format=container.format.name,
            width=first.width,
            height=first.height,
            fps=first.fps,
            frames=first.frames,
            duration=_declared_duration(container, vs),
            has_audio=bool(container.streams.audio),
            streams=tuple(streams),
            tags=_tags(container),
        )


def _tags(container) -> tuple[tuple[str, str], ...]:
    return tuple((str(k)[:64], str(v)[:MAX_TAG_CHARS])
                 for k, v in list((container.metadata or {}).items())[:64])


def iter_frames(path: str | os.PathLike, max_frames: int | None = None, stream: int = 0,
                max_pixels: int | None = None) -> Iterator[np.ndarray]:
    """RGB uint8 frames of video stream ``stream`` (0: the first), one at a time.
    ``max_pixels``: a frame larger than this (whatever the headers said) is an InputError."""
    path = Path(path)
    _check_file(path, "video")
    with _open(path, "video") as container:
        if len(container.streams.video) <= stream:
            raise InputError(f"cannot read video {path}: it has no video stream {stream}")
        vs = container.streams.video[stream]
        vs.thread_type = "AUTO"
        n = 0
        for frame in _decoded_frames(container, vs, path):
            if max_pixels is not None and frame.width * frame.height > max_pixels:
                raise InputError(f"video {path} has {frame.width}x{frame.height} frames, "
                                 f"over the limit of {max_pixels / 1e6:.1f} megapixels")
            yield frame.to_ndarray(format="rgb24")
            n += 1
            if max_frames is not None and n >= max_frames:
                return


def read_ahead(frames: Iterable[np.ndarray], depth: int = 8) -> Iterator[np.ndarray]:
    """``frames`` as they come, produced by a thread of their own up to ``depth`` ahead: the
    decoder (which runs without the GIL) works while the caller reads the frames it already
    has, instead of each waiting for the other. What the source raises is raised here, at
    the frame it failed on; a caller that stops early (or fails) stops the thread, which
    closes the source (its file) itself."""
    import queue
    import threading

    done = object()  # the end of the stream
    items: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def offer(item) -> bool:
        """Put ``item`` for the reader; False once the reader has stopped."""
        while not stop.is_set():
            try:
                items.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(frames)
        try:
            for frame in source:
                if not offer((frame, None)):
                    return
            outcome = (done, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, raised there
            outcome = (None, exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
        offer(outcome)

    worker = threading.Thread(target=produce, name="emo-safe-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            frame, exc = items.get()
            if exc is not None:
                raise exc
            if frame is done:
                return
            yield frame
    finally:
        stop.set()
        worker.join()


def _decoded_frames(container, vs, path: Path) -> Iterator:
    """The stream's frames, decoded packet by packet as FFmpeg's own tools do: a packet that
    does not decode is skipped (the decoder conceals the damage in the frames after it) and a
    container that breaks off ends the stream. Otherwise one flipped run of bytes would turn a
    tampered or re-encoded video into an unreadable one, and its evidence would go unheard.
    A stream with corrupt packets of which nothing decodes is an InputError."""
    decoded = failed = 0
    demuxed = container.demux(vs)
    while True:
        try:
            packet = next(demuxed)
        except StopIteration:
            break
        except av.error.FFmpegError:
            if decoded:
                break  # the container's structure breaks off here: what came before stands
            raise InputError(f"cannot read video {path}: corrupt video data") from None
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            failed += 1
            continue
        for frame in frames:
            decoded += 1
            yield frame
    if failed and not decoded:
        raise InputError(f"cannot read video {path}: corrupt video data")


# The C2PA manifest store's box in ISO BMFF files (C2PA specification, "Embedding manifests
# into BMFF-based assets"): a top-level 'uuid' box with this user type.
C2PA_BOX_UUID = bytes.fromhex("d8fec3d61b0e483c92975828877ec481")


def check_manifest_box(path: str | os.PathLike, max_bytes: int) -> None:
    """Walk the top-level boxes of an MP4/MOV (headers only) and refuse a C2PA manifest box
    that declares more than ``max_bytes``, before any C2PA reader would load it into memory
    (a sparse file can declare a gigabyte at no cost)."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        offset = 0
        for _ in range(100_000):  # a real file has a handful of top-level boxes
            if offset + 8 > size:
                return
            fh.seek(offset)
            head = fh.read(32)
            if len(head) < 8:
                return
            box_size, kind = struct.unpack(">I4s", head[:8])
            header = 8
            if box_size == 1 and len(head) >= 16:
                box_size = struct.unpack(">Q", head[8:16])[0]
                header = 16
            elif box_size == 0:
                box_size = size - offset
            if box_size < header:
                return  # not a box structure we understand; the readers report it
            if kind == b"uuid" and head[header:header + 16] == C2PA_BOX_UUID \
                    and box_size > max_bytes:
                raise InputError(f"{path} declares a {box_size / 1e6:.0f} MB C2PA manifest, "
                                 f"over the limit of {max_bytes / 1e6:.0f} MB")
            offset += box_size


def read_audio_track(path: str | os.PathLike, rate: int = AUDIO_RATE) -> Audio | None:
    """The audio of a video file (for re-muxing), or None when it has none."""
    path = Path(path)
    with _open(path, "video") as container:
        if not container.streams.audio:
            return None
    try:
        return load_audio(path, AudioLimits(max_seconds=24 * 3600, min_seconds=0,
                                            max_bytes=None), rate)
    except InputError:
        return None


def write_wav(path: str | os.PathLike, audio: Audio) -> None:
    """Mono 16-bit PCM WAV (what external generator programs most often read)."""
    import wave

    pcm = (np.clip(audio.samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(audio.rate)
        w.writeframes(pcm.tobytes())


# suffix -> (FFmpeg encoder, muxer); Opus is encoded at 48 kHz, its only full-band rate
AUDIO_FORMATS = {".wav": ("pcm_s16le", "wav"), ".flac": ("flac", "flac"),
                 ".m4a": ("aac", "ipod"), ".mp3": ("libmp3lame", "mp3"),
                 ".ogg": ("libopus", "ogg"), ".opus": ("libopus", "ogg")}


def write_audio(path: str | os.PathLike, audio: Audio, suffix: str | None = None,
                bitrate: int | None = None) -> None:
    """Encode mono ``audio`` into the container ``suffix`` names (default: the path's own;
    see :data:`AUDIO_FORMATS`), at ``bitrate`` bits/s where the codec takes one."""
    path = Path(path)
    suffix = (suffix or path.suffix).lower()
    if suffix not in AUDIO_FORMATS:
        raise InputError(f"cannot write audio as {suffix or 'a file without a suffix'!r}; "
                         f"known: {', '.join(AUDIO_FORMATS)}")
    codec, muxer = AUDIO_FORMATS[suffix]
    samples, rate = np.asarray(audio.samples, np.float32), audio.rate
    if codec == "libopus" and rate != 48_000:
        samples, rate = resample(samples, rate, 48_000), 48_000
    integer = codec in ("pcm_s16le", "flac")
    data = (np.clip(samples, -1, 1) * 32767).astype(np.int16) if integer else samples
    with av.open(str(path), "w", format=muxer) as out:
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        if integer:
            stream.format = "s16"
        if bitrate:
            stream.bit_rate = bitrate
        for start in range(0, data.size, 960):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data[start : start + 960].reshape(1, -1)),
                format="s16" if integer else "fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float,
              audio: Audio | None = None, crf: int = 18, preset: str = "medium",
              metadata: dict[str, str] | None = None) -> int:
    """Encode RGB frames (+ optional mono audio) to an H.264 yuv420p / AAC MP4 with faststart.
    ``metadata``: container tags, written as QuickTime metadata keys (``moov/meta``, FFmpeg's
    ``use_metadata_tags``) so that any key survives, e.g. GB 45438's ``AIGC``.

    Frames with odd sizes lose their last row/column (yuv420p needs even sizes). Returns the
    number of video frames written.
    """
    path = Path(path)
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError("no frames to encode") from None
    h, w = first.shape[0] & ~1, first.shape[1] & ~1
    if h < 2 or w < 2:
        raise ValueError(f"frame too small to encode: {first.shape}")
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    movflags = "+faststart+use_metadata_tags" if metadata else "+faststart"
    with av.open(str(path), "w", format="mp4", options={"movflags": movflags}) as out:
        if metadata:
            out.metadata.update(metadata)
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"crf": str(crf), "preset": preset}
        as_ = None
        if audio is not None and audio.samples.size:
            as_ = out.add_stream("aac", rate=audio.rate)
            as_.layout = "mono"
        for frame in _chain(first, it):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError("frames must be RGB uint8 arrays")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[:h, :w]), format="rgb24")
            vf.pts = n
            vf.time_base = 1 / rate
            for pkt in vs.encode(vf):
                out.mux(pkt)
            n += 1
        for pkt in vs.encode():
            out.mux(pkt)
        if as_ is not None:
            _encode_audio(out, as_, audio, max_seconds=n / float(rate))
    return n


def _chain(first, rest):
    yield first
    yield from rest


def _encode_audio(out, stream, audio: Audio, max_seconds: float, block: int = 1024) -> None:
    samples = audio.samples[: int(round(max_seconds * audio.rate))]
    pts = 0
    for start in range(0, samples.size, block):
        chunk = np.ascontiguousarray(samples[start : start + block].reshape(1, -1))
        af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        af.sample_rate = audio.rate
        af.pts = pts
        pts += chunk.shape[1]
        for pkt in stream.encode(af):
            out.mux(pkt)
    for pkt in stream.encode():
        out.mux(pkt)
