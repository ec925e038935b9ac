"""A compact perceptual fingerprint of a video: per sampled second, two independent 64-bit
perceptual hashes.

- ``phash``: the DCT hash of the frame's coarse luminance layout (8x8 lowest DCT coefficients
  of a 32x32 copy, signs against their median).
- ``ehash``: the same hash of the frame's *edge* map (gradient magnitude). It answers a
  different question: where the structure is, not where the light is. A smooth, low-frequency
  luminance change can be tuned to move ``phash`` onto any target (every one of its bits is a
  low-frequency coefficient), but it adds almost no gradient, so it leaves ``ehash`` where the
  footage's own edges put it; matching both means matching the picture itself.

The generation's audio gets its own fingerprint (:func:`audio_hashes`): a 32-bit hash of the
band-energy contour every 200 ms, so that an audio mark copied onto other audio is caught
the same way.

Stored with every generation in the ledger (16 bytes a second of video, 20 of audio; not
biometric: coarse hashes of the whole frame, of the whole spectrum). The detector recomputes
them on a suspicious file and compares them with the fingerprint of the generation its
watermark names: a watermark estimated from one of our outputs and added to other footage
(the copy attack) names a generation whose frames do not look like the video, and the
verdict says so (``inconsistent``). Generations recorded by
emo-safe 0.1 have only the ``phash`` list.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

MATCH_BITS = 14  # a frame's phash matches a stored second when at most this many bits differ
EDGE_MATCH_BITS = 14  # the same for ehash (docs/benchmarks.md: copy-attack and attack suite)
MATCH_SHARE = 0.5  # the video matches when at least this share of its sampled frames match
MAX_SECONDS = 3600
# Flat bars along the frame's edges (a letterbox, a pillarbox, a pad to another aspect) are
# taken off before a second comparison: a padded repost of a generation is still that
# generation. A bar line is flat (luma SD under BAR_FLATNESS levels: codecs keep a flat area
# flat) and of the edge's own colour; bars thinner than MIN_BAR_SHARE of the side are not
# taken off, and what is left must be at least MIN_PICTURE_SHARE of the frame.
BAR_FLATNESS = 3.0
MIN_BAR_SHARE = 0.02
MIN_PICTURE_SHARE = 0.2


def _dct_hash(grey32: np.ndarray) -> int:
    low = cv2.dct(grey32.astype(np.float32))[:8, :8].flatten()
    bits = low > np.median(low[1:])  # the DC term would dominate the median
    return int(np.packbits(bits).view(">u8")[0])


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY).astype(np.float32)


def frame_hash(frame: np.ndarray) -> int:
    """The luminance-layout hash (pHash)."""
    return _dct_hash(cv2.resize(_grey(frame), (32, 32), interpolation=cv2.INTER_AREA))


def edge_hash(frame: np.ndarray) -> int:
    """The edge-layout hash: pHash of the gradient magnitude of a 128x128 copy."""
    return _edge_hash_small(cv2.resize(_grey(frame), (128, 128), interpolation=cv2.INTER_AREA))


def _edge_hash_small(small: np.ndarray) -> int:
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = cv2.magnitude(gx, gy)
    return _dct_hash(cv2.resize(magnitude, (32, 32), interpolation=cv2.INTER_AREA))


@dataclass(frozen=True)
class Fingerprint:
    """Per sampled second: ``phash`` and (from emo-safe 0.2) ``ehash``; and, for a generation
    with an audio track, ``audio``: one :func:`audio_hashes` hash every
    ``AUDIO_STORED_HOP`` samples of its 16 kHz analysis."""

    phash: tuple[int, ...]
    ehash: tuple[int, ...] | None = None
    audio: tuple[int, ...] | None = None

    def to_json(self):
        if self.ehash is None and self.audio is None:
            return [f"{h:016x}" for h in self.phash]
        out = {"v": 2, "phash": [f"{h:016x}" for h in self.phash],
               "ehash": [f"{h:016x}" for h in self.ehash or ()]}
        if self.audio is not None:
            out["audio"] = [f"{h:08x}" for h in self.audio]
            out["audio_hop_ms"] = AUDIO_STORED_HOP * 1000 // AUDIO_RATE
        return out

    @classmethod
    def from_json(cls, value) -> Fingerprint:
        if isinstance(value, list):  # emo-safe 0.1: a list of pHashes
            return cls(tuple(int(v, 16) for v in value))
        audio = value.get("audio")
        return cls(tuple(int(v, 16) for v in value.get("phash", [])),
                   tuple(int(v, 16) for v in value.get("ehash", [])),
                   tuple(int(v, 16) for v in audio) if audio is not None else None)

    @property
    def seconds(self) -> int:
        return len(self.phash)


def _bar_lines(means: np.ndarray, sds: np.ndarray) -> int:
    """How many lines from the start are one flat bar of the first line's colour."""
    bar = (sds < BAR_FLATNESS) & (np.abs(means - means[0]) < BAR_FLATNESS)
    return len(bar) if bar.all() else int(np.argmin(bar))


