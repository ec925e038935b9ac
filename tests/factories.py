"""Real media made in code for the tests: encoded audio, videos, hostile images."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import av
import numpy as np

from emo_safe import media


def write_tone(path: Path, seconds: float = 1.0, rate: int = 16000) -> Path:
    """A real encoded audio file (a 220 Hz tone) in whatever container the suffix names."""
    t = np.arange(int(seconds * rate)) / rate
    return write_audio(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)


def write_audio(path: Path, samples: np.ndarray, rate: int, bitrate: int | None = None) -> Path:
    """Mono float samples encoded by FFmpeg (emo-safe's own writer, media.write_audio) in
    whatever container the suffix names, at ``bitrate`` bits/s where the codec takes one."""
    media.write_audio(path, media.Audio(np.asarray(samples, np.float32), rate), bitrate=bitrate)
    return path


def transcode_audio(audio: media.Audio, folder: Path, suffix: str, bitrate: int | None = None,
                    name: str = "attacked") -> media.Audio:
    """``audio`` through a real encoder and decoder, back at its own rate."""
    path = write_audio(folder / f"{name}{suffix}", audio.samples, audio.rate, bitrate)
    return media.load_audio(path, rate=audio.rate)


def synthetic_music(seconds: float, rate: int = 44_100, seed: int = 0) -> np.ndarray:
    """A deterministic piece: plucked harmonic notes of a major scale, a sustained pad, a
    kick on every beat and a hi-hat between (not a recording, but tonal, percussive and
    with silences, which is what a mark has to live with in music)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n)
    t0 = 0.0
    while t0 < seconds:
        f = 220 * 2 ** (rng.choice([0, 2, 4, 5, 7, 9, 11, 12]) / 12 + rng.integers(0, 2))
        dur = 0.25 * rng.choice([1, 2])
        start = int(t0 * rate)
        t = np.arange(min(int(dur * rate), n - start)) / rate
        out[start : start + t.size] += 0.3 * np.exp(-3 * t) * sum(
            np.sin(2 * np.pi * f * h * t) / h ** 1.3 for h in range(1, 8))
        t0 += dur
    tt = np.arange(n) / rate
    for k, f in enumerate((110, 165, 220)):
        out += 0.05 * np.sin(2 * np.pi * f * tt + k)
    for beat in np.arange(0, seconds, 0.5):
        start = int(beat * rate)
        t = np.arange(min(4000, n - start)) / rate
        out[start : start + t.size] += 0.4 * np.exp(-20 * t) * np.sin(
            2 * np.pi * (60 + 80 * np.exp(-30 * t)) * t)
        start = int((beat + 0.25) * rate)
        m = min(2000, n - start)
        if m > 0:
            out[start : start + m] += 0.08 * rng.standard_normal(m) * np.exp(-np.arange(m) / 300)
    return (0.7 * out / np.max(np.abs(out))).astype(np.float32)


def write_silence_flac(path: Path, hours: float, rate: int = 8000) -> Path:
    """Real FLAC of silence: a few MB for eight hours, encoded a minute at a time."""
    minute = np.zeros((1, rate * 60), np.int16)
    _encode_audio(path, "flac", rate, "s16", (minute for _ in range(int(hours * 60))))
    return path


