"""An experiment, not a scheme: would a second, additive payload layer let the audio mark read
white noise at 10 dB SNR (the one attack of issue 19 it misses), and what would it cost?

The kept mark (`org.emo-safe.wm.audio.v1`) multiplies the magnitudes of STFT cells and is
read from log power with the host predicted from neighbouring cells; noise fills the quiet
cells where its energy is. The layer tried here adds a keyed +-1 chip to each MDCT
coefficient (sine window, 512 samples every 256: an orthogonal transform, so what is added
is exactly what is read), shaped by the kept mark's own gain curve, and is read by
correlating each coefficient over its local RMS. A quarter of its coefficients carry a sync
pattern that repeats every 3.07 s (the kept mark's cycle), found at every lag at once by one
FFT cross-correlation of the time-domain whitened audio with the cyclic sync waveform, then
refined to a quarter sample with the exact reading (it needs the sample: the band's top turns
160 degrees a sample).

For each clip and attack the script reports the kept mark alone at the whole SNR (read by
the shipped detector, as `verify` reads: payload exact at p <= 1e-6), and the two layers
split at the same total SNR (`--split`: the kept mark's share of the energy): each layer's
sync z and soft bits' mean over their spread (mu) at what its own search found, the two
combined (each layer's soft bits weighted by its sync z above 4, roughly the best of its
noise-only hypotheses), and whether the combined soft bits decode to the payload (Viterbi,
CRC-24). The hybrid is read without the time-scale search, so the speed and tempo rows are
left out. PESQ-WB of the speech clips for both.

Run:  python benchmarks/audio_additive_layer.py [--split 0.7] [--cap 0.9] [--active-db -20]
          [--keys 1] [--out benchmarks/out/audio-additive-layer.md]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import audio_watermark as suite
from _report import write_report

from emo_safe import media
from emo_safe.watermark import _audio, _ecc, get_scheme

RATE = _audio.RATE
M = 256  # MDCT hop (coefficients per frame); the window is 2M
LO, HI = 8, 224  # 250 Hz - 7 kHz at 31.25 Hz a coefficient
CYCLE_FRAMES = 2 * _audio.CYCLE  # the kept mark's cycle: 96 slots x 2 frames
CYCLE = CYCLE_FRAMES * M
N_CODED = _audio.N_CODED
SNR_DB = _audio.MIN_SNR_DB
ATTACKS = ("none", "noise 10 dB SNR", "AAC 32 kbps", "Opus 24 kbps", "MP3 64 kbps",
           "3 s excerpt", "cut first and last 1 s", "music mixed at 0 dB",
           "phone band 300-3400 Hz", "loudspeaker + room (RT60 0.3 s)")

_n = np.arange(2 * M)
_BASIS = (np.sqrt(2 / M) * np.sin(np.pi * (_n + 0.5) / (2 * M))[None, :]
          * np.cos(np.pi / M * (_n[None, :] + 0.5 + M / 2) * (np.arange(M)[:, None] + 0.5)))


def mdct(x: np.ndarray) -> np.ndarray:
    frames = (len(x) - 2 * M) // M + 1
    return x[np.arange(frames)[:, None] * M + _n[None, :]] @ _BASIS.T


def imdct(coefficients: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros(max(length, (coefficients.shape[0] + 1) * M))
    for i, frame in enumerate(coefficients @ _BASIS):
        out[i * M : i * M + 2 * M] += frame
    return out[:length]


def _padded(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros(2 * M), x, np.zeros(2 * M)])


def _local_energy(band: np.ndarray) -> np.ndarray:
    """The kept mark's masking neighbourhood (3 frames x 5 coefficients); the box filter's
    rounding can leave a hair below zero."""
    return np.maximum(_audio._masking_mean(band ** 2), 0.0)


def _gain(energy: np.ndarray, cap: float) -> np.ndarray:
    """The kept mark's gain curve: 2.5 % in loud coefficients, up to ``cap`` (the kept mark:
    90 %) in quiet ones."""
    ref = np.percentile(energy, _audio.REFERENCE_PERCENTILE)
    return np.clip(_audio.ALPHA * ref / np.maximum(energy, ref * 1e-12), _audio.ALPHA, cap)


def layout(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(owner, chip) per cycle frame and band coefficient: -1 sync, else the coded bit."""
    n = CYCLE_FRAMES * (HI - LO)
    stream = np.frombuffer(hashlib.shake_256(key + b"additive layer").digest(16 * n), "<u8")
    chip = np.where(stream[:n] & 1, 1.0, -1.0)
    order = np.argsort(stream[n:], kind="stable")
    owner = np.empty(n, np.int64)
    owner[order[: n // 4]] = -1
    owner[order[n // 4 :]] = np.arange(n - n // 4) % N_CODED
    return owner.reshape(CYCLE_FRAMES, -1), chip.reshape(CYCLE_FRAMES, -1)


def additive_mark(x16: np.ndarray, key: bytes, coded: np.ndarray, snr_db: float,
                  cap: float, active_db: float | None = None) -> np.ndarray:
    """``active_db``: nothing in frames whose band energy is this far below the loud frames'
    (the 90th percentile): the pauses, where added noise is heard and the attack's noise
    would bury the layer anyway."""
    owner, chip = layout(key)
    coefficients = mdct(_padded(x16))
    band = coefficients[:, LO:HI]
    energy = _local_energy(band)
    rows = np.arange(band.shape[0]) % CYCLE_FRAMES
    values = chip[rows] * np.where(owner[rows] < 0, 1.0, coded[np.maximum(owner[rows], 0)])
    delta = np.zeros_like(coefficients)
    shaped = np.sqrt(energy) * _gain(energy, cap)
    if active_db is not None:
        frame = np.sum(band ** 2, axis=1)
        shaped[frame < np.percentile(frame, 90) * 10 ** (active_db / 10)] = 0.0
    delta[:, LO:HI] = shaped * values
    mark = imdct(delta, len(x16) + 4 * M)[2 * M : 2 * M + len(x16)]
    return mark * np.sqrt(np.sum(x16 ** 2) * 10 ** (-snr_db / 10) / np.sum(mark ** 2))


def _whitened(band: np.ndarray) -> np.ndarray:
    return band / np.sqrt(np.maximum(_local_energy(band), 1e-20))


def _delayed(x: np.ndarray, delay: float) -> np.ndarray:
    if delay == 0:
        return x
    f = np.fft.rfftfreq(len(x))
    return np.fft.irfft(np.fft.rfft(x) * np.exp(-2j * np.pi * f * delay), n=len(x))


def read_additive(y16: np.ndarray, key: bytes, lag: float) -> tuple[float, np.ndarray]:
    """(sync z, soft bits) with the received sample r taken as the marked sample r - lag."""
    owner, chip = layout(key)
    whole = int(np.floor(lag))
    padded = _delayed(_padded(y16), lag - whole)
    first = max(0, -(whole // M)) if whole < 0 else 0
    band = mdct(padded[M * first + whole :])[:, LO:HI]
    rows = (np.arange(band.shape[0]) + first) % CYCLE_FRAMES
    terms = _whitened(band) * chip[rows]
    sync = terms[owner[rows] < 0]
    data = owner[rows] >= 0
    soft = np.bincount(owner[rows][data], terms[data], minlength=N_CODED)
    return float(sync.sum() / np.sqrt(np.sum(sync ** 2) + 1e-30)), soft


def lag_candidates(y16: np.ndarray, key: bytes, top: int = 3) -> list[int]:
    """The lags (mod one cycle) where the whitened audio correlates best with the cyclic sync
    waveform: every lag at once, one FFT."""
    owner, chip = layout(key)
    sync = np.zeros((CYCLE_FRAMES + 1, M))
    sync[:CYCLE_FRAMES, LO:HI] = np.where(owner < 0, chip, 0.0)
    wave = imdct(sync, (CYCLE_FRAMES + 1) * M)
    cyclic = wave[:CYCLE].copy()
    cyclic[: M] += wave[CYCLE:]  # the last frame's tail wraps to the cycle's start
    padded = _padded(y16)
    coefficients = mdct(padded)
    white = np.zeros_like(coefficients)
    white[:, LO:HI] = _whitened(coefficients[:, LO:HI])
    whitened = imdct(white, len(padded))
    n = len(whitened) + CYCLE
    tiled = np.tile(cyclic, n // CYCLE + 1)[:n]
    signal = np.zeros(n)
    signal[: len(whitened)] = whitened
    corr = np.fft.irfft(np.fft.rfft(signal) * np.conj(np.fft.rfft(tiled)), n=n)[:CYCLE]
    best = np.argsort(corr)[-top:][::-1]
    return [int(b) - CYCLE if b > CYCLE // 2 else int(b) for b in best]


def additive_reading(y16: np.ndarray, key: bytes) -> tuple[float, np.ndarray]:
    found = []
    for lag in lag_candidates(y16, key):
        z, best = max((read_additive(y16, key, lag + d)[0], lag + d)
                      for d in (-0.5, -0.25, 0.0, 0.25, 0.5))
        found.append((z, best))
    z, lag = max(found)
    return read_additive(y16, key, lag)


def kept_reading(y16: np.ndarray, key: bytes) -> tuple[float, np.ndarray]:
    """The kept mark's decoder at its best candidate (the plain reading, no time scales)."""
    lay = _audio.layout(key)
    search = _audio._Search(lay)
    search.add(0, _audio.Analysis(y16))
    z, index, (offset, _), phase = search.candidates[0]
    cells, levels = search.analyses[index].cells_at(offset)
    return z, _audio._soft_bits(cells, lay, phase, levels)


def mu(soft: np.ndarray, coded: np.ndarray) -> float:
    t = soft * coded
    return float(t.mean() / t.std())


def hybrid(host: media.Audio, kept: media.Audio, key: bytes, payload: bytes, split: float,
           cap: float, active_db: float | None = None) -> media.Audio:
    """``kept``: the host marked by the kept mark alone (its share is scaled from it)."""
    x = host.samples.astype(np.float64)
    kept = kept.samples.astype(np.float64)
    x16 = media.resample(host.samples, host.rate, RATE).astype(np.float64)
    coded = _ecc.encode_payload(payload).astype(np.float64) * 2 - 1
    extra = additive_mark(x16, key, coded, SNR_DB - 10 * np.log10(1 - split), cap, active_db)
    extra = media.resample(extra.astype(np.float32), RATE, host.rate)[: len(x)]
    total = x + np.sqrt(split) * (kept - x) + np.pad(extra, (0, len(x) - len(extra)))
    return media.Audio(np.clip(total, -1, 1).astype(np.float32), host.rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", type=float, default=0.7, help="the kept mark's share of the energy")
    ap.add_argument("--cap", type=float, default=_audio.GAIN_MAX,
                    help="the additive layer's largest gain (the kept mark's: 0.9)")
    ap.add_argument("--active-db", type=float, default=None,
                    help="leave out frames this many dB (negative) below the loud ones")
    ap.add_argument("--keys", type=int, default=1, help="keys (key i: 32 bytes of i + 3)")
    ap.add_argument("--clips",
                    default="speech 7.5 s (recording),speech 10 s (espeak-ng),music 10 s")
    ap.add_argument("--out", default="benchmarks/out/audio-additive-layer.md")
    args = ap.parse_args()
    started = time.perf_counter()
    table = suite.attacks(Path(tempfile.mkdtemp(prefix="emo-safe-additive-")))
    clips = suite.clips()
    out = [f"## A second, additive layer: the kept mark at {args.split:.0%} of the energy, the "
           f"layer at {1 - args.split:.0%} (gain up to {args.cap}"
           + (f", none {-args.active_db:g} dB below the loud frames" if args.active_db else "")
           + f"), {SNR_DB} dB in all", "",
           "| key | clip | attack | kept alone (shipped detector) | hybrid: kept z / mu | "
           "hybrid: additive z / mu | combined mu | combined decodes |",
           "|---|---|---|---|---|---|---|---|"]
    quality = ["", "| key | clip | SNR kept alone / hybrid (dB) | PESQ-WB kept alone / hybrid |",
               "|---|---|---|---|"]
    for i in range(3, 3 + args.keys):
        key, payload = bytes([i]) * 32, bytes([i * 7 % 256, 1, 2, 3, 4, i])
        coded = _ecc.encode_payload(payload).astype(np.float64) * 2 - 1
        scheme = get_scheme(suite.SCHEME, key)
        for name in args.clips.split(","):
            host = clips[name]
            kept = scheme.embed(host, payload)
            both = hybrid(host, kept, key, payload, args.split, args.cap, args.active_db)
            quality.append(f"| {i} | {name} | {suite.snr_db(host, kept):.1f} / "
                           f"{suite.snr_db(host, both):.1f} | "
                           + (f"{suite.pesq_wb(host, kept)} / {suite.pesq_wb(host, both)}"
                              if "speech" in name else "-") + " |")
            for attack in ATTACKS:
                ev = scheme.detect(table[attack](kept))
                alone = f"{'yes' if ev.payload == payload.hex() and ev.detected else 'no'} " \
                        f"{ev.p_value:.0e}"
                attacked = table[attack](both)
                y16 = media.resample(np.asarray(attacked.samples, np.float32), attacked.rate,
                                     RATE).astype(np.float64)
                zk, soft_k = kept_reading(y16, key)
                za, soft_a = additive_reading(y16, key)
                combined = (max(zk - 4, 0) * soft_k / soft_k.std()
                            + max(za - 4, 0) * soft_a / soft_a.std())
                decoded, _ = _ecc.decode_payload(combined, len(payload))
                # neither layer above its noise: nothing to combine
                both_mu = f"{mu(combined, coded):.2f}" if combined.any() else "-"
                out.append(f"| {i} | {name} | {attack} | {alone} | {zk:.1f} / "
                           f"{mu(soft_k, coded):.2f} | {za:.1f} / {mu(soft_a, coded):.2f} | "
                           f"{both_mu} | {'yes' if decoded == payload else 'no'} |")
                print(out[-1], flush=True)
    out += quality
    out.append(f"\n{time.perf_counter() - started:.0f} s")
    write_report(out, args.out)


if __name__ == "__main__":
    main()
