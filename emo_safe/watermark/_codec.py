"""The emo-safe video watermark, v1 (internal: use :mod:`emo_safe.watermark`).

Domain. Every frame's luma is resized so that its short side is ``NORM_H`` pixels (the
aspect ratio is kept), so a downscaled copy looks the same to the detector. The normalised luma is
folded into a ``T`` x ``T`` tile (all tiles summed), which turns any translation into a cyclic
shift, and transformed with a 2-D DFT; only an annulus of ``BAND`` cycles per tile (wavelengths
of about 3-24 normalised pixels) carries the mark.

Patterns. From the 256-bit key (HMAC-SHA256 seeds): ``N_SYNC`` sync patterns, one of which is
chosen per generation from a keyed hash of its payload (so the outputs of many generations do
not average to one estimable pattern), and ``N_CODED`` payload patterns, one per coded bit.

Embedding. The minimum-norm tile whose projections are +A_SYNC on the chosen sync pattern and
+-A_BIT on each payload pattern (the bits of the convolutionally coded payload) is tiled over
the normalised frame, resized to the frame and added to R, G and B alike (a pure luma change).
It does not depend on the content, so it costs one add per pixel.

Detection. The normalised luma of all frames is summed (and per one-second segment). For each
candidate scale (a crop enlarges the content) the sum is resized, folded, spectrally whitened
(each frequency ring divided by its own RMS: the matched filter for the content's coloured
spectrum) and correlated with all sync patterns at all cyclic shifts through FFTs. The peak in
units of the correlation surface's spread is a z-score, Bonferroni-corrected for every
(scale, shift, sync pattern) hypothesis. At the best candidates the payload patterns give soft
bits, each frequency ring weighted by the sync pattern's measured survival in it, for a soft
Viterbi decoder; a decoded payload must pass its CRC-24 and name the sync pattern that was found
(30 check bits), which is a second test with a known false-positive bound.

What was tried and measured is in docs/watermark.md.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from emo_safe.watermark import _ecc

SCHEME = "org.emo-safe.wm.v1"
NORM_H = 256
T = 64
BAND = (2.7, 22.0)  # cycles per tile (radius in the T x T DFT)
PAYLOAD_BYTES = 6  # 48-bit generation id
N_CODED = 2 * (PAYLOAD_BYTES * 8 + _ecc.CRC_BITS + _ecc.K - 1)  # 156
N_SYNC = 64
TARGET_RMS = 2.6  # luma levels in the normalised domain (PSNR ~41 dB at 512 px; see docs)
SYNC_SHARE = 0.3  # share of the mark's energy spent on the sync pattern
A_SYNC = math.sqrt(SYNC_SHARE) * TARGET_RMS
A_BIT = math.sqrt((1 - SYNC_SHARE) / N_CODED) * TARGET_RMS
SCALES = tuple(np.round(np.arange(0.80, 1.0501, 0.01), 3))
SEGMENT_SECONDS = 1.0
EARLY_P = 1e-9  # a quick reading (at scale 1.0) this strong is final: the scale search is skipped


_LUMA_WEIGHTS = np.array([[0.299, 0.587, 0.114]], np.float32)  # BT.601, RGB order


def _luma(frame: np.ndarray) -> np.ndarray:
    # cv2.transform: one SIMD pass, a third of NumPy's three strided products (float32 sums
    # in another order: within 1e-4 levels)
    return cv2.transform(frame.astype(np.float32), _LUMA_WEIGHTS)


def norm_size(h: int, w: int) -> tuple[int, int]:
    """(height, width) of the normalised domain: the short side becomes NORM_H pixels."""
    f = NORM_H / min(h, w)
    return max(8, int(round(h * f))), max(8, int(round(w * f)))


def normalise(frame: np.ndarray) -> np.ndarray:
    return _normalised_luma(_luma(frame))


def _normalised_luma(y: np.ndarray) -> np.ndarray:
    nh, nw = norm_size(*y.shape)
    interp = cv2.INTER_AREA if y.shape[0] > nh else cv2.INTER_LINEAR
    return cv2.resize(y, (nw, nh), interpolation=interp)


def fold(img: np.ndarray) -> np.ndarray:
    """Sum of all T x T tiles (zero-padded to whole tiles)."""
    h, w = img.shape
    ph, pw = -h % T, -w % T
    if ph or pw:
        img = np.pad(img, ((0, ph), (0, pw)))
    return img.reshape((h + ph) // T, T, (w + pw) // T, T).sum(axis=(0, 2))


@lru_cache(maxsize=1)
def _band_mask() -> np.ndarray:
    k = np.fft.fftfreq(T) * T
    r = np.hypot(k[:, None], k[None, :])
    return (r >= BAND[0]) & (r <= BAND[1])


@dataclass(frozen=True)
class KeyMaterial:
    """Patterns derived from one 256-bit key. Never serialised."""

    sync: np.ndarray  # (N_SYNC, T, T) unit-RMS spatial patterns
    coded: np.ndarray  # (N_CODED, T, T)
    key_id: str

    def __repr__(self) -> str:
        return f"KeyMaterial(key_id={self.key_id!r})"


def _rng(key: bytes, label: str) -> np.random.Generator:
    seed = hmac.new(key, label.encode(), hashlib.sha256).digest()
    return np.random.default_rng(int.from_bytes(seed, "big"))


def _band_patterns(rng: np.random.Generator, n: int) -> np.ndarray:
    mask = _band_mask()
    noise = rng.standard_normal((n, T, T))
    spec = np.fft.fft2(noise) * mask
    pats = np.real(np.fft.ifft2(spec))
    pats /= pats.reshape(n, -1).std(axis=1)[:, None, None]
    return pats.astype(np.float32)


@lru_cache(maxsize=8)
def key_material(key: bytes) -> KeyMaterial:
    if len(key) != 32:
        raise ValueError("the watermark key must be 256 bits")
    key_id = hashlib.sha256(b"emo-safe watermark key id" + key).hexdigest()[:16]
    return KeyMaterial(
        sync=_band_patterns(_rng(key, "sync"), N_SYNC),
        coded=_band_patterns(_rng(key, "coded"), N_CODED),
        key_id=key_id,
    )


def sync_index(key: bytes, payload: bytes) -> int:
    return hmac.new(key, b"sync-index" + payload, hashlib.sha256).digest()[0] % N_SYNC


# --------------------------------------------------------------------------------------------
# embedding
class TiledEmbedder:
    """Adds one T x T luma tile, repeated over the normalised frame and resized to the frame:
    the mark does not depend on the content, so the pattern is computed once per frame size
    and each frame costs two saturating adds (about 0.1 ms per 512x512 frame). Shared by v1 and
    v2."""

    def __init__(self, tile: np.ndarray, max_output_rms: float | None = None) -> None:
        self._tile = tile
        self._max_output_rms = max_output_rms
        self._frame_cache: dict[tuple[int, int], np.ndarray] = {}
        self._steps: tuple[np.ndarray, np.ndarray] | None = None

    def pattern_for(self, h: int, w: int) -> np.ndarray:
        """The additive luma pattern for an h x w frame (cached: it does not depend on content)."""
        if (h, w) not in self._frame_cache:
            nh, nw = norm_size(h, w)
            reps = (math.ceil(nh / T), math.ceil(nw / T))
            tiled = np.tile(self._tile, reps)[:nh, :nw].astype(np.float32)
            if (nh, nw) != (h, w):
                tiled = cv2.resize(tiled, (w, h), interpolation=cv2.INTER_LINEAR)
            if self._max_output_rms is not None:
                # upsampling softens the band's upper part (a 512 px frame keeps ~80 % of the
                # normalised RMS); a frame at or below the normalised size keeps all of it, so
                # a cap holds the strength in the frame itself
                rms = float(np.sqrt(np.mean(tiled.astype(np.float64) ** 2)))
                if rms > self._max_output_rms:
                    tiled *= self._max_output_rms / rms
            self._frame_cache = {(h, w): tiled}
            self._steps = None
        return self._frame_cache[(h, w)]

    def _rounded(self, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
        """The pattern rounded to whole levels, as the (up, down) uint8 steps of an RGB frame:
        a frame is integer, so rounding frame + pattern is frame + the rounded pattern, and two
        saturating uint8 passes do the add and the clip (0.1 ms per 512x512 frame, 2.8 ms in
        floats)."""
        pattern = self.pattern_for(h, w)
        if self._steps is None:
            q = np.rint(pattern).astype(np.int16)
            up = np.clip(q, 0, 255).astype(np.uint8)
            down = np.clip(-q, 0, 255).astype(np.uint8)
            self._steps = (np.repeat(up[..., None], 3, axis=2),
                           np.repeat(down[..., None], 3, axis=2))
        return self._steps

    def embed(self, frame: np.ndarray) -> np.ndarray:
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError("frames must be RGB uint8 arrays of shape (h, w, 3)")
        up, down = self._rounded(*frame.shape[:2])
        return cv2.subtract(cv2.add(np.ascontiguousarray(frame), up), down)


def payload_tile(sync: np.ndarray, coded: np.ndarray, payload: bytes, a_sync: float,
                 a_bit: float) -> np.ndarray:
    """The minimum-norm tile whose projections are exactly ``a_sync`` on the sync pattern and
    +-``a_bit`` on each coded bit's pattern (q = P^T (P P^T)^-1 v), so the patterns' small
    random overlaps do not leak into each other."""
    coded_bits = _ecc.encode_payload(payload)
    pats = np.concatenate([sync[None], coded]).reshape(1 + len(coded), -1).astype(np.float64)
    targets = np.concatenate([[a_sync], a_bit * (2.0 * coded_bits - 1.0)])
    return (pats.T @ np.linalg.solve(pats @ pats.T, targets)).reshape(T, T) * (T * T)


class Embedder(TiledEmbedder):
    """v1's tile for (key, payload)."""

    def __init__(self, key: bytes, payload: bytes) -> None:
        if len(payload) != PAYLOAD_BYTES:
            raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes")
        km = key_material(key)
        super().__init__(payload_tile(km.sync[sync_index(key, payload)], km.coded, payload,
                                      A_SYNC, A_BIT))