def _encode_audio(path: Path, codec: str, rate: int, frame_fmt: str, blocks, fmt=None) -> None:
    with av.open(str(path), "w", format=fmt) as out:
        s = out.add_stream(codec, rate=rate)
        s.layout = "mono"
        if frame_fmt == "s16":
            s.format = "s16"
        pts = 0
        for block in blocks:
            f = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=frame_fmt,
                                           layout="mono")
            f.sample_rate = rate
            f.pts = pts
            pts += block.shape[1]
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def write_huge_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit PNG with a huge canvas: small on disk, a bomb when decoded."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def write_video(path: Path, frames: int = 10, size=(96, 128), fps: int = 25,
                audio_seconds: float | None = None) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[0], size[1], 3), dtype=np.uint8)
    audio = None
    if audio_seconds:
        t = np.arange(int(audio_seconds * 44100)) / 44100
        audio = media.Audio((0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 44100)
    media.write_mp4(path, (np.roll(base, i, axis=1) for i in range(frames)), fps, audio)
    return path


def bundled_photo(name: str = "obama.jpg") -> np.ndarray:
    """A bundled real photo (tests/data, with attribution) as RGB uint8."""
    import cv2

    img = cv2.imread(str(Path(__file__).parent / "data" / name))[:, :, ::-1]
    return np.ascontiguousarray(img)


def panning_clip(photo: np.ndarray, n: int, size=(256, 256)):
    """A slow pan across a photo: content that moves about as much as a talking head."""
    import cv2

    h, w = size
    f = max((w + 64) / photo.shape[1], (h + 80) / photo.shape[0])
    base = cv2.resize(photo, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    for t in range(n):
        x = int(32 + 24 * np.sin(t / 9))
        y = int(40 + 16 * np.cos(t / 13))
        yield np.ascontiguousarray(base[y : y + h, x : x + w])


def transcode(frames: list[np.ndarray], path: Path, codec: str, size=None, fps: float = 25,
              bit_rate: int | None = None, **options) -> list[np.ndarray]:
    """RGB frames through a real FFmpeg encoder (PyAV) into ``path`` and decoded back.
    ``size`` is (width, height); ``options`` are the encoder's, with ``_`` for ``-``
    (``x265_params="log-level=error"``)."""
    from fractions import Fraction

    import cv2

    h, w = frames[0].shape[:2]
    w, h = size or (w, h)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = w & ~1, h & ~1, "yuv420p"
        if bit_rate:
            stream.bit_rate = bit_rate
        stream.options = {k.replace("_", "-"): str(v) for k, v in options.items()}
        for f in frames:
            if f.shape[:2] != (stream.height, stream.width):
                f = cv2.resize(f, (stream.width, stream.height), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return list(media.iter_frames(path))


def still_outputs(tmp_path_factory, label: str, markers: dict):
    """One workspace with a consented sample portrait and an output of the ``still``
    generator per entry of ``markers`` (name -> mark stage, or None for the default), made
    once: each takes seconds. Returns (workspace, {name: (output path, generation id)})."""
    import pytest

    from emo_safe import SafeGenerator, Workspace
    from emo_safe._resources import sample_path
    from emo_safe.gate.consent import ConsentRegistry

    portrait, speech = sample_path("portrait.jpg"), sample_path("speech.m4a")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("EMO_SAFE_KEY_PASSPHRASE", raising=False)
        mp.delenv("EMO_SAFE_DATABASE_URL", raising=False)
        ws = Workspace(tmp_path_factory.mktemp(f"{label}-workspace"))
        ws.init()
        consent = ConsentRegistry.for_workspace(ws).add("sample person", portrait)
        out = tmp_path_factory.mktemp("outputs")
        made = {}
        for name, marker in markers.items():
            marker = marker(ws) if callable(marker) else marker
            result = SafeGenerator(ws, generator="still", marker=marker).generate(
                portrait, speech, out / f"{name}.mp4", consent_ids=[consent.id])
            made[name] = (result.output, result.generation_id)
    return ws, made


def copy_to(src: Path, dest_dir: Path, name: str | None = None) -> Path:
    dest = dest_dir / (name or src.name)
    shutil.copyfile(src, dest)
    return dest


def hide_eyes(photo: Path, out: Path, how: str = "paint", face: int = 0) -> Path:
    """The photo with one face's eyes painted over with a dark rectangle (as an evader would)
    or blurred out; the rectangle reaches 15% of the face's width past the eyes."""
    import cv2

    from emo_safe.faces import FaceAnalyzer

    img = media.load_image(photo)
    found = sorted(FaceAnalyzer().find_faces(img).faces, key=lambda f: f.box.left)[face]
    b, eyes = found.box, found.landmarks[36:48]
    x0, y0 = (eyes.min(axis=0) - [0.15 * b.width, 0.1 * b.height]).astype(int)
    x1, y1 = (eyes.max(axis=0) + [0.15 * b.width, 0.1 * b.height]).astype(int)
    if how == "paint":
        img[y0:y1, x0:x1] = (20, 20, 20)
    else:
        img[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 0.04 * b.width)
    cv2.imwrite(str(out), img[:, :, ::-1])
    return out


def fake_face(embedding=None, eye_detail: float = 1.5, box=(10, 10, 110, 110)):
    """A face as the detector would report it, built from numbers (fast rule tests)."""
    from emo_safe.faces import Box, Face

    emb = np.zeros(128, np.float32) if embedding is None else np.asarray(embedding, np.float32)
    return Face(Box(*box), np.zeros((68, 2), np.float32), emb, 1.0, eye_detail)


def consent_record(consent_id: str = "c1", embedding=None, scope=("talking", "singing"),
                   **fields):
    import datetime as dt

    from emo_safe.gate.consent import ConsentRecord

    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    emb = np.zeros(128, np.float32) if embedding is None else np.asarray(embedding, np.float32)
    values = dict(id=consent_id, name="someone", template=emb, photo_sha256="ab" * 32,
                  scope=tuple(scope), created_at=now, valid_from=now)
    values.update(fields)
    return ConsentRecord(**values)


def gate_request(faces=(), consents=(), checks=None, **fields):
    """A gate request made of constructed values: no photo is decoded, no model runs."""
    import datetime as dt
    from types import MappingProxyType

    from emo_safe.gate.consent import ConsentCheck
    from emo_safe.gate.request import GateRequest

    if checks is None:
        checks = {c.id: ConsentCheck(True, True) for c in consents}
    values = dict(photo_path=Path("constructed.jpg"), photo_sha256="cd" * 32,
                  image=np.zeros((8, 8, 3), np.uint8), faces=tuple(faces), audio=None,
                  audio_sha256=None, consents=tuple(consents),
                  consent_checks=MappingProxyType(dict(checks)),
                  now=dt.datetime(2026, 7, 1, tzinfo=dt.UTC))
    values.update(fields)
    return GateRequest(**values)


def write_tracks(path: Path, tracks: list[list[np.ndarray]], default: int, fps: int = 25,
                 crf: int = 18) -> Path:
    """An MP4 with one H.264 video track per frame list; ``default`` is the track marked as
    the one players show (the others are, say, a decoy put in front of it)."""
    with av.open(str(path), "w", format="mp4") as out:
        streams = []
        for i, frames in enumerate(tracks):
            s = out.add_stream("libx264", rate=fps)
            s.height, s.width = frames[0].shape[:2]
            s.pix_fmt = "yuv420p"
            s.options = {"crf": str(crf)}
            s.disposition = av.stream.Disposition.default if i == default \
                else av.stream.Disposition(0)
            streams.append(s)
        for t in range(max(len(f) for f in tracks)):
            for s, frames in zip(streams, tracks):
                if t < len(frames):
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[t]),
                                                    format="rgb24")
                    vf.pts = t
                    for p in s.encode(vf):
                        out.mux(p)
        for s in streams:
            for p in s.encode():
                out.mux(p)
    return path


def mark_residue(frames: list[np.ndarray]) -> np.ndarray:
    """The copy attack's estimate of the mark: the mean high-pass residue of one output."""
    import cv2

    return np.mean([f.astype(np.float32) - cv2.GaussianBlur(f.astype(np.float32), (0, 0), 2)
                    for f in frames], axis=0)


def relight_to_phash(frame: np.ndarray, target: int, rounds: int = 4) -> np.ndarray:
    """The frame plus a smooth luminance field (only the 8x8 lowest DCT frequencies of a
    32x32 copy, upsampled) chosen so that its pHash becomes ``target``: the lighting change a
    forger adds to pass a copied watermark off as the source generation."""
    import cv2

    from emo_safe.fingerprint import frame_hash

    bits = np.unpackbits(np.array([target], ">u8").view(np.uint8)).astype(np.float32) * 2 - 1
    out = frame.astype(np.float32)
    h, w = frame.shape[:2]
    for _ in range(rounds):
        if frame_hash(np.clip(out, 0, 255).astype(np.uint8)) == target:
            break
        grey = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
        d = cv2.dct(cv2.resize(grey.astype(np.float32), (32, 32), interpolation=cv2.INTER_AREA))
        low = d[:8, :8].flatten()
        centre, spread = float(np.median(low[1:])), max(float(np.std(low[1:])), 8.0)
        want = low.copy()
        for k in range(64):  # push each coefficient to the side of the median its bit needs
            if (low[k] > centre) != (bits[k] > 0):
                want[k] = centre + bits[k] * 0.5 * spread
        delta = np.zeros((32, 32), np.float32)
        delta[:8, :8] = (want - low).reshape(8, 8)
        field = cv2.resize(cv2.idct(delta), (w, h), interpolation=cv2.INTER_CUBIC)
        out += field[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def postgres_workspace(root: Path, database_url: str):
    """A workspace whose config.toml names a PostgreSQL ledger (as every host of a deployment
    that shares one does), initialised."""
    from emo_safe import Workspace

    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "config.toml").write_text(f'database_url = "{database_url}"\n')
    ws = Workspace(root)
    ws.init()
    return ws


# A generating host or worker as its own process: python -c GENERATING_PROCESS WORKSPACE
# PHOTO AUDIO OUT makes two `still` generations, OUT-0.mp4 and OUT-1.mp4.
GENERATING_PROCESS = """
import sys
from pathlib import Path
from emo_safe import SafeGenerator
from emo_safe.workspace import Workspace
ws, portrait, speech, out = Workspace(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), \\
    sys.argv[4]
gen = SafeGenerator(ws, generator="still")
for i in range(2):
    gen.generate(portrait, speech, Path(f"{out}-{i}.mp4"))
"""
