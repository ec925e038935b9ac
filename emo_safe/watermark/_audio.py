"""Internals of the audio mark ``org.emo-safe.wm.audio.v1``: keyed patterns, embedding and
detection. Not API: use :mod:`emo_safe.watermark.audio`.

How it works
------------
Everything happens on a canonical analysis of the audio: mono, resampled to 16 kHz, an STFT of
512 samples (32 ms, square-root Hann) every 256 samples. The band 250 Hz - 7 kHz is cut into
108 cells of 2 bins; two frames make a slot (32 ms of new audio). A slot's 108 cells each carry
one keyed chip (+1 / -1); a cycle of 96 slots (3.1 s) repeats the layout, so any stretch of 3 s
holds every bit. In a cycle a keyed permutation gives a quarter of the cells to a known sync
pattern and the rest, in turn, to the 156 bits of the payload's codeword (CRC-24 and the K=7
rate-1/2 convolutional code of the video mark, :mod:`._ecc`).

Embedding multiplies each cell's magnitude by ``1 + g * chip * bit`` and adds the difference
back as a signal (computed at 16 kHz and resampled to the audio's own rate, which
libswresample does without delay). The gain ``g`` is perceptually shaped: it grows as the
local energy falls (``g = ALPHA * (E_ref / E) ** GAMMA``, capped at ``GAIN_MAX``), so loud
cells, which dominate what is heard, change by 2.5 % and quiet ones by up to 90 %, which the
louder neighbours mask; the mark is then scaled down where it would be louder than
``MIN_SNR_DB`` (speech). The result is 30.5 dB SNR on speech (PESQ-WB 3.9-4.1) and 32 dB on
music -- see docs/benchmarks.md; docs/audio-watermark.md has the trade against robustness.

Detection takes log power, removes what the host predicts (each cell minus the mean of the
slots before and after it, then each slot's mean and scale across frequency) and correlates
with the chips; what the host predicts comes from the neighbouring slots (right for music)
or from the neighbouring slots and cells two away in frequency (right for speech), and both
are tried. Each whitened cell is weighed by its loudness level (the decile of its smoothed
log power among the clip's cells) through a fixed profile, SYNC_LEVEL_PROFILE: the quietest
cells are silence or the analysis floor and carry nothing, the loudest carry little, the middle
most. The profile is a property of the embedding, not of the clip, so the statistic stays a
fair z. The alignment is unknown (a cut, an excerpt, a codec's delay), so it searches
every offset of 32 samples within a slot (16) and every slot of the cycle (96): with the two
predictors 3072 hypotheses, all counted in the p-value (Bonferroni). At the best candidates
the payload's soft bits go to the Viterbi decoder: the cells whitened by a bank of five host
predictors (the search's two and three more), combined with the weights the sync cells there
measure (Sigma^-1 mu: the predictors' noises are correlated), each cell weighed by the
evidence its loudness level shows in the sync cells and each slot by the mark's strength
around it (maximal ratio combining, both estimates shrunk towards even weights by how noisy
they are);
a payload whose CRC-24 checks is the second test (bounded by candidates * 2^-24). The two are
combined by Bonferroni, as for the video mark.

Patterns come from SHAKE-256 of a key derived from the workspace key with the label
``emo-safe audio mark v1``, never from a seeded NumPy generator (whose streams may change
between NumPy versions and would orphan every marked file).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from emo_safe.watermark import _ecc

SCHEME = "org.emo-safe.wm.audio.v1"
PAYLOAD_BYTES = 6
KEY_LABEL = b"emo-safe audio mark v1"

RATE = 16_000
NFFT = 512
HOP = 256
SUB = 8  # offsets searched per hop: 32 samples (2 ms) apart
LO, HI = 8, 224  # bins: 250 Hz - 7 kHz
BINS_PER_CELL = 2
N_CELLS = (HI - LO) // BINS_PER_CELL  # 108 cells per slot
FRAMES_PER_SLOT = 2
CYCLE = 96  # slots per cycle: 96 * 2 * 256 / 16 kHz = 3.07 s
SYNC_SHARE = 0.25
N_CODED = len(_ecc.encode_payload(bytes(PAYLOAD_BYTES)))  # 156

ALPHA = 0.025  # gain of the loudest cells
GAMMA = 1.0  # how fast the gain grows as the local energy falls
GAIN_MAX = 0.9
REFERENCE_PERCENTILE = 90  # E_ref: this percentile of the smoothed cell energies
MIN_SNR_DB = 30.5  # a mark louder than this (against the 16 kHz host) is scaled down
RELIABILITY_SLOTS = 61  # slots (2 s) over which the decoder estimates how strong the mark is

N_CANDIDATES = 4

# Loudness levels: each cell's place among the clip's cells by its smoothed log power
# (deciles, over the embedder's masking neighbourhood). The mark's evidence is not even over
# them: the quietest cells are silence or the analysis floor, the loudest carry a 2.5 % gain,
# the middle ones most of it (measured on the benchmark's speech and music, clean and through
# codecs, noise, the room: docs/audio-watermark.md). The sync search weighs them by this fixed
# profile (a property of the embedding, not of the clip, so the statistic stays a fair z);
# the payload reading measures each level's evidence from the sync cells at the alignment
# found and weighs by it (maximal ratio combining).
N_LEVELS = 10
SYNC_LEVEL_PROFILE = np.array([0.0, 0.2, 0.5, 0.8, 1.0, 1.0, 1.0, 1.0, 0.6, 0.3])
HYPOTHESES = SUB * FRAMES_PER_SLOT * CYCLE * 2  # offsets x cycle phases x host predictors
MIN_SLOTS = 8  # below this (0.26 s) there is nothing to correlate
BIAS_SLOTS = CYCLE  # the running mean a cell's steady residual is estimated over (3.07 s)

_WINDOW = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(NFFT) / NFFT))  # periodic


@dataclass(frozen=True)
class Layout:
    """The keyed layout of one cycle: a chip per cell and who owns it (-1: sync)."""

    chips: np.ndarray  # (CYCLE, N_CELLS) of +-1.0
    owner: np.ndarray  # (CYCLE, N_CELLS) int: -1 sync, else the coded bit's index
    key_id: str

    @cached_property  # read for every hypothesis searched (frozen: cached in __dict__)
    def sync(self) -> np.ndarray:
        return np.where(self.owner < 0, self.chips, 0.0)


def derive_key(key: bytes) -> bytes:
    if len(key) != 32:
        raise ValueError("the watermark key must be 256 bits")
    return hmac.new(key, KEY_LABEL, hashlib.sha256).digest()


def _stream(key: bytes, label: bytes, n: int) -> np.ndarray:
    return np.frombuffer(hashlib.shake_256(key + label).digest(8 * n), "<u8")


@lru_cache(maxsize=8)
def layout(key: bytes) -> Layout:
    derived = derive_key(key)
    n = CYCLE * N_CELLS
    chips = np.where(_stream(derived, b"chips", n) & 1, 1.0, -1.0).reshape(CYCLE, N_CELLS)
    order = np.argsort(_stream(derived, b"owners", n), kind="stable")
    n_sync = int(n * SYNC_SHARE)
    owner = np.empty(n, np.int64)
    owner[order[:n_sync]] = -1
    owner[order[n_sync:]] = np.arange(n - n_sync) % N_CODED
    key_id = hashlib.sha256(b"emo-safe audio watermark key id" + derived).hexdigest()[:16]
    return Layout(chips, owner.reshape(CYCLE, N_CELLS), key_id)


# --------------------------------------------------------------------------------------------
# analysis
def _stft(x: np.ndarray, start: int = 0, hop: float = HOP) -> np.ndarray:
    """Frames every ``hop`` samples (rounded to the nearest sample when it is not whole: a
    tempo hypothesis) from ``start``; x is already padded."""
    n = max(0, int((x.size - start - NFFT) // hop) + 1)
    positions = start + np.round(hop * np.arange(n)).astype(np.int64)
    idx = positions[:, None] + np.arange(NFFT)[None, :]
    return np.fft.rfft(x[idx] * _WINDOW, axis=1)


def _overlap_add(spec: np.ndarray, length: int) -> np.ndarray:
    frames = np.fft.irfft(spec, n=NFFT, axis=1) * _WINDOW
    out = np.zeros(length + NFFT)
    for i, frame in enumerate(frames):
        out[i * HOP : i * HOP + NFFT] += frame
    return out[:length]


def _pad(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(NFFT), np.asarray(x, np.float64), np.zeros(NFFT)])


def _masking_mean(x: np.ndarray) -> np.ndarray:
    """Mean over 3 rows x 5 columns (the masking neighbourhood: 3 frames x 5 bins for the
    embedder's energy, 3 slots x 5 cells for the detector's loudness levels), edges repeated,
    in ``x``'s own float type (OpenCV's box filter: the search calls this for every
    hypothesis, ~20x faster than a mean over a sliding window view)."""
    import cv2

    return cv2.blur(np.ascontiguousarray(x), (5, 3), borderType=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------------------------
# embedding
def mark_signal(x16: np.ndarray, key: bytes, payload: bytes) -> np.ndarray:
    """The additive mark for mono 16 kHz samples ``x16`` (same length)."""
    if len(payload) != PAYLOAD_BYTES:
        raise ValueError(f"payload must be {PAYLOAD_BYTES} bytes")
    lay = layout(key)
    coded = _ecc.encode_payload(payload).astype(np.float64) * 2 - 1
    values = lay.chips * np.where(lay.owner < 0, 1.0, coded[np.maximum(lay.owner, 0)])
    padded = _pad(x16)
    spec = _stft(padded)
    slot_of_frame = (np.arange(spec.shape[0]) // FRAMES_PER_SLOT) % CYCLE
    energy = _masking_mean(np.abs(spec[:, LO:HI]) ** 2)
    reference = float(np.percentile(energy, REFERENCE_PERCENTILE))
    if reference <= 0:  # digital silence: nothing to mark, nothing to hear
        return np.zeros_like(np.asarray(x16, np.float64))
    gain = np.clip(ALPHA * (reference / np.maximum(energy, reference * 1e-12)) ** GAMMA,
                   ALPHA, GAIN_MAX)
    delta = np.zeros(spec.shape)
    delta[:, LO:HI] = np.repeat(values[slot_of_frame], BINS_PER_CELL, axis=1) * gain
    mark = _overlap_add(spec * delta, padded.size)[NFFT : NFFT + len(x16)]
    # The SNR promise holds for any content: the host at its own rate only adds energy.
    host, noise = float(np.sum(np.square(x16, dtype=np.float64))), float(np.sum(mark ** 2))
    if noise > 0 and 10 * math.log10(host / noise) < MIN_SNR_DB:
        mark *= math.sqrt(host / noise * 10 ** (-MIN_SNR_DB / 10))
    return mark


# --------------------------------------------------------------------------------------------
# detection
@dataclass(frozen=True)
class Detection:
    p_value: float
    z: float
    payload: bytes | None
    seconds: float
    offset: int  # samples at 16 kHz
    slot: int  # the cycle's slot found at the first analysed slot
    hypotheses: int = HYPOTHESES
    time_scale: tuple[str, float] = ("none", 1.0)  # the speed or tempo change undone


def _norm_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def _host_prediction_in_time(cells: np.ndarray) -> np.ndarray:
    """Each cell predicted by the same cell in the slots before and after (tonal music: a
    note sustains, its neighbours in frequency are a harmonic peak or a valley)."""
    out = np.empty_like(cells)
    n = cells.shape[0]
    if n >= 3:
        out[1:-1] = 0.5 * (cells[:-2] + cells[2:])
    out[0] = cells[min(1, n - 1)]
    out[-1] = cells[max(n - 2, 0)]
    return out


def _host_prediction_in_time_and_frequency(cells: np.ndarray) -> np.ndarray:
    """Also from the cells two away in frequency (speech: formants are smooth across 125 Hz
    where harmonics are not resolved; one cell away would see the window's leakage)."""
    p = np.pad(cells, ((1, 1), (2, 2)), mode="edge")
    return 0.3 * (p[:-2, 2:-2] + p[2:, 2:-2]) + 0.2 * (p[1:-1, :-4] + p[1:-1, 4:])


# Both are tried (and counted in the hypotheses): music wants the first, speech the second.
PREDICTORS = (_host_prediction_in_time, _host_prediction_in_time_and_frequency)


def _neighbour(cells: np.ndarray, dt: int, df: int) -> np.ndarray:
    """The cell ``dt`` slots later and ``df`` cells higher (|dt|, |df| <= 2; edges repeated)."""
    p = np.pad(cells, ((2, 2), (2, 2)), mode="edge")
    n, m = cells.shape
    return p[2 + dt : 2 + dt + n, 2 + df : 2 + df + m]


def _host_prediction_two_slots(cells: np.ndarray) -> np.ndarray:
    """From the same cell two slots either side as well (more neighbours, less of their own
    noise in the prediction: what a stationary host under noise wants)."""
    return 0.25 * sum(_neighbour(cells, dt, 0) for dt in (-2, -1, 1, 2))


def _host_prediction_ring(cells: np.ndarray) -> np.ndarray:
    """From the eight cells one slot and two cells around it."""
    return sum(_neighbour(cells, dt, df) for dt in (-1, 0, 1) for df in (-2, 0, 2)
               if (dt, df) != (0, 0)) / 8


def _host_prediction_in_frequency(cells: np.ndarray) -> np.ndarray:
    """From the cells two away in frequency only (a host that changes every slot: drums,
    plosives, a room's tail)."""
    return 0.5 * (_neighbour(cells, 0, -2) + _neighbour(cells, 0, 2))


# The payload reading combines more predictors than the search tries (it costs no hypotheses:
# the alignment is already chosen): each one's residual is an estimate of the mark with its own
# share of the host's and the attack's noise, and the noises are correlated, so they are
# combined with the weights the sync cells measure (Sigma^-1 mu, :func:`_diversity_weights`).
PAYLOAD_PREDICTORS = (*PREDICTORS, _host_prediction_two_slots, _host_prediction_ring,
                      _host_prediction_in_frequency)


def _cells(logpow: np.ndarray, first: int) -> np.ndarray:
    """Slots of FRAMES_PER_SLOT frames from frame ``first``, each cell the mean log power of
    its bins and frames."""
    frames = logpow[first:]
    n = frames.shape[0] // FRAMES_PER_SLOT
    # the frames of a slot summed first, then the bins of a cell (one mean over two strided
    # axes is several times slower)
    summed = sum(frames[k : n * FRAMES_PER_SLOT : FRAMES_PER_SLOT] for k in range(FRAMES_PER_SLOT))
    return summed.reshape(n, N_CELLS, BINS_PER_CELL).sum(axis=2) / (FRAMES_PER_SLOT * BINS_PER_CELL)


def _without_steady_bias(w: np.ndarray, slots: int = BIAS_SLOTS) -> np.ndarray:
    """Each cell minus its own mean over the ``slots`` around it (a centred running mean, the
    clip's ends mirrored; OpenCV's box filter: the search calls this for every hypothesis,
    about 3x faster than cumulative sums). A predictor that mixes frequencies leaves a steady
    residual in each cell of a steady host (its spectrum's curvature), and a host that repeats
    exactly (an Opus decoder's near-silence repeats every 160 ms) leaves one with any
    predictor: summed over a long clip, such a bias meets the sync pattern's own per-cell sums
    and grows the z-score like a mark would (600 s of Opus silence read z 13.6). The mark
    alternates with its chips, so a 3-s mean holds about 1 % of it. Only the sync search
    takes it out: its z is the p-value's; the payload reading, whose false alarms the CRC
    bounds, lost with it (the room on the 10-s music: 8 of 8 keys decoded without it, 3 of 8
    with it)."""
    import cv2

    w = np.ascontiguousarray(w, np.float32)
    return w - cv2.blur(w, (1, slots | 1), borderType=cv2.BORDER_REFLECT)


def _whiten(cells: np.ndarray, predictor: int = 0, bank=PREDICTORS,
            without_steady_bias: bool = False) -> np.ndarray:
    """Each cell minus what the host predicts for it (``bank[predictor]``), each slot
    normalised across frequency; ``without_steady_bias``: the residual's steady part taken
    out first (:func:`_without_steady_bias`, what the sync search reads)."""
    if cells.shape[0] == 0:
        return cells
    w = cells - bank[predictor](cells)
    if without_steady_bias:
        w = _without_steady_bias(w)
    w -= w.mean(axis=1, keepdims=True)
    w /= np.maximum(w.std(axis=1, keepdims=True), 1e-9)
    return w


def _levels(cells: np.ndarray) -> np.ndarray:
    """Each cell's loudness level (0 .. N_LEVELS - 1): the decile of its log power averaged
    over 3 slots x 5 cells, among the clip's cells (equal values share the top level)."""
    if cells.size == 0:
        return np.zeros(cells.shape, np.int64)
    smoothed = _masking_mean(cells.astype(np.float32))
    edges = np.quantile(smoothed, np.arange(1, N_LEVELS) / N_LEVELS)
    return np.searchsorted(edges, smoothed, side="right")


def _sync_weighted(cells: np.ndarray) -> list[np.ndarray]:
    """What the sync search correlates, for each host predictor of PREDICTORS in turn: the
    whitened cells, their steady part taken out (a steady host must not read as a mark),
    weighed by their loudness level's share of the evidence
    (SYNC_LEVEL_PROFILE; the levels depend on the cells only, so they are found once)."""
    profile = SYNC_LEVEL_PROFILE[_levels(cells)]
    return [_whiten(cells, predictor, without_steady_bias=True) * profile
            for predictor in range(len(PREDICTORS))]


class FineSpectrum:
    """Log power every SUB-th of a hop (32 samples) over a band wide enough for every speed
    hypothesis: the analysis at every offset searched, and what the coarse time-scale stage
    reads its hypotheses from (computed once; float32)."""

    def __init__(self, y16: np.ndarray, lo: int = LO, hi: int = HI) -> None:
        power = np.abs(_stft(_pad(y16), 0, HOP / SUB)[:, lo:hi]) ** 2
        # one floor for all offsets (that of the frames on the hop grid): silence weighs nothing
        floor = 1e-3 * float(power[::SUB, LO - lo : HI - lo].mean()) + 1e-12 if len(power) else 1
        self.logpow = np.log(power + floor).astype(np.float32)
        self.lo = lo


class Analysis:
    """The log power of the marked band at every offset searched (float32: a 10-minute clip
    holds about 260 MB)."""

    def __init__(self, y16: np.ndarray, hop: float = HOP,
                 fine: FineSpectrum | None = None) -> None:
        if fine is not None and hop == HOP:  # the same frames, already analysed
            band = fine.logpow[:, LO - fine.lo : HI - fine.lo]
            self.logpow = [band[k::SUB] for k in range(SUB)]
            return
        padded = _pad(y16)
        self.logpow = []
        floor = None
        for k in range(SUB):
            power = np.abs(_stft(padded, round(k * hop / SUB), hop)[:, LO:HI]) ** 2
            if floor is None:  # one floor for all offsets: silence weighs nothing
                floor = 1e-3 * float(power.mean()) + 1e-12
            self.logpow.append(np.log(power + floor).astype(np.float32))

    def hypotheses(self):
        """((offset in samples, predictor), whitened slots) for every offset within a slot
        and every host predictor."""
        for first in range(FRAMES_PER_SLOT):
            for k in range(SUB):
                weighted = _sync_weighted(_cells(self.logpow[k], first))
                for predictor, w in enumerate(weighted):
                    yield (first * HOP + k * HOP // SUB, predictor), w

    def cells_at(self, offset: int) -> tuple[list[np.ndarray], np.ndarray]:
        """(the cells whitened by every predictor of PAYLOAD_PREDICTORS, their loudness
        levels) at an offset: what the payload reading combines and weighs for itself."""
        first, rest = divmod(offset, HOP)
        cells = _cells(self.logpow[rest * SUB // HOP], first)
        return ([_whiten(cells, i, PAYLOAD_PREDICTORS) for i in range(len(PAYLOAD_PREDICTORS))],
                _levels(cells))


def _phase_sums(w: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every cycle phase p (slot s of the clip is slot (s + p) % CYCLE of the cycle): the
    correlation of the clip with ``pattern`` and the energy it was taken over. The clip is
    folded onto one cycle first (slots a cycle apart meet the same pattern row), so the cost
    is one pass over the clip and a CYCLE x CYCLE product.

    The energy is that of the folded clip, not the sum of each slot's: the only randomness
    the z-score may count on is the key's pattern, not the host's. A host that repeats with
    the cycle (a steady tone or chord, a buzz whose beats a tempo hypothesis makes periodic,
    a codec's near-silence) adds up cycle after cycle exactly as a mark does, and over a
    minute read z 9-12 against the sum of the slots' energies; against the folded energy it
    reads like one cycle of noise. A host that does not repeat folds to the same energy
    either way (its cycles add like independent noise)."""
    n = w.shape[0]
    padded = np.zeros((-(-n // CYCLE) * CYCLE, w.shape[1]))
    padded[:n] = w
    folded = padded.reshape(-1, CYCLE, w.shape[1]).sum(axis=0)
    dots = folded @ pattern.T  # (CYCLE rows of the clip, CYCLE rows of the pattern)
    energy = (folded * folded) @ (pattern * pattern).T
    idx = (np.arange(CYCLE)[:, None] + np.arange(CYCLE)[None, :]) % CYCLE
    return (np.take_along_axis(dots, idx, axis=1).sum(axis=0),
            np.take_along_axis(energy, idx, axis=1).sum(axis=0))


def _shrunk(local: np.ndarray, noise_var: np.ndarray, mean: float,
            seen: np.ndarray | None = None) -> np.ndarray:
    """Local estimates shrunk towards ``mean`` by the share of their spread (over those
    ``seen``, default all) that is their own estimation noise ``noise_var`` (empirical
    Bayes): estimates that differ no more than their noise says end up even."""
    seen = np.ones(local.shape, bool) if seen is None else seen
    signal_var = (max(float(np.var(local[seen]) - np.mean(noise_var[seen])), 0.0)
                  if seen.any() else 0.0)
    # digital silence has neither: 0 / 0 would make every weight NaN
    return mean + signal_var / np.maximum(signal_var + noise_var, 1e-300) * (local - mean)


def _slot_strengths(aligned: np.ndarray, sync: np.ndarray) -> np.ndarray:
    """How strong the mark is in each slot, as the sync cells around it say (over
    RELIABILITY_SLOTS slots), shrunk towards the clip's mean by how much of the local
    estimates' spread is their own noise (an empirical-Bayes estimate): a clip marked
    throughout gets nearly even weights, which a noisy local estimate would only spoil; a
    clip with a marked stretch among unmarked audio, or with long pauses, keeps its local
    weights."""
    per_slot = (aligned * sync).sum(axis=1)
    kernel = np.ones(min(RELIABILITY_SLOTS, per_slot.size))  # "same" keeps the longer length
    counts = np.maximum(np.convolve(sync.sum(axis=1), kernel, "same"), 1)
    local = np.convolve(per_slot, kernel, "same") / counts
    mean = float(per_slot.sum() / max(int(sync.sum()), 1))
    noise_var = float(np.mean(np.square(aligned[sync]))) / counts if sync.any() else 1 / counts
    return _shrunk(local, noise_var, mean)


def _level_weights(aligned: np.ndarray, sync: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each loudness level's weight for the payload (its evidence over its spread, maximal
    ratio combining), from the sync cells of that level; each level's mean shrunk towards the
    clip's by how much of the levels' spread is estimation noise (empirical Bayes, as for the
    slots): a short or faint clip keeps nearly even weights."""
    at, values = levels[sync], aligned[sync]
    counts = np.bincount(at, minlength=N_LEVELS)
    n = np.maximum(counts, 1)
    means = np.bincount(at, weights=values, minlength=N_LEVELS) / n
    spread = np.maximum(np.bincount(at, weights=values ** 2, minlength=N_LEVELS) / n
                        - means ** 2, 1e-6)
    grand = float(values.sum() / max(values.size, 1))
    return np.clip(_shrunk(means, spread / n, grand, counts > 0), 0, None) / spread


def _diversity_weights(estimates: np.ndarray) -> np.ndarray:
    """The weights that combine several estimates of the mark with correlated noise into
    the one with the best SNR: Sigma^-1 mu over the sync cells (``estimates``: one row per
    estimate, each the sync cells' evidence), scaled to sum to 1 in absolute value. A weight
    may be negative: an estimate that shares another's noise more than its mark takes that
    noise out of it."""
    mu = estimates.mean(axis=1)
    if estimates.shape[0] == 1 or estimates.shape[1] < 2 * estimates.shape[0]:
        return np.full(estimates.shape[0], 1 / estimates.shape[0])
    cov = np.cov(estimates)
    ridge = 1e-6 * float(np.trace(cov)) / len(mu) + 1e-12  # digital silence: all zero
    weights = np.linalg.solve(cov + ridge * np.eye(len(mu)), mu)
    total = float(np.abs(weights).sum())
    return weights / total if total > 0 and np.isfinite(total) else np.full(len(mu), 1 / len(mu))


def _soft_bits(w: np.ndarray | list[np.ndarray], lay: Layout, phase: int,
               levels: np.ndarray | None = None) -> np.ndarray:
    """Each coded bit's evidence. ``w``: the whitened cells, or a list of them whitened by
    several predictors, combined by :func:`_diversity_weights`. Each cell is weighted by how
    strong the mark is at its loudness level (when ``levels`` are given, :func:`_level_weights`)
    and in its slot (:func:`_slot_strengths`), maximal ratio combining: a pause, a passage the
    codec flattened or that was never marked, cells that noise filled, weigh nothing."""
    bank = list(w) if isinstance(w, list) else [w]
    slots = (np.arange(bank[0].shape[0]) + phase) % CYCLE
    owner, chips = lay.owner[slots], lay.chips[slots]
    sync = owner < 0
    estimates = []
    for whitened in bank:
        aligned = whitened * chips
        if levels is not None:
            aligned = aligned * _level_weights(aligned, sync, levels)[levels]
        estimates.append(aligned)
    weights = _diversity_weights(np.stack([e[sync] for e in estimates]))
    aligned = sum(float(wt) * e for wt, e in zip(weights, estimates))
    strength = _slot_strengths(aligned, sync)
    weighted = aligned * np.clip(strength, 0, None)[:, None]
    data = owner >= 0
    soft = np.bincount(owner[data], weights=weighted[data], minlength=N_CODED)
    return soft / max(float(np.std(soft)), 1e-12)


# The time-scale search: speed changes of a resampled replay (pitch too) and tempo changes
# that keep the pitch (WSOLA, a phase vocoder), 0.90-1.10 in steps of 0.1 %: 400 hypotheses,
# every one counted in the p-value. A replay 0.1 % off the hypothesis drifts by a slot (32 ms)
# in 32 s, so 30-s clips keep their mark. Coarse to fine, so few are read in full: every
# hypothesis on the 0.5 % grid is scored cheaply (coarse_scores) on the first COARSE_SECONDS
# (where 0.25 % off still keeps half the z-score), the hypotheses within REFINE_SPAN of the
# COARSE_WINNERS best are scored again on up to REFINE_SECONDS, and the FINE_SCALES best of
# those get the whole detection.
TIME_SCALE_STEPS = tuple(round(0.90 + 0.001 * i, 3) for i in range(201) if i != 100)
TIME_SCALES = tuple((kind, f) for kind in ("speed", "tempo") for f in TIME_SCALE_STEPS)
COARSE_STEP = 0.005
COARSE_SECONDS = 10.0
COARSE_WINNERS = 3
REFINE_SPAN = 0.002
REFINE_SECONDS = 60.0
FINE_SCALES = 3
# The band the coarse stage reads: a replay f times faster moves bin b to b * f, so the
# cells of every speed hypothesis must fall inside it.
WIDE_LO = math.floor((LO - 0.5) * min(TIME_SCALE_STEPS)) - 1
WIDE_HI = math.ceil((HI + 0.5) * max(TIME_SCALE_STEPS)) + 1
COARSE_STARTS = (0, HOP)  # the two frames a slot can start on (finer: the fine stage)


@lru_cache(maxsize=128)
def _cell_weights(pitch: float) -> np.ndarray:
    """(bins WIDE_LO..WIDE_HI, N_CELLS): each cell of the mark as the mean of the bins its
    band covers once the pitch is ``pitch`` times higher (each bin weighted by its overlap;
    at 1.0, its own two bins)."""
    weights = np.zeros((WIDE_HI - WIDE_LO, N_CELLS))
    centres = np.arange(WIDE_LO, WIDE_HI)
    for c in range(N_CELLS):
        first = LO + BINS_PER_CELL * c
        lo, hi = (first - 0.5) * pitch, (first + BINS_PER_CELL - 0.5) * pitch
        overlap = np.clip(np.minimum(centres + 0.5, hi) - np.maximum(centres - 0.5, lo), 0, None)
        weights[:, c] = overlap / overlap.sum()
    return weights.astype(np.float32)


def coarse_scores(fine: FineSpectrum, lay: Layout, time_scales, seconds: float) -> np.ndarray:
    """The sync z-score of each time-scale hypothesis on the first ``seconds``, read cheaply:
    frames picked from the fine spectrum where the hypothesis puts them (to the nearest 32
    samples), the cells' bands moved with the pitch for a speed change, two slot starts, both
    host predictors. Good enough to rank the hypotheses (the true one stands out by z 8-19
    against 3-5 on 10 s), not to report: the fine stage reads the winners exactly."""
    n_fine = min(fine.logpow.shape[0], int(seconds * RATE * SUB / HOP))
    scores = np.full(len(time_scales), -np.inf)
    for i, (kind, factor) in enumerate(time_scales):
        weights = _cell_weights(factor if kind == "speed" else 1.0)
        for start in COARSE_STARTS:
            # slot j's two frames sit at start + 2 * HOP * j (+ HOP) of the original's time
            n_slots = int((n_fine * HOP / SUB * factor - start) // (FRAMES_PER_SLOT * HOP))
            if n_slots < MIN_SLOTS:
                continue
            at = start + FRAMES_PER_SLOT * HOP * np.arange(n_slots)
            frames = [np.minimum(np.round((at + HOP * k) / factor / (HOP / SUB)).astype(np.int64),
                                 n_fine - 1) for k in range(FRAMES_PER_SLOT)]
            cells = sum(fine.logpow[f] for f in frames) @ weights / FRAMES_PER_SLOT
            for w in _sync_weighted(cells):
                corr, energy = _phase_sums(w, lay.sync)
                scores[i] = max(scores[i], float(np.max(corr / np.sqrt(np.maximum(energy, 1e-12)))))
    return scores


def rank_time_scales(fine: FineSpectrum, lay: Layout,
                     time_scales: tuple[tuple[str, float], ...]) -> list[int]:
    """Indices into ``time_scales``, the likeliest first: those on the COARSE_STEP grid
    scored on the first COARSE_SECONDS, then the neighbours (within REFINE_SPAN, the same
    kind) of the COARSE_WINNERS best, scored on up to REFINE_SECONDS."""
    def on_grid(f: float) -> bool:
        return abs(f / COARSE_STEP - round(f / COARSE_STEP)) < 1e-6

    coarse = [i for i, (_, f) in enumerate(time_scales) if on_grid(f)] or \
        list(range(len(time_scales)))
    scores = coarse_scores(fine, lay, [time_scales[i] for i in coarse], COARSE_SECONDS)
    winners = [time_scales[coarse[j]] for j in np.argsort(-scores, kind="stable")]
    near = [i for i, (kind, f) in enumerate(time_scales)
            if any(kind == k and abs(f - w) <= REFINE_SPAN + 1e-9
                   for k, w in winners[:COARSE_WINNERS])]
    refined = coarse_scores(fine, lay, [time_scales[i] for i in near], REFINE_SECONDS)
    return [near[j] for j in np.argsort(-refined, kind="stable")]


def _undone(y16: np.ndarray, kind: str, factor: float) -> tuple[np.ndarray, float]:
    """(samples, analysis hop) with a ``factor`` times faster replay undone: a speed change
    by reading the samples at ``RATE / factor`` (time and pitch come back), a tempo change by
    analysing every ``HOP / factor`` samples (time comes back, the pitch was kept)."""
    if kind == "speed":
        from emo_safe.media import resample

        return resample(y16.astype(np.float32), round(RATE / factor), RATE), HOP
    if kind == "tempo":
        return y16, HOP / factor
    return y16, HOP


class _Search:
    """The best candidates over the analyses added so far, and the payload decoding at them
    (every candidate decoded is counted: the CRC test's bound)."""

    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        # (z, scale index, (offset, predictor), cycle phase), best first
        self.candidates: list[tuple[float, int, tuple[int, int], int]] = []
        self.analyses: dict[int, Analysis] = {}
        self.decoded: set[tuple[int, int, int]] = set()  # (scale, offset, phase)

    def add(self, index: int, analysis: Analysis) -> None:
        best = []
        for alignment, w in analysis.hypotheses():
            if w.shape[0] < MIN_SLOTS:
                continue
            corr, energy = _phase_sums(w, self.lay.sync)
            z = corr / np.sqrt(np.maximum(energy, 1e-12))
            for phase in np.argsort(z)[-N_CANDIDATES:]:
                best.append((float(z[phase]), index, alignment, int(phase)))
        self.analyses[index] = analysis
        self.candidates = sorted(self.candidates + best, reverse=True)[:N_CANDIDATES]
        # only the analyses that still hold a candidate are kept (memory: at most four)
        self.analyses = {i: a for i, a in self.analyses.items()
                         if any(c[1] == i for c in self.candidates)}

    def decode(self) -> tuple[bytes, tuple[float, int, tuple[int, int], int]] | None:
        """The first candidate whose payload decodes; one that failed before is not decoded
        again (its soft bits are the same: the reading combines every predictor, so the
        predictor that found the candidate does not matter)."""
        for candidate in self.candidates:
            _z, index, (offset, _predictor), phase = candidate
            if (index, offset, phase) in self.decoded:
                continue
            self.decoded.add((index, offset, phase))
            w, levels = self.analyses[index].cells_at(offset)
            payload, _ = _ecc.decode_payload(_soft_bits(w, self.lay, phase, levels),
                                             PAYLOAD_BYTES)
            if payload is not None:
                return payload, candidate
        return None


def detect(y16: np.ndarray, key: bytes,
           time_scales: tuple[tuple[str, float], ...] = (),
           fine_scales: int = FINE_SCALES) -> Detection:
    """Search the alignment and, when asked, ``time_scales`` such as :data:`TIME_SCALES`
    (unless the unscaled reading already decodes: coarse scores for all, the whole search for
    the ``fine_scales`` best), decode the payload at the best candidates; see the module's
    docstring for the two tests and their bounds. Every time scale of the grid multiplies the
    hypotheses counted, whether or not it was read exactly."""
    lay = layout(key)
    seconds = len(y16) / RATE
    scales = (("none", 1.0), *time_scales)
    hypotheses = HYPOTHESES * len(scales)
    if len(y16) < MIN_SLOTS * FRAMES_PER_SLOT * HOP:
        return Detection(1.0, 0.0, None, seconds, 0, 0, hypotheses)
    fine = FineSpectrum(y16, *((WIDE_LO, WIDE_HI) if time_scales else (LO, HI)))
    search = _Search(lay)
    search.add(0, Analysis(y16, fine=fine))
    found = search.decode()
    if time_scales and found is None:
        for i in rank_time_scales(fine, lay, time_scales)[:fine_scales]:
            search.add(i + 1, Analysis(*_undone(y16, *time_scales[i])))
        found = search.decode()
    if not search.candidates:
        return Detection(1.0, 0.0, None, seconds, 0, 0, hypotheses)
    z_best, index, (offset, _), phase = search.candidates[0]
    p_sync = min(1.0, hypotheses * _norm_sf(z_best))
    payload = None
    if found is not None:
        payload, (_z, index, (offset, _), phase) = found
    p_payload = len(search.decoded) * 2.0 ** -_ecc.CRC_BITS if payload is not None else 1.0
    p = min(1.0, 2 * min(p_sync, p_payload))
    return Detection(p, z_best, payload, seconds, offset, phase, hypotheses, scales[index])