# --------------------------------------------------------------------------------------------
# detection
@dataclass
class SegmentedSum:
    """A running sum of per-frame arrays: the whole clip and one-second segments."""

    fps: float
    total: np.ndarray | None = None
    segments: list[np.ndarray] = field(default_factory=list)
    _seg: np.ndarray | None = None
    _seg_frames: int = 0

    def add(self, y: np.ndarray) -> None:
        y = y.astype(np.float64)
        if self.total is None:
            self.total = np.zeros_like(y)
        elif y.shape != self.total.shape:
            y = cv2.resize(y, self.total.shape[::-1], interpolation=cv2.INTER_LINEAR)
        self.total += y
        self._seg = y.copy() if self._seg is None else self._seg + y
        self._seg_frames += 1
        if self._seg_frames >= max(1, round(self.fps * SEGMENT_SECONDS)):
            self.flush()

    def flush(self) -> None:
        if self._seg is not None:
            self.segments.append(self._seg)
        self._seg, self._seg_frames = None, 0


LUMA = "luma"  # the sums v1 reads: normalised luma as it is
SOURCE_LUMA = "source luma"  # a gatherer whose ``reads`` is this gets the luma at the frame's
# own size besides the normalised one (v2's reading at twice the normalised size)


class Accumulator:
    """Running sums over a clip of each frame's normalised luma (``LUMA``) and of any per-frame
    transform of it a scheme asks for (v2: a clipped residual), so that every frame is
    resized once however many schemes read it."""

    def __init__(self, fps: float, sums: dict | None = None) -> None:
        self.fps = fps
        self.frames = 0
        self._flushing = threading.Lock()  # schemes that share the sums may finish at once
        self._sums: dict[str, tuple] = {}  # kind -> (transform or None, its SegmentedSum)
        for kind, transform in (sums or {LUMA: None}).items():
            self.want(kind, transform)

    def want(self, kind: str, transform=None) -> None:
        """Also gather the sums of ``transform(normalised luma)`` under ``kind`` (before the
        first frame: a sum started late would miss frames). ``transform`` may also be a
        class of gatherers that keep their own state over the clip (v2's first frame): one
        is made per accumulator with the frame rate, is given every normalised
        frame (``add``) and is flushed at the end, as a :class:`SegmentedSum` is. A gatherer
        whose ``reads`` names a per-frame transform also gets that transform of the frame,
        computed once per frame however many sums read it; one whose ``reads`` is
        ``SOURCE_LUMA`` gets the frame's luma at the frame's own size."""
        if kind in self._sums:
            return
        if self.frames:
            raise RuntimeError("sums must be asked for before the first frame")
        if isinstance(transform, type):
            self._sums[kind] = (getattr(transform, "reads", None), transform(self.fps))
        else:
            self._sums[kind] = (transform, SegmentedSum(self.fps))

    def sums(self, kind: str = LUMA):
        return self._sums[kind][1]

    @property
    def total(self) -> np.ndarray | None:
        return self.sums().total

    @property
    def segments(self) -> list[np.ndarray]:
        return self.sums().segments

    def add(self, frame: np.ndarray) -> None:
        source = _luma(frame)
        y = _normalised_luma(source)
        computed = {SOURCE_LUMA: source}  # transform -> this frame's result: each computed once
        for transform, part in self._sums.values():
            if transform is None:
                part.add(y)
                continue
            if transform not in computed:
                computed[transform] = transform(y)
            if isinstance(part, SegmentedSum):
                part.add(computed[transform])
            else:  # a gatherer reads the frame and its transform
                part.add(y, computed[transform])
        self.frames += 1

    def finish(self) -> None:
        with self._flushing:
            for _, part in self._sums.values():
                part.flush()


