"""Internals of the video mark ``org.emo-safe.wm.v2``: v1's tiled luma mark, read through a
geometric search, so that flips, rotations, scale and aspect changes and crops are undone
before the payload is read. Not API: use :mod:`emo_safe.watermark.v2`.

How it works
------------
Domain (as v1). Every frame's luma is resized so its short side is ``NORM_H`` pixels, and the
mark is one ``T`` x ``T`` tile repeated over that frame, so a translation is a cyclic shift
of the tile and a downscale changes nothing. The tile is one of ``N_SYNC`` keyed **sync**
patterns (chosen per generation by a keyed hash of the payload) plus ``N_CODED`` **payload**
patterns, one per coded bit (CRC-24 + the K=7 rate-1/2 code of :mod:`._ecc`), all in the band
``BAND`` with the amplitude tilted up as radius ** ``TILT``. No template is embedded.

Detection (one pass over the frames, then a search on their sum):
1. *Plain readings.* The sum as it is, in the lattice's eight symmetries (mirrors, right
   angles) and at v1's zooms, is aligned and decoded (step 3) first; a payload at
   p <= ``EARLY_P`` ends the search.
2. *Registration.* A repeated tile puts all of the mark's energy on the lattice of the tile's
   integer frequencies, wherever an affine edit moved it. The high-passed, tapered sum's DFT
   magnitude (``P`` x ``P``), as contrast against each bin's local neighbourhood, is scored
   at the moved lattice points: a Fourier-Mellin (log-polar) correlation per aspect gives every
   rotation and zoom at once, and the best cells are refined on finer grids
   (:func:`register`). The best ``N_REGISTERED`` registrations are aligned in all eight
   symmetries (the square lattice cannot tell them apart).
3. *Alignment and payload.* Each candidate warp maps the sum back into the tile grid, folds,
   whitens and correlates it with every sync pattern at every cyclic shift (FFTs, as v1); the
   best are polished on a small rotation x zoom grid. The best peak's z-score gets a p-value
   Bonferroni-corrected for every hypothesis of the full search (warps x polish steps x shifts
   x sync patterns), also when it stopped early. Soft bits from the payload patterns (each
   ring weighted by the square root of the sync pattern's SNR in it) go to the soft Viterbi
   decoder; a payload counts when its CRC passes and its keyed hash names the sync pattern
   found. The registration looks at magnitudes only, the sync test at phases against keyed
   patterns, so selecting warps by the first does not inflate the second. When no candidate
   decodes, each gets a *keystone* (perspective) correction fitted to where the sync
   pattern peaks in windows of the frame (:func:`keystone`), and is decoded once more; only
   the payload check of those tries counts (``SEARCH_TRIES``).
4. *The first frame.* When nothing above decodes, the clip's first frame is read on its own
   at the plain warps (:class:`FirstFrame`): every encode starts on a key frame coded on its
   own, and at a high quantiser on moving content that is where the mark is whole; the later
   frames carry it along the motion vectors, blurred by each prediction, so the static sum
   loses it. The false-alarm budget is split between the search (``W_SEARCH``), this
   reading (``W_FIRST_FRAME``) and the next (``W_FINE``), each with its own hypotheses (a
   weighted Bonferroni bound).
5. *The fine domain.* When nothing above decodes, the sum of the frames' luma at twice the
   normalised size (:class:`FineSum`) is registered over the zooms the normalised domain
   cannot read (a copy shrunk to 0.4 of a 512 x 512 frame, picture-in-picture, has half the
   band past its Nyquist) and read in all eight symmetries.

Time edits (speed, frame rate, dropped, swapped, averaged or reversed frames, excerpts) do not
matter: the mark is the same in every frame and detection sums them.

Patterns come from SHAKE-256 of a key derived from the workspace key with the label
``emo-safe video mark v2`` (never from a seeded NumPy generator, whose streams may change between
NumPy versions and would orphan every marked file). What was tried and measured:
docs/watermark.md.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from emo_safe.watermark import _codec as _v1
from emo_safe.watermark import _ecc

SCHEME = "org.emo-safe.wm.v2"
KEY_LABEL = b"emo-safe video mark v2"
NORM_H = _v1.NORM_H  # 256
T = _v1.T  # 64
BAND = (2.7, 24.0)  # cycles per tile: sync and payload patterns
TILT = 0.5  # pattern amplitude grows as radius ** TILT across the band (see docs/watermark.md)
PAYLOAD_BYTES = 6
N_CODED = len(_ecc.encode_payload(bytes(PAYLOAD_BYTES)))  # 156
N_SYNC = 16

TARGET_RMS = 2.15  # luma levels in the normalised domain (PSNR ~43.4 dB at 512 px; see docs)
MAX_OUTPUT_RMS = 1.9  # luma levels in the frame itself: PSNR >= 42.5 dB at any size
SYNC_SHARE = 0.3
A_SYNC = math.sqrt(SYNC_SHARE) * TARGET_RMS
A_BIT = math.sqrt((1 - SYNC_SHARE) / N_CODED) * TARGET_RMS

# registration search
P = 512  # DFT size of the registration spectrum
ROTATION_RANGE = 21.0  # degrees either way (the lattice's symmetries give the right angles)
SCALE_RANGE = (0.38, 2.6)
LOG_ASPECTS = np.round(np.arange(-7, 8) * 0.05, 3)  # 0.70-1.42, the identity included
LOCAL_BOX = 9
COARSE_BOXES = (1, 5)  # the Fourier-Mellin stage reads the spectrum as it is and max-filtered
LP_ANGLES = 360  # 0.5 degree
LP_RADII = 256
LP_RHO_MIN = 6.0  # bins
LP_STEP = math.log(0.45 * P / LP_RHO_MIN) / LP_RADII
N_COARSE = 12  # coarse cells refined
N_REGISTERED = 3  # registrations aligned (besides the identity), each in 8 symmetries
N_CANDIDATES = 4  # alignments whose payload is decoded
POLISH = [(dr, ds) for dr in (-0.3, -0.15, 0.0, 0.15, 0.3)
          for ds in (-0.006, -0.003, 0.0, 0.003, 0.006)]
HIGHPASS_SIGMA = 3.0


def derive_key(key: bytes) -> bytes:
    if len(key) != 32:
        raise ValueError("the watermark key must be 256 bits")
    return hmac.new(key, KEY_LABEL, hashlib.sha256).digest()


def _normals(key: bytes, label: bytes, n: int) -> np.ndarray:
    """n standard normals from SHAKE-256 (Box-Muller on 53-bit uniforms)."""
    raw = np.frombuffer(hashlib.shake_256(key + label).digest(16 * n), "<u8").reshape(n, 2)
    u1 = ((raw[:, 0] >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0**53
    u2 = (raw[:, 1] >> np.uint64(11)).astype(np.float64) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@dataclass(frozen=True)
class KeyMaterial:
    """Patterns derived from one 256-bit key. Never serialised."""

    sync: np.ndarray  # (N_SYNC, T, T) unit-RMS
    coded: np.ndarray  # (N_CODED, T, T) unit-RMS
    key_id: str

    def __repr__(self) -> str:
        return f"KeyMaterial(key_id={self.key_id!r})"


def _band_patterns(key: bytes, label: bytes, n: int, mask: np.ndarray) -> np.ndarray:
    noise = _normals(key, label, n * T * T).reshape(n, T, T)
    k = np.fft.fftfreq(T) * T
    tilt = np.hypot(k[:, None], k[None, :]) ** TILT
    pats = np.real(np.fft.ifft2(np.fft.fft2(noise) * mask * tilt))
    pats /= pats.reshape(n, -1).std(axis=1)[:, None, None]
    return pats.astype(np.float32)


@lru_cache(maxsize=8)
def key_material(key: bytes) -> KeyMaterial:
    derived = derive_key(key)
    k = np.fft.fftfreq(T) * T
    r = np.hypot(k[:, None], k[None, :])
    mask = (r >= BAND[0]) & (r <= BAND[1])
    key_id = hashlib.sha256(b"emo-safe video watermark v2 key id" + derived).hexdigest()[:16]
    return KeyMaterial(sync=_band_patterns(derived, b"sync", N_SYNC, mask),
                       coded=_band_patterns(derived, b"coded", N_CODED, mask), key_id=key_id)


def sync_index(key: bytes, payload: bytes) -> int:
    return hmac.new(derive_key(key), b"sync-index" + payload, hashlib.sha256).digest()[0] \
        % N_SYNC


# --------------------------------------------------------------------------------------------
# embedding
class Embedder(_v1.TiledEmbedder):
    """v2's tile for (key, payload), at most ``MAX_OUTPUT_RMS`` in the frame itself."""

    def __init__(self, key: bytes, payload: bytes) -> None:
        if len(payload) != PAYLOAD_BYTES:
            raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes")
        km = key_material(key)
        tile = _v1.payload_tile(km.sync[sync_index(key, payload)], km.coded, payload, A_SYNC,
                                A_BIT)
        super().__init__(tile, max_output_rms=MAX_OUTPUT_RMS)