def picture_box(grey: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the picture inside flat bars along the frame's edges,
    or None when there are none (or nothing but bars)."""
    h, w = grey.shape
    rows_mean, rows_sd = grey.mean(axis=1), grey.std(axis=1)
    cols_mean, cols_sd = grey.mean(axis=0), grey.std(axis=0)
    edges = [_bar_lines(rows_mean, rows_sd), _bar_lines(rows_mean[::-1], rows_sd[::-1]),
             _bar_lines(cols_mean, cols_sd), _bar_lines(cols_mean[::-1], cols_sd[::-1])]
    sides = (h, h, w, w)
    edges = [e if e >= MIN_BAR_SHARE * side else 0 for e, side in zip(edges, sides, strict=True)]
    top, bottom, left, right = edges[0], h - edges[1], edges[2], w - edges[3]
    if not any(edges) or bottom <= top or right <= left \
            or (bottom - top) * (right - left) < MIN_PICTURE_SHARE * h * w:
        return None
    return top, bottom, left, right


def orient(img: np.ndarray, quarter_turns: int, mirror: bool) -> np.ndarray:
    """``np.rot90`` by ``quarter_turns``, then a horizontal mirror: what undoes a watermark
    geometry of ``rotation = 90 * quarter_turns`` degrees and ``flip = mirror``."""
    out = np.rot90(img, quarter_turns % 4)
    return np.ascontiguousarray(out[:, ::-1] if mirror else out)


class FingerprintTap:
    """Passes frames through, hashing one per second (so it rides along the one decode). It
    keeps a 128 x 128 grey copy of each sampled frame (16 KB a second) so that the hashes can
    be taken again with a mirror or a right-angle turn undone, once the watermark has said
    which one the video carries; and, for a frame with flat bars along its edges
    (:func:`picture_box`), a copy of the picture inside them."""

    def __init__(self, fps: float) -> None:
        self.step = max(1, round(fps))
        self._phash: list[int] = []
        self._ehash: list[int] = []
        self._small: list[np.ndarray] = []
        self._unbarred: list[np.ndarray] = []  # the picture inside the bars (or the frame)
        self.barred = False  # whether any sampled frame had bars

    def tap(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for i, frame in enumerate(frames):
            self.add(frame, i)
            yield frame

    def add(self, frame: np.ndarray, index: int) -> None:
        if index % self.step == 0 and len(self._phash) < MAX_SECONDS:
            grey = _grey(frame)
            self._phash.append(_dct_hash(cv2.resize(grey, (32, 32),
                                                    interpolation=cv2.INTER_AREA)))
            small = cv2.resize(grey, (128, 128), interpolation=cv2.INTER_AREA)
            self._ehash.append(_edge_hash_small(small))
            self._small.append(small.astype(np.uint8))
            box = picture_box(grey)
            if box is None:
                self._unbarred.append(self._small[-1])
            else:
                top, bottom, left, right = box
                self.barred = True
                self._unbarred.append(cv2.resize(grey[top:bottom, left:right], (128, 128),
                                                 interpolation=cv2.INTER_AREA).astype(np.uint8))

    @property
    def hashes(self) -> list[int]:
        return list(self._phash)

    def fingerprint(self, quarter_turns: int = 0, mirror: bool = False,
                    unbarred: bool = False) -> Fingerprint:
        """The hashes of the frames as they are, or with :func:`orient` applied first;
        ``unbarred``: of the pictures inside their bars (where a frame had none, the frame)."""
        if not quarter_turns % 4 and not mirror and not unbarred:
            return Fingerprint(tuple(self._phash), tuple(self._ehash))
        smalls = [orient(s.astype(np.float32), quarter_turns, mirror)
                  for s in (self._unbarred if unbarred else self._small)]
        return Fingerprint(
            tuple(_dct_hash(cv2.resize(s, (32, 32), interpolation=cv2.INTER_AREA))
                  for s in smalls),
            tuple(_edge_hash_small(s) for s in smalls))


def _distances(ref: np.ndarray, h: int) -> np.ndarray:
    x = np.bitwise_xor(ref, np.uint64(h))
    return np.unpackbits(x.view(np.uint8).reshape(-1, 8), axis=1).sum(axis=1)


def similarity(candidate: Fingerprint, stored: Fingerprint) -> float:
    """Share of the candidate's sampled frames that match some stored second. With edge
    hashes on both sides, a frame matches a second only when *both* its hashes are close to
    that same second's."""
    if not candidate.phash or not stored.phash:
        return 0.0
    p_ref = np.array(stored.phash, dtype=np.uint64)
    use_edges = bool(stored.ehash) and bool(candidate.ehash)
    e_ref = np.array(stored.ehash, dtype=np.uint64) if use_edges else None
    matched = 0
    for i, h in enumerate(candidate.phash):
        ok = _distances(p_ref, h) <= MATCH_BITS
        if use_edges:
            ok &= _distances(e_ref, candidate.ehash[i]) <= EDGE_MATCH_BITS
        matched += int(ok.any())
    return matched / len(candidate.phash)


# ------------------------------------------------------------------------------------- audio
AUDIO_RATE = 16_000  # what the audio mark's reader decodes to (mono)
AUDIO_WINDOW = 4096  # samples (256 ms): long enough for the contour to survive codecs
AUDIO_LAG = 800  # 50 ms: the change each bit is the sign of
AUDIO_FINE_HOP = 160  # 10 ms: a suspicious file is hashed this finely, so that some phase of
# it lines up with the stored hashes to within 5 ms whatever was cut off its start
AUDIO_STORED_HOP = 3200  # 200 ms: what the ledger keeps
AUDIO_BAND_EDGES = np.geomspace(300.0, 3000.0, 34)  # 33 bands: 32 bits; inside a phone line
AUDIO_MATCH = 0.66  # the audio matches when at least this share of the compared bits agree
AUDIO_MIN_HASHES = 15  # 3 s: below this the comparison is not made (None)
AUDIO_MAX_HASHES = 150  # 30 s of the suspicious audio are compared
AUDIO_MAX_SECONDS = 3600
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], np.uint8)