@dataclass
class Detection:
    detected: bool
    p_value: float
    z: float
    payload: bytes | None
    frames: int
    scale: float | None = None
    shift: tuple[int, int] | None = None
    sync_index: int | None = None
    segment_z: list[float] = field(default_factory=list)
    hypotheses: int = 0


P_THRESHOLD = 1e-6


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


@lru_cache(maxsize=1)
def _rings() -> tuple[np.ndarray, int]:
    k = np.fft.fftfreq(T) * T
    r = np.rint(np.hypot(k[:, None], k[None, :])).astype(np.int64)
    return r, int(r.max()) + 1


def _whiten(tile: np.ndarray, band: np.ndarray | None = None) -> np.ndarray:
    """Band-limited, spectrally whitened DFT of a folded tile.

    Natural images have far more energy at low frequencies; dividing each ring of the spectrum
    by its own RMS (estimated from the tile itself) is the matched filter for that coloured
    noise and makes the correlation surface's spread an honest noise estimate.
    """
    spec = np.fft.fft2(tile)
    r, n = _rings()
    power = np.bincount(r.ravel(), weights=(np.abs(spec) ** 2).ravel(), minlength=n)
    count = np.bincount(r.ravel(), minlength=n)
    rms = np.sqrt(power / np.maximum(count, 1))
    return spec * (_band_mask() if band is None else band) / np.maximum(rms[r], 1e-9)