# --------------------------------------------------------------------------------------------
# what detection sums
RESIDUAL_SIGMA = 1.0  # normalised pixels: the content prediction the residual is taken from
CLIP_K = 0.25  # the residual is clipped at CLIP_K x its robust standard deviation
CLIP_FLOOR = 0.05  # luma levels: a flat frame's clip level (its residual is ~0 anyway)


def clipped_residual(y: np.ndarray) -> np.ndarray:
    """One frame's normalised luma minus a local prediction of it (a Gaussian blur), clipped
    to +-``CLIP_K`` robust standard deviations: nearly the sign of the residual.

    The content left in a high-passed frame is heavy-tailed (edges, texture, codec ringing),
    and a linear correlator lets every edge count as much as its contrast; clipping is the
    locally optimum detector for such noise and bounds what any one pixel can add. Measured on
    the benchmark's clips, sync z at the true pattern (linear sum -> clipped residuals):
    coffee pan H.264 CRF 28 twice 8.3 -> 13.7 (the payload now decodes), moving portrait
    CRF 28 12.4 -> 16, CRF 35 3.4 -> 7.5, static portrait H.265 CRF 35 8.7 -> 14.4
    (docs/watermark.md)."""
    r = y - cv2.GaussianBlur(y, (0, 0), RESIDUAL_SIGMA, borderType=cv2.BORDER_REFLECT)
    c = max(CLIP_K * 1.4826 * float(np.median(np.abs(r[::4, ::4]))), CLIP_FLOOR)
    return np.clip(r, -c, c, out=r)


RESIDUAL = "clipped residual"
FIRST_FRAME = "first frame's clipped residual"


class FirstFrame:
    """The clip's first frame's clipped residual, kept on its own.

    Why: an encoder at a high quantiser codes the mark into its key frame and then carries it
    along the motion vectors, blurring it with every prediction, so on moving content the
    mark drifts with the picture and the static tile decays behind it. The key frame alone
    keeps it best. On the 720p pan (``benchmarks/watermark_motion.py``) through H.265 CRF 35:
    sync z 11.6 in the first frame, 4.6 in the first second as it is, 10.3 in the first
    second with the pan undone; through three re-uploads (six runs, whose encodes differ):
    8.1-9.1 and the payload in six of six, against 7.3-8.1 and two of six for the first
    second with the pan undone, which v2 read until 2026-12-03 at twice this reading's cost.
    Only the first frame: it is the one frame known to be a key frame, and each reading costs
    hypotheses."""

    reads = staticmethod(clipped_residual)  # the accumulator computes it once per frame

    def __init__(self, fps: float) -> None:
        self.first: np.ndarray | None = None

    def add(self, y: np.ndarray, residual: np.ndarray | None = None) -> None:
        """``residual``: ``clipped_residual(y)`` when the caller has it already."""
        if self.first is None:
            r = clipped_residual(y.astype(np.float32)) if residual is None else residual
            self.first = np.array(r, np.float64)  # its own copy, not an alias of the caller's

    def flush(self) -> None:
        pass


FINE = "luma at twice the normalised size"
FINE_SHORT_SIDE = 2 * NORM_H  # the fine domain's short side (the source's, when smaller)
FINE_MIN_SOURCE = 1.5 * NORM_H  # a smaller source holds little the normalised domain loses