@lru_cache(maxsize=1)
def _audio_bands() -> np.ndarray:
    """(bins, bands) 0/1 matrix summing the power spectrum into the log-spaced bands."""
    freqs = np.fft.rfftfreq(AUDIO_WINDOW, 1.0 / AUDIO_RATE)
    band = np.searchsorted(AUDIO_BAND_EDGES, freqs, side="right") - 1
    out = np.zeros((freqs.size, len(AUDIO_BAND_EDGES) - 1), np.float32)
    ok = (band >= 0) & (band < out.shape[1])
    out[np.flatnonzero(ok), band[ok]] = 1.0
    return out


def _band_energies(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    window = np.hanning(AUDIO_WINDOW).astype(np.float32)
    out = []
    for chunk in np.array_split(starts, max(1, len(starts) // 512)):  # bounded memory
        frames = x[chunk[:, None] + np.arange(AUDIO_WINDOW)] * window
        out.append((np.abs(np.fft.rfft(frames, axis=1)) ** 2) @ _audio_bands())
    return np.concatenate(out)


def audio_hashes(samples: np.ndarray, hop: int = AUDIO_STORED_HOP,
                 max_seconds: float = AUDIO_MAX_SECONDS, tempo: float = 1.0) -> np.ndarray:
    """32-bit hashes of mono 16 kHz audio, one every ``hop`` samples: bit b of a hash is the
    sign of how the energy difference of bands b and b+1 changed over ``AUDIO_LAG`` (after
    Haitsma and Kalker's robust audio hash; 33 bands of 300-3000 Hz). Signs of differences of
    energies: a gain, an equaliser's smooth tilt, a codec or a phone line leave most of them
    alone; other audio flips half of them. ``tempo``: audio played that many times faster
    with its pitch kept is hashed on a time axis scaled back (hop and lag / tempo)."""
    x = np.asarray(samples, np.float32)[: int(max_seconds * AUDIO_RATE)]
    step, lag = hop / tempo, AUDIO_LAG / tempo
    starts = np.rint(np.arange(lag, x.size - AUDIO_WINDOW + 1, step)).astype(np.int64)
    if starts.size == 0:
        return np.zeros(0, np.uint32)
    k = lag / step
    if k == int(k):  # the window lag earlier is one of the hashed windows: analyse each once
        k = int(k)
        e = _band_energies(x, np.concatenate([starts[:k] - round(lag), starts]))
        now, before = e[k:], e[:-k]
    else:
        now, before = _band_energies(x, starts), _band_energies(x, starts - round(lag))
    bits = ((now[:, :-1] - now[:, 1:]) - (before[:, :-1] - before[:, 1:])) > 0  # (n, 32)
    weights = (1 << np.arange(31, -1, -1, dtype=np.uint64)).astype(np.uint64)
    return (bits.astype(np.uint64) @ weights).astype(np.uint32)


def recorded_audio_hashes(audio) -> tuple[int, ...]:
    """What the ledger keeps of a generation's (marked) audio track (a ``media.Audio``)."""
    from emo_safe.media import resample

    x16 = resample(np.asarray(audio.samples, np.float32), audio.rate, AUDIO_RATE)
    return tuple(int(h) for h in audio_hashes(x16))


def candidate_audio_hashes(samples: np.ndarray, time_scale: float | None = None
                           ) -> list[np.ndarray]:
    """What :func:`audio_agreement` compares for a suspicious 16 kHz track: hashed every
    ``AUDIO_FINE_HOP``, as far as ``AUDIO_MAX_HASHES`` stored hashes reach. When the audio
    mark reports a replay ``time_scale`` (its opt-in search), both ways of undoing it: a speed
    change (resampled back: time and pitch) and a tempo change (pitch kept)."""
    seconds = (AUDIO_MAX_HASHES + 1) * AUDIO_STORED_HOP / AUDIO_RATE + AUDIO_WINDOW / AUDIO_RATE
    x = np.asarray(samples, np.float32)
    if time_scale is None or abs(time_scale - 1.0) < 1e-3:
        return [audio_hashes(x, AUDIO_FINE_HOP, seconds)]
    from emo_safe.media import resample

    sped = resample(x[: int(seconds * time_scale * AUDIO_RATE) + AUDIO_RATE],
                    round(AUDIO_RATE / time_scale), AUDIO_RATE)
    return [audio_hashes(sped, AUDIO_FINE_HOP, seconds),
            audio_hashes(x, AUDIO_FINE_HOP, seconds * time_scale, tempo=time_scale)]


def audio_agreement(candidates: list[np.ndarray], stored) -> float | None:
    """The share of bits that agree between up to ``AUDIO_MAX_HASHES`` stored-rate hashes of
    the suspicious audio (each of ``candidates``: hashed every ``AUDIO_FINE_HOP``, see
    :func:`candidate_audio_hashes`) and the stored hashes, at the best phase and offset (the
    suspicious audio may be an excerpt, or start anywhere). None when fewer than
    ``AUDIO_MIN_HASHES`` can be compared."""
    step = AUDIO_STORED_HOP // AUDIO_FINE_HOP
    stored = np.asarray(stored, np.uint32)
    best = None
    for candidate in candidates:
        n = min(AUDIO_MAX_HASHES, len(candidate) // step, len(stored))
        if n < AUDIO_MIN_HASHES:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(stored, n)  # (offsets, n)
        for phase in range(step):
            c = np.asarray(candidate[phase::step][:n], np.uint32)
            if c.size < n:
                break
            diff = np.bitwise_xor(windows, c[None, :])
            errors = _POPCOUNT[diff.view(np.uint8)].reshape(len(windows), -1).sum(axis=1)
            agree = 1.0 - float(errors.min()) / (32 * n)
            best = agree if best is None else max(best, agree)
    return best