N_CANDIDATES = 8  # alignments whose payload is decoded


HIGHPASS_SIGMA = 3.0  # normalised pixels; the band's longest wavelength is ~24


def _folded(img: np.ndarray, scale: float) -> np.ndarray:
    """Rescale (cubic: linear interpolation blurs the band's high rings), high-pass, fold.

    The high-pass matters when the image is not a whole number of tiles (any crop): folding
    zero-pads it, and the step from the content's mean to zero would otherwise leak into every
    ring (measured: sync z 5.2 instead of 9.1 on a 5% crop of a static portrait). Whitening
    equalises the rings afterwards, so the high-pass's own attenuation of the band is harmless.
    """
    if scale != 1.0:
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    img = img - cv2.GaussianBlur(img, (0, 0), HIGHPASS_SIGMA, borderType=cv2.BORDER_REFLECT)
    return fold(img)


def _refine(spec_at, cand: tuple, sync_spec: np.ndarray) -> tuple:
    """Polish a candidate's scale in 0.2% steps (the coarse grid is 1%); ``spec_at(scale)``
    is the whitened folded sum at a scale."""
    z0, scale0, shift0, j = cand
    best = cand
    for scale in np.round(scale0 + np.arange(-0.008, 0.0081, 0.002), 4):
        if scale == scale0 or scale <= 0:
            continue
        surf = np.real(np.fft.ifft2(spec_at(float(scale)) * sync_spec[j]))
        z = float(surf.max() / max(surf.std(), 1e-12))
        if z > best[0]:
            best = (z, float(scale), divmod(int(surf.argmax()), T), j)
    return best