class FineSum:
    """The sum of every frame's luma at twice the normalised size (short side
    ``FINE_SHORT_SIDE``, or the source's own between ``FINE_MIN_SOURCE`` and that), for marks
    shrunk too far for the normalised domain.

    Why: the normalised domain halves a 512 x 512 frame, so a copy of the clip shrunk to 0.4
    of it (picture-in-picture) holds the mark at 0.4 of its size there, and the upper half of
    the band (up to 0.375 cycles per pixel, moved to 0.94) is past Nyquist. In the source's
    own pixels the same copy holds the band up to 0.47 cycles per pixel: nearly all of it.
    A plain sum (no per-frame residual) costs one add per pixel, and its mean's clipped
    residual read as well as the sum of per-frame residuals on the benchmark's
    picture-in-picture copies (static portrait: sync z 11.5 both; 720p pan 12.2 against
    10.0). Nothing is gathered for a source whose short side is below ``FINE_MIN_SOURCE``."""

    reads = _v1.SOURCE_LUMA

    def __init__(self, fps: float) -> None:
        self.total: np.ndarray | None = None
        self.frames = 0
        self.factor = 0.0  # fine pixels per normalised pixel (0: nothing gathered)
        self._size: tuple[int, int] | None = None  # (w, h) of the fine domain
        self._off = False

    def add(self, y: np.ndarray, source: np.ndarray) -> None:
        if self._off:
            return
        if self._size is None:
            h, w = source.shape
            short = min(h, w)
            if short < FINE_MIN_SOURCE:
                self._off = True
                return
            f = min(FINE_SHORT_SIDE, short) / short
            self._size = (max(8, round(w * f)), max(8, round(h * f)))
            self.factor = min(FINE_SHORT_SIDE, short) / NORM_H
            self.total = np.zeros(self._size[::-1])
        if source.shape[::-1] != self._size:
            # INTER_LINEAR: a fifth of INTER_AREA's time on a 720p frame, and the band sits
            # below the fine domain's Nyquist either way
            source = cv2.resize(source, self._size, interpolation=cv2.INTER_LINEAR)
        cv2.accumulate(np.ascontiguousarray(source, np.float32), self.total)  # 2.4x numpy's
        self.frames += 1

    def flush(self) -> None:
        pass

    def residual(self) -> np.ndarray | None:
        """The high-passed clipped residual of the mean frame (None when nothing was
        gathered)."""
        if self.total is None or not self.frames:
            return None
        return _highpass(clipped_residual((self.total / self.frames).astype(np.float32))
                         .astype(np.float64))


SUMS = {RESIDUAL: clipped_residual, FIRST_FRAME: FirstFrame, FINE: FineSum}


def accumulator(fps: float) -> _v1.Accumulator:
    """An accumulator gathering what :func:`detect` reads."""
    return _v1.Accumulator(fps, SUMS)


# --------------------------------------------------------------------------------------------
# registration
@dataclass(frozen=True)
class Warp:
    """observed = A @ canonical (x, y column vectors); A = scale * stretch @ rotation @ flip,
    the stretch diag(sqrt(aspect), 1/sqrt(aspect)) along the frame's own axes."""

    flip: bool
    rotation: float  # degrees
    log_scale: float
    log_aspect: float

    @property
    def matrix(self) -> np.ndarray:
        th = math.radians(self.rotation)
        c, s = math.cos(th), math.sin(th)
        a = math.exp(self.log_aspect / 2)
        f = np.diag([-1.0, 1.0]) if self.flip else np.eye(2)
        return math.exp(self.log_scale) * np.diag([a, 1 / a]) @ np.array([[c, -s], [s, c]]) @ f

    def moved(self, rotation: float = 0.0, log_scale: float = 0.0) -> Warp:
        return Warp(self.flip, self.rotation + rotation, self.log_scale + log_scale,
                    self.log_aspect)

    def turned(self, quarter_turns: int, flip: bool) -> Warp:
        """The same lattice, another of its eight symmetries (the lattice cannot tell)."""
        return Warp(self.flip ^ flip, self.rotation + 90 * quarter_turns, self.log_scale,
                    self.log_aspect)

    def describe(self) -> dict:
        """What was undone: a mirror (before the rotation), the rotation in degrees, the zoom
        (observed size over marked size: a crop that is not resized back zooms in) and the
        stretch of the width over the height."""
        return {"flip": self.flip, "rotation": round(self.rotation % 360, 2),
                "zoom": round(math.exp(self.log_scale), 4),
                "aspect": round(math.exp(self.log_aspect), 4)}


IDENTITY = Warp(False, 0.0, 0.0, 0.0)


def _highpass(img: np.ndarray) -> np.ndarray:
    return img - cv2.GaussianBlur(img, (0, 0), HIGHPASS_SIGMA, borderType=cv2.BORDER_REFLECT)


def _registration_spectrum(hp: np.ndarray) -> np.ndarray:
    """DFT magnitude (P x P, centred) of the high-passed image, tapered at its edges, as the
    contrast of each bin against the mean of its 9 x 9 neighbourhood (the tiled mark is sharp
    peaks on the lattice, the content smooth), clipped so one strong line of the content
    cannot outweigh many lattice points."""
    h, w = hp.shape
    if max(h, w) > P:  # a very long frame: keep the middle
        y0, x0 = max(0, (h - P) // 2), max(0, (w - P) // 2)
        hp = hp[y0 : y0 + P, x0 : x0 + P]
        h, w = hp.shape
    canvas = np.zeros((P, P))
    canvas[:h, :w] = hp * np.outer(np.hanning(h), np.hanning(w)) ** 0.5
    mag = np.fft.fftshift(np.abs(np.fft.fft2(canvas)))
    n = LOCAL_BOX * LOCAL_BOX
    local = (cv2.blur(mag, (LOCAL_BOX, LOCAL_BOX), borderType=cv2.BORDER_REFLECT) * n - mag) \
        / (n - 1)
    return np.minimum(mag / np.maximum(local, 1e-9), 6.0).astype(np.float32)


@lru_cache(maxsize=1)
def _lattice() -> np.ndarray:
    """(n, 2) lattice frequencies (fx, fy) in cycles per normalised pixel: every integer
    frequency of the tile in the band, in a half plane (the magnitude is symmetric)."""
    r = int(BAND[1])
    pts = [(fx, fy) for fy in range(0, r + 1) for fx in range(-r, r + 1)
           if (fy > 0 or fx > 0) and BAND[0] <= math.hypot(fx, fy) <= BAND[1]]
    return np.array(pts, np.float64) / T


def _inverse_transposes(rot: np.ndarray, log_scale: np.ndarray,
                        log_aspect: np.ndarray) -> np.ndarray:
    """A^-T for A = s D(a) R: (1/s) D(a)^-1 R (R^-T = R, D diagonal); shape (n, 2, 2)."""
    th = np.radians(rot)
    c, s = np.cos(th), np.sin(th)
    a = np.exp(log_aspect / 2)
    inv_s = np.exp(-log_scale)
    out = np.empty((len(th), 2, 2))
    out[:, 0, 0], out[:, 0, 1] = inv_s * c / a, -inv_s * s / a
    out[:, 1, 0], out[:, 1, 1] = inv_s * s * a, inv_s * c * a
    return out


def _scores(spec: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """How far the spectrum stands above its background (1) at the lattice moved by each
    transform, given as the (n, 2, 2) inverse transposes (a frequency f of the canonical frame
    is at A^-T f once the frame is transformed by A): the sum over the lattice points that are
    below 0.45 cycles per pixel, over the square root of their number (so a small scale, which
    moves most of the lattice past Nyquist, is not penalised for it)."""
    # float32 coordinates and one flat gather, with the points out of range sent to an extra
    # zero: the registration's largest cost on a clip nothing decodes (0.35 s of 0.6 s before)
    px, py = (_lattice() * P).T.astype(np.float32)
    m = mats.astype(np.float32)
    fx = m[:, 0, 0, None] * px + m[:, 0, 1, None] * py
    fy = m[:, 1, 0, None] * px + m[:, 1, 1, None] * py
    limit = np.float32(P * 0.45)
    inside = (np.abs(fx) < limit) & (np.abs(fy) < limit)
    flat = (np.rint(fy).astype(np.int32) + P // 2) * P + np.rint(fx).astype(np.int32) + P // 2
    flat[~inside] = P * P
    total = np.take(np.append(spec.ravel() - 1.0, 0.0), flat).sum(axis=1)
    return total / np.sqrt(np.maximum(inside.sum(axis=1), 1))


def _log_polar(spec: np.ndarray, log_aspect: float) -> np.ndarray:
    """The spectrum (minus its background of 1) on a (angle, log radius) grid, with the frame's
    stretch ``log_aspect`` undone: a rotation is then a cyclic shift in angle and a scale a
    shift in log radius."""
    th = np.radians(np.arange(LP_ANGLES) * 180.0 / LP_ANGLES)
    rho = LP_RHO_MIN * np.exp(np.arange(LP_RADII) * LP_STEP)
    a = math.exp(log_aspect / 2)
    fx = rho[None, :] * np.cos(th)[:, None] / a
    fy = rho[None, :] * np.sin(th)[:, None] * a
    col = np.rint(fx + P // 2).astype(np.int64)
    row = np.rint(fy + P // 2).astype(np.int64)
    ok = (np.abs(fx) < P * 0.45) & (np.abs(fy) < P * 0.45)
    vals = spec[np.clip(row, 0, P - 1), np.clip(col, 0, P - 1)] - 1.0
    return np.where(ok, vals, 0.0), ok


@lru_cache(maxsize=1)
def _lattice_log_polar() -> np.ndarray:
    """The canonical lattice (at scale 1) on the same grid, as FFT for the correlation."""
    pts = _lattice() * P
    grid = np.zeros((LP_ANGLES, 2 * LP_RADII))
    th = np.degrees(np.arctan2(pts[:, 1], pts[:, 0])) % 180.0
    rr = np.log(np.hypot(pts[:, 0], pts[:, 1]) / LP_RHO_MIN) / LP_STEP
    np.add.at(grid, (np.rint(th * LP_ANGLES / 180.0).astype(int) % LP_ANGLES,
                     np.rint(rr).astype(int)), 1.0)
    return np.conj(np.fft.rfft2(grid))


def _grid(rot: float, rot_step: float, ls: float, ls_step: float, la: float,
          la_step: float) -> tuple[np.ndarray, ...]:
    axes = [np.arange(-r, r + step / 2, step) for r, step in ((rot, rot_step), (ls, ls_step),
                                                              (la, la_step))]
    return tuple(g.ravel() for g in np.meshgrid(*axes, indexing="ij"))


def register(hp: np.ndarray, scale_range: tuple[float, float] | None = None,
             log_aspects: np.ndarray | None = None, n_coarse: int = N_COARSE
             ) -> list[tuple[float, Warp]]:
    """The best few lattice registrations: a Fourier-Mellin correlation (every rotation and
    scale in ``scale_range``, default ``SCALE_RANGE``, at once) for each of ``log_aspects``
    (default ``LOG_ASPECTS``) on the spectrum as it is and max-filtered, then finer grids
    around the best ``n_coarse`` cells of each. The lattice's own right-angle and mirror
    symmetries are left to the alignment, which tries all eight."""
    scale_range = SCALE_RANGE if scale_range is None else scale_range
    log_aspects = LOG_ASPECTS if log_aspects is None else log_aspects
    spec = _registration_spectrum(hp)
    template = _lattice_log_polar()
    shift_lo = int(math.floor(-math.log(scale_range[1]) / LP_STEP))
    shift_hi = int(math.ceil(-math.log(scale_range[0]) / LP_STEP))
    shifts = np.arange(shift_lo, shift_hi + 1)
    angles = (np.arange(LP_ANGLES) * 180.0 / LP_ANGLES + 90) % 180 - 90
    kept = np.flatnonzero(np.abs(angles) <= ROTATION_RANGE)
    seeds: list[tuple] = []  # (score, rotation, log_scale, log_aspect, filter size)
    for box in COARSE_BOXES:
        coarse = spec if box == 1 else cv2.dilate(spec, np.ones((box, box), np.uint8))
        # the max filter raises the background above 1: bring it back, or hypotheses that
        # keep more of the lattice below Nyquist would score for the background alone
        coarse = coarse - (float(np.median(coarse)) - 1.0)
        cells = []
        for la in log_aspects:
            lp = np.zeros((2, LP_ANGLES, 2 * LP_RADII))
            lp[0, :, :LP_RADII], lp[1, :, :LP_RADII] = _log_polar(coarse, float(la))
            # [angle shift, radius shift]: the sum over the lattice points in range, and
            # their count
            total, count = np.fft.irfft2(np.fft.rfft2(lp) * template, s=lp.shape[1:])
            corr = total / np.sqrt(np.maximum(count, 1.0))
            # observed radius = canonical radius / s: shift = -log(s) / step
            sub = corr[kept][:, shifts % (2 * LP_RADII)]
            flat = sub.ravel()
            top = np.argpartition(flat, -n_coarse)[-n_coarse:]  # not a full sort
            for idx in top[np.argsort(flat[top])[::-1]]:
                i, j = divmod(int(idx), len(shifts))
                cells.append((float(sub[i, j]), float(angles[kept[i]]), -shifts[j] * LP_STEP,
                              float(la), box))
        # each filter's own best cells (the two scores are not on one scale), distinct from
        # each other and from the other filter's
        cells.sort(key=lambda c: c[0], reverse=True)
        mine = 0
        for c in cells:
            if all(abs(c[1] - d[1]) > 2 or abs(c[2] - d[2]) > 0.05 or abs(c[3] - d[3]) > 0.06
                   for d in seeds):
                seeds.append(c)
                mine += 1
            if mine == n_coarse:
                break
    # two refinements: a wide one, then a narrow one on the spectrum itself. The wide one of a
    # seed from the max-filtered spectrum reads a lightly max-filtered one (the coarse filter
    # merges neighbouring lattice points once a zoom packs them closer than its width); a seed
    # from the spectrum as it is is already within the coarse grid's steps of its peak, and a
    # filtered spectrum would draw it to the content's own peaks (a 55 % crop of the static
    # portrait: the peak at score 2.6 lost to content at 2.3)
    medium = cv2.dilate(spec, np.ones((3, 3), np.uint8))
    wide_unfiltered = (_grid(0.5, 0.25, 0.02, 0.005, 0.04, 0.01), spec)
    wide_filtered = (_grid(0.75, 0.25, 0.05, 0.01, 0.08, 0.02), medium)
    fine = (_grid(0.3, 0.15, 0.01, 0.0025, 0.015, 0.0075), spec)
    found: list[tuple[float, Warp]] = []
    for _, rot, ls, la, box in seeds:
        for grid, sp in (wide_unfiltered if box == 1 else wide_filtered, fine):
            fr, fs, fa = grid
            sc = _scores(sp, _inverse_transposes(rot + fr, ls + fs, la + fa))
            k = int(np.argmax(sc))
            rot, ls, la = float(rot + fr[k]), float(ls + fs[k]), float(la + fa[k])
        found.append((float(sc[k]), Warp(False, rot, ls, la)))
    found.sort(key=lambda c: c[0], reverse=True)
    distinct: list[tuple[float, Warp]] = []
    for score, w in found:  # seeds that refined to the same warp count once
        if all(abs(w.rotation - d.rotation) > 0.5 or abs(w.log_scale - d.log_scale) > 0.01
               or abs(w.log_aspect - d.log_aspect) > 0.02 for _, d in distinct):
            distinct.append((score, w))
    return distinct[:N_REGISTERED]


# --------------------------------------------------------------------------------------------
# alignment and payload
def _canonical_map(shape: tuple[int, int], warp: Warp) -> tuple[np.ndarray, tuple[int, int]]:
    """The 3 x 3 map from canonical tile-grid coordinates (x, y, 1) to the observed image's,
    and the canonical image's size (w, h): big enough to hold the whole observed frame."""
    a = warp.matrix
    h, w = shape
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64) - [w / 2, h / 2]
    mapped = corners @ np.linalg.inv(a).T
    cw, ch = (int(v) for v in np.minimum(np.ceil(mapped.max(axis=0) - mapped.min(axis=0)),
                                         4 * max(h, w)))
    # canonical (x, y) -> observed: A (x - c_can) + c_obs
    m = np.hstack([a, (np.array([w / 2, h / 2]) - a @ np.array([cw / 2, ch / 2]))[:, None]])
    return np.vstack([m, [0.0, 0.0, 1.0]]), (cw, ch)


def canonical(hp: np.ndarray, warp: Warp, keystone: np.ndarray | None = None) -> np.ndarray:
    """The (high-passed) observed image mapped back into the canonical tile grid (the image
    itself for the identity, which needs no resampling); ``keystone`` (3 x 3, from
    :func:`keystone`) corrects the affine warp's canonical coordinates further."""
    if warp == IDENTITY and keystone is None:
        return hp
    m, size = _canonical_map(hp.shape, warp)
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP
    if keystone is None:
        return cv2.warpAffine(hp, m[:2], size, flags=flags, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=0.0)
    return cv2.warpPerspective(hp, m @ keystone, size, flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


# Keystone (perspective) correction, for the payload only. A perspective warp is affine only
# locally, so the global affine registration leaves the tile misaligned by a few pixels
# towards the corners, which is enough to blur the band's upper rings out of the fold. Each
# pass reads the sync pattern's peak in a grid of windows of the canonical image near the
# whole image's peak, fits the homography that moves every window's peak onto it (weighted
# by how far each stands out of the noise) and warps again.
KEYSTONE_WINDOW = 2  # tiles per window side
KEYSTONE_GRID = 4  # windows per side (overlapping)
KEYSTONE_RADII = (5, 3, 2, 1)  # search radius (pixels) of each pass around the global peak
KEYSTONE_MIN_Z = 3.5  # a window's peak this far out of its surface's noise gets no weight
KEYSTONE_MAX_SHIFT = 0.25  # of the image's half-size: a correction that moves a corner more
# than this is not a keystone but a fit to noise, and is dropped


def _peak_near(surf: np.ndarray, dy: int, dx: int, radius: int) -> tuple[float, float, float]:
    """The highest point of a cyclic surface within ``radius`` of (dy, dx): its z-score
    against the whole surface and its offset (oy, ox), parabola-refined to a sub-pixel."""
    steps = np.arange(-radius, radius + 1)
    box = surf[np.ix_((dy + steps) % T, (dx + steps) % T)]
    oy, ox = (int(v) - radius for v in divmod(int(box.argmax()), 2 * radius + 1))
    y, x, top = (dy + oy) % T, (dx + ox) % T, float(box.max())

    def vertex(before: float, after: float) -> float:
        curvature = before - 2 * top + after
        return 0.0 if curvature >= 0 else float(np.clip(0.5 * (before - after) / curvature,
                                                        -0.5, 0.5))

    fy = vertex(surf[(y - 1) % T, x], surf[(y + 1) % T, x])
    fx = vertex(surf[y, (x - 1) % T], surf[y, (x + 1) % T])
    return top / max(float(surf.std()), 1e-12), oy + fy, ox + fx


def _homography(src: np.ndarray, dst: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The homography H (dst ~ H src) of weighted least squares: the direct linear transform
    with Hartley's normalisation, each correspondence's two rows scaled by its weight."""
    def normaliser(p: np.ndarray) -> np.ndarray:
        c = p.mean(axis=0)
        s = math.sqrt(2) / max(float(np.hypot(*(p - c).T).mean()), 1e-9)
        return np.array([[s, 0, -s * c[0]], [0, s, -s * c[1]], [0, 0, 1.0]])

    ns, nd = normaliser(src), normaliser(dst)
    (x, y), (u, v) = (src @ ns[:2, :2].T + ns[:2, 2]).T, (dst @ nd[:2, :2].T + nd[:2, 2]).T
    zero, one = np.zeros_like(x), np.ones_like(x)
    rows = np.concatenate([
        np.stack([-x, -y, -one, zero, zero, zero, u * x, u * y, u], axis=1),
        np.stack([zero, zero, zero, -x, -y, -one, v * x, v * y, v], axis=1)]) * np.tile(
            weights, 2)[:, None]
    h = np.linalg.svd(rows)[2][-1].reshape(3, 3)
    h = np.linalg.inv(nd) @ h @ ns
    return h / h[2, 2]


def keystone_shift(keystone: np.ndarray, size: tuple[int, int]) -> float:
    """How far the correction moves the canonical image's corners, at most, as a share of
    its half-size (the evidence's ``keystone``)."""
    w, h = size
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64)
    moved = corners @ keystone.T
    moved = moved[:, :2] / moved[:, 2:]
    return float(np.max(np.abs(moved - corners[:, :2]) / [w / 2, h / 2]))


def keystone(hp: np.ndarray, warp: Warp, j: int, sync_conj: np.ndarray) -> np.ndarray | None:
    """The perspective correction of an affine warp (3 x 3: canonical coordinates to the
    warp's), read from sync pattern ``j``; None when too few windows see the mark."""
    size = _canonical_map(hp.shape, warp)[1]
    side = KEYSTONE_WINDOW * T
    if min(size) < side + T:
        return None
    cw, ch = size
    ys = np.linspace(0, ch - side, KEYSTONE_GRID).astype(int)
    xs = np.linspace(0, cw - side, KEYSTONE_GRID).astype(int)
    correction = np.eye(3)
    for radius in KEYSTONE_RADII:
        can = canonical(hp, warp, correction)
        surf = _sync_surface(_whiten(_v1.fold(can)), sync_conj[j])
        dy, dx = divmod(int(surf.argmax()), T)
        src, dst, weights = [], [], []
        for y0 in ys:
            for x0 in xs:
                # rolled back to the canonical image's tile phase
                tile = np.roll(_v1.fold(can[y0 : y0 + side, x0 : x0 + side]),
                               (y0 % T, x0 % T), axis=(0, 1))
                local = _sync_surface(_whiten(tile), sync_conj[j])
                z, oy, ox = _peak_near(local, dy, dx, radius)
                centre = np.array([x0 + side / 2, y0 + side / 2])
                # this window shows the pattern from (oy, ox) further on: the tile-grid
                # point centre - offset is seen at centre
                src.append(centre - [ox, oy])
                dst.append(centre)
                weights.append(max(z - KEYSTONE_MIN_Z, 0.0))
        weights = np.asarray(weights)
        if np.count_nonzero(weights) < 4:
            return None
        step = _homography(np.asarray(src), np.asarray(dst), weights)
        if not np.all(np.isfinite(step)):
            return None
        correction = correction @ step
        if keystone_shift(correction, size) > KEYSTONE_MAX_SHIFT:
            return None
    return correction


@lru_cache(maxsize=1)
def _band_mask() -> np.ndarray:
    k = np.fft.fftfreq(T) * T
    r = np.hypot(k[:, None], k[None, :])
    return (r >= BAND[0]) & (r <= BAND[1])


def _whiten(tile: np.ndarray) -> np.ndarray:
    """v1's ring whitening over this scheme's band."""
    return _v1._whiten(tile, _band_mask())


def _sync_surfaces(tile_spec: np.ndarray, sync_conj: np.ndarray) -> np.ndarray:
    return np.real(np.fft.ifft2(tile_spec[None] * sync_conj)).reshape(len(sync_conj), -1)


def _sync_surface(tile_spec: np.ndarray, pattern_conj: np.ndarray) -> np.ndarray:
    """One sync pattern's correlation with a whitened tile at every cyclic shift."""
    return np.real(np.fft.ifft2(tile_spec * pattern_conj))


def _aligned_tile(hp: np.ndarray, warp: Warp, keystone: np.ndarray | None = None
                  ) -> np.ndarray:
    """The whitened tile of a high-passed image mapped back through a warp (and keystone)."""
    return _whiten(_v1.fold(canonical(hp, warp, keystone)))


@dataclass
class Detection(_v1.Detection):
    warp: Warp | None = None  # what was undone (v1's ``scale`` is 1 / its zoom)
    first_frame: bool = False  # read from the clip's first frame alone
    fine: bool = False  # read from the sum at twice the normalised size (FineSum)
    keystone: np.ndarray | None = None  # the perspective correction the payload was read at
    keystone_shift: float | None = None  # how far it moves a corner (of the half-size)


P_THRESHOLD = _v1.P_THRESHOLD


SYMMETRIES = [(q, f) for f in (False, True) for q in range(4)]
# read without registration (besides the eight symmetries as they are): the zooms v1
# searches (1/0.80 - 1/1.05: crops of up to 20 % not resized back, small pads)
PLAIN_ZOOMS = [Warp(False, 0.0, -math.log(float(s)), 0.0) for s in _v1.SCALES
               if float(s) != 1.0]


def _symmetric(tile: np.ndarray, quarter_turns: int, flip: bool) -> np.ndarray:
    """The folded tile of ``warp.turned(quarter_turns, flip)`` from the folded tile of
    ``warp`` (unmirrored), up to a cyclic shift, which the alignment searches anyway: the
    turned warp's canonical image is the warp's turned by the lattice symmetry, and folding
    commutes with it up to the tile's phase."""
    tile = np.rot90(tile, quarter_turns)
    return np.ascontiguousarray(np.flip(tile, axis=1) if flip else tile)


def _reader(hp: np.ndarray, sync_conj: np.ndarray, symmetric: bool = False):
    """(aligned, candidate) for one summed image: the whitened tile at a warp, and the best
    sync pattern and shift there as (z, warp, (dy, dx), sync index); both memoised.
    ``symmetric``: a warp is mapped once per unmirrored warp within 45 degrees of upright and
    its seven other symmetries are read off its folded tile (:func:`_symmetric`), an eighth of
    the resampling on a large image (the fine domain's)."""
    tiles: dict[Warp, np.ndarray] = {}  # the full search re-reads the quick one's warps
    folded: dict[Warp, np.ndarray] = {}
    found: dict[Warp, tuple] = {}

    def aligned(warp: Warp, correction: np.ndarray | None = None) -> np.ndarray:
        if correction is not None:  # read once, for one payload try: not memoised
            return _aligned_tile(hp, warp, correction)
        if warp not in tiles:
            if symmetric:
                q = round(warp.rotation / 90)
                # rounded: the same base reached through another turn is one key
                base = Warp(False, round(warp.rotation - 90 * q, 9), warp.log_scale,
                            warp.log_aspect)
                if base not in folded:
                    folded[base] = _v1.fold(canonical(hp, base))
                tiles[warp] = _whiten(_symmetric(folded[base], q % 4, warp.flip))
            else:
                tiles[warp] = _aligned_tile(hp, warp)
        return tiles[warp]

    def candidate(warp: Warp) -> tuple:
        if warp not in found:
            surf = _sync_surfaces(aligned(warp), sync_conj)
            z = surf.max(axis=1) / np.maximum(surf.std(axis=1), 1e-12)
            j = int(np.argmax(z))
            found[warp] = (float(z[j]), warp, divmod(int(surf[j].argmax()), T), j)
        return found[warp]

    return aligned, candidate


# The false-alarm budget is split (a weighted Bonferroni bound): the frame search above takes
# W_SEARCH of it, the first frame's reading W_FIRST_FRAME and the fine domain's W_FINE. A
# reading is significant when its own p-value is at most its share of the threshold, so each
# reports p / its weight. With 0.1 a payload decoded from the first frame alone (its CRC and
# sync-index check, 2^-28 a try, 4 tries) reaches 3e-7, with 0.05 one from the fine domain
# 6e-7; the search's p-values grow by 1 / 0.85.
W_SEARCH = 0.85
W_FIRST_FRAME = 0.1
W_FINE = 1.0 - W_SEARCH - W_FIRST_FRAME
FINE_COARSE = 4  # coarse cells the fine domain's registration refines (of one aspect)
FINE_ZOOM = 0.75  # the fine domain registers the zooms below this (in the normalised
# domain's terms): there the band's top (0.375 cycles per normalised pixel) is past the
# normalised domain's Nyquist
# payload decodes the frame search may try: the quick stage's candidates, the full search's,
# and the full search's again with a keystone correction
SEARCH_TRIES = 3 * N_CANDIDATES


def detect(acc: _v1.Accumulator, key: bytes, search: bool = True,
           first_frame: bool = True, keystone: bool = True, fine: bool = True) -> Detection:
    """Register, align, decode (``acc`` gathers ``SUMS``: see :func:`accumulator`).
    ``search=False`` tries the identity warp only (what the tests use to show that the search
    is what finds a transformed mark); ``first_frame=False`` skips the first frame's reading,
    ``keystone=False`` the perspective correction and ``fine=False`` the fine domain's
    reading (the same, for them)."""
    return Search(acc, key).run(search, first_frame, keystone, fine)


class Search:
    """One summed clip's search, in stages that can be run apart: :meth:`quick` (the plain
    warps), then :meth:`run` (the rest), which reuses what the quick stage read -- another
    scheme reads between the two (:meth:`~emo_safe.watermark.scheme.MultiAccumulator.finish`).
    Every hypothesis of the full search is counted in every stage's p-value: the full
    search's maximum is at least as large, so a p-value from an early stop stays an upper
    bound."""

    def __init__(self, acc: _v1.Accumulator, key: bytes) -> None:
        self.acc, self.key = acc, key
        sums = acc.sums(RESIDUAL)
        self.empty = sums.total is None or acc.frames == 0
        if self.empty:
            return
        km = key_material(key)
        self.hp = _highpass(sums.total)
        self.sync_conj = np.conj(np.fft.fft2(km.sync))
        self.coded_spec = np.fft.fft2(km.coded)
        self.aligned, self.candidate = _reader(self.hp, self.sync_conj)
        self.polished: dict[Warp, tuple] = {}
        self.plain = [IDENTITY.turned(q, f) for q, f in SYMMETRIES] + PLAIN_ZOOMS
        self.hypotheses = ((len(self.plain) + N_REGISTERED * len(SYMMETRIES)) * len(POLISH)
                           * T * T * N_SYNC)
        self._quick: Detection | None = None

    def _decode(self, warps: list[Warp], keystone: bool = False) -> Detection:
        return _polish_and_decode([self.candidate(w) for w in warps], self.aligned,
                                  self.sync_conj, self.coded_spec, self.key, self.hypotheses,
                                  self.polished, weight=W_SEARCH, tries=SEARCH_TRIES,
                                  keystone=self._keystone if keystone else None)

    def _keystone(self, warp: Warp, j: int) -> np.ndarray | None:
        return keystone(self.hp, warp, j, self.sync_conj)

    def _done(self, d: Detection) -> Detection:
        if d.keystone is not None:
            d.keystone_shift = keystone_shift(d.keystone,
                                              _canonical_map(self.hp.shape, d.warp)[1])
        return _finish(d, self.acc, self.sync_conj)

    def quick(self) -> Detection:
        """The frame as it is, mirrored and turned by right angles, and zoomed as far as v1
        searched: the commonest edits, and the registration (an energy detector) is weaker
        than the alignment (a matched filter) on static content after strong compression,
        so these need no registration."""
        if self.empty:
            return Detection(False, 1.0, 0.0, None, 0)
        if self._quick is None:
            self._quick = self._done(self._decode(self.plain))
        return self._quick

    def run(self, search: bool = True, first_frame: bool = True,
            keystone: bool = True, fine: bool = True) -> Detection:
        if self.empty:
            return Detection(False, 1.0, 0.0, None, 0)
        if not search:
            return self._done(self._decode([IDENTITY]))
        quick = self.quick()
        if stops_early(quick):
            return quick
        registered = register(self.hp)
        warps = self.plain + [w.turned(q, f) for _, w in registered for q, f in SYMMETRIES]
        found = self._decode(warps, keystone)
        if _decoded(found):
            return self._done(found)
        first = self.acc.sums(FIRST_FRAME).first
        first_reading = functools.partial(
            _first_frame_reading, first, self.plain, self.sync_conj, self.coded_spec,
            self.key) if first_frame and first is not None else None
        fine_reading = functools.partial(
            _fine_reading, self.acc.sums(FINE), self.sync_conj, self.coded_spec,
            self.key) if fine else None
        # Both at once on two cores (the other scheme's search has usually finished by
        # now, and their FFTs and warps release the GIL); what is reported is what one
        # after the other would report: the fine domain counts only when the first frame
        # did not decode.
        first_d, fine_d = _at_once(first_reading, fine_reading)
        if first_d is not None:
            found = _stronger(first_d, found)
        if fine_d is not None and not _decoded(found):
            found = _stronger(fine_d, found)
        return self._done(found)


def _at_once(*readings) -> list:
    """Each reading's result (None for a reading that is None), in threads when there are
    two and two cores."""
    todo = [r for r in readings if r is not None]
    if len(todo) < 2 or (os.cpu_count() or 1) < 2:
        return [r() if r is not None else None for r in readings]
    with ThreadPoolExecutor(max_workers=len(todo),
                            thread_name_prefix="emo-safe-v2-reading") as pool:
        futures = [pool.submit(r) if r is not None else None for r in readings]
        return [f.result() if f is not None else None for f in futures]


def _decoded(d: Detection) -> bool:
    return d.payload is not None and d.detected


def _stronger(a: Detection | None, b: Detection) -> Detection:
    """The reading with a payload over one without, else the smaller p-value (``b`` on a
    tie)."""
    if a is not None and (a.payload is not None, -a.p_value) > (b.payload is not None,
                                                                -b.p_value):
        return a
    return b


LIST_SIZE = 8  # paths the list decoder tries once the sync alone is significant
EARLY_P = 1e-9  # a reading of the frame as it is (or mirrored, turned) this strong skips
# the registration


def stops_early(quick: Detection) -> bool:
    """Whether the plain warps' reading is the whole search's answer."""
    return quick.payload is not None and quick.p_value <= EARLY_P


def _first_frame_reading(first: np.ndarray, plain: list[Warp], sync_conj: np.ndarray,
                         coded_spec: np.ndarray, key: bytes) -> Detection:
    """The first frame's clipped residual (:class:`FirstFrame`) read at the plain warps
    (symmetries and v1's zooms; one frame is too little for the registration)."""
    aligned, candidate = _reader(_highpass(first), sync_conj)
    hypotheses = len(plain) * len(POLISH) * T * T * N_SYNC
    d = _polish_and_decode([candidate(w) for w in plain], aligned, sync_conj, coded_spec, key,
                           hypotheses, {}, weight=W_FIRST_FRAME)
    d.first_frame = True
    return d


def _fine_reading(fine: FineSum, sync_conj: np.ndarray, coded_spec: np.ndarray,
                  key: bytes) -> Detection | None:
    """The sum at twice the normalised size (:class:`FineSum`), registered at the zooms the
    normalised domain cannot read (``SCALE_RANGE[0]`` to ``FINE_ZOOM`` in its terms; the
    identity aspect only, a fifth of the full registration's time), then aligned in all eight
    symmetries and decoded. None when nothing was gathered. The reported warp is in the
    normalised domain's terms, as every other reading's.

    Why its own registration: the normalised domain sees only the lower part of the band of
    a copy this small, and its registration ranked the lattice of a static portrait's
    picture-in-picture at 0.4 below the content (score 1.4 against 1.5); in the fine domain
    it stands at 8.0."""
    hp = fine.residual()
    if hp is None:
        return None
    log_factor = math.log(fine.factor)
    zooms = (SCALE_RANGE[0] * fine.factor, FINE_ZOOM * fine.factor)
    registered = register(hp, zooms, np.zeros(1), FINE_COARSE)
    aligned, candidate = _reader(hp, sync_conj, symmetric=True)
    hypotheses = N_REGISTERED * len(SYMMETRIES) * T * T * N_SYNC
    d = _polish_and_decode([candidate(w.turned(q, f)) for _, w in registered
                            for q, f in SYMMETRIES], aligned, sync_conj, coded_spec, key,
                           hypotheses, {}, weight=W_FINE, polish=False)
    w = d.warp
    d.warp = Warp(w.flip, w.rotation, w.log_scale - log_factor, w.log_aspect)
    d.scale, d.fine = math.exp(-d.warp.log_scale), True
    return d


def _polish_and_decode(candidates, aligned, sync_conj, coded_spec, key, hypotheses,
                       memo: dict, weight: float = 1.0, tries: int = N_CANDIDATES,
                       keystone=None, polish: bool = True) -> Detection:
    """Polish the best candidates, decode their payloads (when none decodes and ``keystone``
    maps a candidate's (warp, sync index) to a perspective correction, once more at each
    corrected warp); the p-value counts ``hypotheses`` for the sync test and ``tries``
    payload decodes, over ``weight`` (this reading's share of the false-alarm budget). The
    corrected warps are chosen by the sync pattern's own peaks, so their z-scores are not
    the sync test's: only their payload check counts."""
    candidates.sort(key=lambda c: c[0], reverse=True)
    polished = []
    for cand in candidates[:N_CANDIDATES]:
        _, warp, _, j = cand
        if warp not in memo:  # the full search polishes the quick one's best again
            best = cand
            for dr, ds in POLISH if polish else ():
                if dr == 0 and ds == 0:
                    continue
                w2 = warp.moved(dr, ds)
                surf = _sync_surface(aligned(w2), sync_conj[j])
                z = float(surf.max() / max(surf.std(), 1e-12))
                if z > best[0]:
                    best = (z, w2, divmod(int(surf.argmax()), T), j)
            memo[warp] = best
        polished.append(memo[warp])
    polished.sort(key=lambda c: c[0], reverse=True)
    p_sync = min(1.0, hypotheses * _v1._norm_sf(polished[0][0]))
    p_payload_bound = tries * 2.0 ** -(_ecc.CRC_BITS + int(math.log2(N_SYNC)))

    def soft_at(tile: np.ndarray, dy: int, dx: int, j: int) -> np.ndarray:
        # each ring weighted by the square root of its measured SNR, not the SNR: one ring's
        # SNR is one noisy correlation, and full weights on it lost payloads that equal
        # weights decoded (H.264 CRF 28: docs/watermark.md)
        return _v1._soft_bits(tile, coded_spec, sync_conj[j], dy, dx, weight_power=0.5)

    def payload_from(soft: np.ndarray, j: int) -> bytes | None:
        decoded, _ = _ecc.decode_payload(soft, PAYLOAD_BYTES)
        return decoded if decoded is not None and sync_index(key, decoded) == j else None

    chosen, payload, correction = polished[0], None, None
    softs = []  # each candidate's soft bits, for the list decoder below
    for cand in polished:
        _, warp, (dy, dx), j = cand
        softs.append(soft_at(aligned(warp), dy, dx, j))
        payload = payload_from(softs[-1], j)
        if payload is not None:
            chosen = cand
            break
    if payload is None and keystone is not None:
        for z, warp, _, j in polished:
            tried = keystone(warp, j)
            if tried is None:
                continue
            tile = aligned(warp, tried)
            dy, dx = divmod(int(_sync_surface(tile, sync_conj[j]).argmax()), T)
            payload = payload_from(soft_at(tile, dy, dx, j), j)
            if payload is not None:
                chosen, correction = (z, warp, (dy, dx), j), tried
                break
    listed = False
    if payload is None and LIST_SIZE > 1 and 2 * p_sync / weight <= P_THRESHOLD:
        # The sync test is significant on its own, so the payload is read only to name the
        # generation: the list decoder's next best paths are tried (each CRC and sync-index
        # check a 2^-28 chance for a wrong word), and the p-value stays the sync test's.
        for cand, soft in zip(polished, softs):
            j = cand[3]
            named = [d for d in _ecc.decode_payload_list(soft, PAYLOAD_BYTES, LIST_SIZE)
                     if sync_index(key, d) == j]
            if named:
                chosen, payload, listed = cand, named[0], True
                break
    z, warp, (dy, dx), j = chosen
    p_payload = p_payload_bound if payload is not None and not listed else 1.0
    p = min(1.0, 2 * min(p_sync, p_payload) / weight)
    return Detection(detected=p <= P_THRESHOLD, p_value=p, z=z, payload=payload, frames=0,
                     warp=warp, scale=math.exp(-warp.log_scale), shift=(int(dy), int(dx)),
                     sync_index=j, hypotheses=hypotheses, keystone=correction)


def _finish(d: Detection, acc: _v1.Accumulator, sync_conj: np.ndarray) -> Detection:
    """The per-second z-scores at the alignment found (the report's chart; none for a
    reading in the fine domain, whose segments are not kept: the normalised ones do not hold
    what it read)."""
    d.frames = acc.frames
    if d.fine:
        return d
    (dy, dx), j = d.shift, d.sync_index
    d.segment_z = _v1.segment_z(
        acc.sums(RESIDUAL).segments,
        lambda seg: _aligned_tile(_highpass(seg), d.warp, d.keystone), sync_conj[j], dy, dx)
    return d