def _soft_bits(spec: np.ndarray, coded_spec: np.ndarray, sync_conj: np.ndarray,
               dy: int, dx: int, weight_power: float = 1.0) -> np.ndarray:
    """Soft payload bits at an alignment, with every frequency ring weighted by its SNR
    (to ``weight_power``: v2 uses the square root).

    The sync pattern's per-ring correlation tells how much of the mark survived in each ring
    (compression removes the high rings first); rings where nothing survived only add noise.
    """
    r, n = _rings()
    k = np.fft.fftfreq(T)
    phase = np.exp(2j * np.pi * (dy * k[:, None] + dx * k[None, :]))  # undo the cyclic shift
    aligned = spec * phase
    gain = np.bincount(r.ravel(), weights=np.real(aligned * sync_conj).ravel(), minlength=n)
    norm = np.bincount(r.ravel(), weights=np.abs(sync_conj).ravel() ** 2, minlength=n)
    snr = np.clip(gain / np.maximum(norm, 1e-12), 0, None)
    weighted = aligned * (snr[r] if weight_power == 1.0 else snr[r] ** weight_power)
    soft = np.real(np.einsum("kij,ij->k", np.conj(coded_spec), weighted))
    return soft / max(float(np.std(soft)), 1e-12)


def segment_z(segments: list[np.ndarray], whitened_tile, sync_conj: np.ndarray, dy: int,
              dx: int) -> list[float]:
    """Each one-second segment's sync z-score at the alignment found (the report's chart);
    ``whitened_tile`` maps a segment's luma sum to its whitened tile spectrum."""
    out = []
    for seg in segments:
        s = np.real(np.fft.ifft2(whitened_tile(seg) * sync_conj))
        out.append(float(s[dy, dx] / max(s.std(), 1e-12)))
    return out


def detect(acc: Accumulator, key: bytes, scales: tuple[float, ...] = SCALES) -> Detection:
    """Search scale (``scales``: a subset of :data:`SCALES` for a quick reading; the p-value
    counts them all), shift and sync pattern; decode the payload at the best candidates.

    Two tests, each with a known false-positive bound, combined by Bonferroni:
    - sync: the best correlation peak's z-score, corrected for every hypothesis tried;
    - payload: a decoded payload passes its CRC-24 and names the sync pattern found
      (30 check bits), corrected for the candidates tried.
    """
    km = key_material(key)
    if acc.total is None or acc.frames == 0:
        return Detection(False, 1.0, 0.0, None, 0)
    sync_spec = np.conj(np.fft.fft2(km.sync))
    # the whitened fold at each scale, read once: candidates with several sync patterns at one
    # scale, and their refinements, share it
    specs: dict[float, np.ndarray] = {}

    def spec_at(scale: float) -> np.ndarray:
        if scale not in specs:
            specs[scale] = _whiten(_folded(acc.total, scale))
        return specs[scale]

    candidates = []  # (z, scale, (dy, dx), j)
    for scale in scales:
        spec = spec_at(float(scale))
        surf = np.real(np.fft.ifft2(spec[None] * sync_spec)).reshape(N_SYNC, -1)
        z = surf.max(axis=1) / np.maximum(surf.std(axis=1), 1e-12)
        arg = surf.argmax(axis=1)
        for j in np.argsort(z)[-N_CANDIDATES:]:
            candidates.append((float(z[j]), scale, divmod(int(arg[j]), T), int(j)))
    candidates.sort(key=lambda c: c[0], reverse=True)
    candidates = candidates[:N_CANDIDATES]
    hypotheses = len(SCALES) * T * T * N_SYNC
    z_best = candidates[0][0]
    p_sync = min(1.0, hypotheses * _norm_sf(z_best))
    p_payload_bound = N_CANDIDATES * 2.0 ** -(_ecc.CRC_BITS + int(math.log2(N_SYNC)))

    coded_spec = np.fft.fft2(km.coded)  # (N_CODED, T, T)
    chosen = candidates[0]
    payload = None
    for cand in candidates:
        cand = _refine(spec_at, cand, sync_spec)
        _, scale, (dy, dx), j = cand
        soft = _soft_bits(spec_at(float(scale)), coded_spec, sync_spec[j], dy, dx)
        decoded, _ = _ecc.decode_payload(soft, PAYLOAD_BYTES)
        if decoded is not None and sync_index(key, decoded) == j:
            payload, chosen = decoded, cand
            break
    z, scale, (dy, dx), j = chosen
    p = min(1.0, 2 * min(p_sync, p_payload_bound if payload is not None else 1.0))

    seg_z = segment_z(acc.segments, lambda seg: _whiten(_folded(seg, scale)), sync_spec[j],
                      dy, dx)

    return Detection(
        detected=p <= P_THRESHOLD,
        p_value=p,
        z=z,
        payload=payload,
        frames=acc.frames,
        scale=float(scale),
        shift=(int(dy), int(dx)),
        sync_index=j,
        segment_z=seg_z,
        hypotheses=hypotheses,
    )
