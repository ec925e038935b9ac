"""``puppet``: the built-in audio-driven portrait animator (CPU, no weights, deterministic).

Per video frame, audio features drive a smooth dense displacement field over the face-centred
crop, applied with one ``cv2.remap``:

- **mouth opening** from the loudness envelope (RMS in dB, normalised to the clip's speech
  level, gated to zero in silence): the jaw, lower lip and chin move down, the upper lip a little
  up, and the opening between the inner lips is painted as a mouth interior (dark, with a teeth
  band under the upper lip when it opens wide);
- **mouth width** from the spectral centroid (bright vowels widen the mouth, dark ones round it);
- **blinks** at seeded, natural intervals (2.5-6 s, ~0.2 s each);
- **head motion**: a small rotation and nod that follow the smoothed speech energy, plus a slow
  seeded sway.

The displacement field is a weighted sum of a few basis fields computed once from the 68 face
landmarks, so a frame costs a few array multiply-adds, one remap and a small polygon fill.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from emo_safe._version import __version__
from emo_safe.generators.base import (
    GeneratedVideo,
    GenerationInput,
    face_crop_box,
    frame_count_for,
)
from emo_safe.generators.options import Option
from emo_safe.media import Audio

SILENCE_DB_BELOW_PEAK = 32.0  # frames this far below the speech level count as silence
OPEN_FRACTION = 0.10  # jaw drop at full loudness, as a fraction of the face height
# A photo with a resting open mouth (a smile) needs a larger drop for speech to read as speech:
# at full loudness the jaw drops at least this many times the photo's own inner-lip gap, so
# loud frames open clearly beyond the resting mouth (and silence returns to it).
REST_GAP_GAIN = 1.6
BLINK_SECONDS = 0.2


# ------------------------------------------------------------------------------ audio features
@dataclass(frozen=True)
class AudioFeatures:
    opening: np.ndarray  # (n,) 0..1 mouth opening per video frame
    width: np.ndarray  # (n,) -1..1 mouth width change
    energy: np.ndarray  # (n,) 0..1 slowly smoothed speech energy (drives head motion)
    loudness_db: np.ndarray  # (n,) raw RMS level per frame, dBFS


def audio_features(audio: Audio, fps: float, n: int) -> AudioFeatures:
    x = np.asarray(audio.samples, np.float32)
    hop = audio.rate / fps
    win = int(round(hop))
    db = np.full(n, -120.0)
    centroid = np.zeros(n)
    freqs = np.fft.rfftfreq(max(win, 2), 1.0 / audio.rate)
    window = np.hanning(max(win, 2)).astype(np.float32)
    for i in range(n):
        start = int(round(i * hop))
        seg = x[start : start + win]
        if seg.size < 2:
            continue
        rms = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2)))
        db[i] = 20 * math.log10(max(rms, 1e-6))
        spec = np.abs(np.fft.rfft(seg * window[: seg.size], n=max(win, 2)))
        total = spec.sum()
        centroid[i] = float((spec * freqs).sum() / total) if total > 0 else 0.0
    voiced_level = np.percentile(db, 95) if n else -120.0
    floor = max(voiced_level - SILENCE_DB_BELOW_PEAK, -70.0)
    opening = np.clip((db - floor) / max(voiced_level - floor, 1e-6), 0, 1) ** 1.3
    opening[db <= floor] = 0.0
    # Lips move a little before and after the sound; a short centred average reads as speech
    # rather than jitter, and silence stays exactly closed.
    opening = np.convolve(opening, np.array([0.25, 0.5, 0.25]), mode="same")
    opening[opening < 0.04] = 0.0
    width = np.clip((centroid - 1800.0) / 1500.0, -1, 1) * (opening > 0)
    width = np.convolve(width, np.ones(3) / 3, mode="same")
    k = max(1, int(fps * 0.8))
    energy = np.convolve(opening, np.ones(k) / k, mode="same")
    energy = energy / max(float(energy.max()), 1e-6)
    return AudioFeatures(opening, width, energy, db)


def blink_profile(n: int, fps: float, seed: int) -> np.ndarray:
    """Eyelid closure 0..1 per frame: blinks at seeded intervals of 2.5-6 s."""
    rng = np.random.default_rng(seed + 7919)
    closure = np.zeros(n)
    t = rng.uniform(0.8, 3.0)
    half = max(1.0, BLINK_SECONDS * fps / 2)
    while t * fps < n:
        c = t * fps
        lo, hi = int(math.floor(c - half)), int(math.ceil(c + half))
        for i in range(max(lo, 0), min(hi + 1, n)):
            closure[i] = max(closure[i], 1 - abs(i - c) / (half + 0.5))
        t += rng.uniform(2.5, 6.0)
    return np.clip(closure * 1.15, 0, 1)


# ------------------------------------------------------------------------------ the rig
def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


@dataclass
class FaceRig:
    """Basis displacement fields (dx, dy per pixel) for one face-centred crop."""

    shape: tuple[int, int]  # (height, width) of the animated image
    landmarks: np.ndarray  # (68, 2) in its pixels
    jaw: np.ndarray  # (2, h, w) per pixel of jaw drop
    upper_lip: np.ndarray
    width: np.ndarray
    blink: np.ndarray
    face_height: float
    center: tuple[float, float]
    rest_gap: float = 0.0  # the photo's own inner-lip gap (px): a resting open mouth

    @property
    def drop_amplitude(self) -> float:
        """The jaw drop at full loudness, px."""
        return max(self.face_height * OPEN_FRACTION, REST_GAP_GAIN * self.rest_gap)

    @classmethod
    def build(cls, landmarks: np.ndarray, shape: tuple[int, int]) -> FaceRig:
        L = landmarks.astype(np.float32)
        h, w = shape
        size = min(h, w)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        mouth = L[48:68]
        mc = mouth.mean(axis=0)
        mouth_w = float(np.linalg.norm(L[54] - L[48]))
        face_h = float(np.linalg.norm(L[8] - L[27])) or size / 3
        jaw_w = float(np.linalg.norm(L[16] - L[0])) or size / 3
        chin_y = float(L[8, 1])
        # The jaw moves what is below the lower lip's inner edge: a mouth already open in the
        # photo (a smile) keeps its opening, teeth and all, and the drop adds to it.
        lip_line = float(L[65:68, 1].mean())

        # Jaw drop: everything below the lip line moves down, fading out sideways (jaw width)
        # and below the chin (the neck stays), so the chin and lower lip move as one.
        below = _smoothstep(lip_line - 0.02 * face_h, lip_line + 0.04 * face_h, yy)
        neck = 1 - _smoothstep(chin_y + 0.02 * face_h, chin_y + 0.3 * face_h, yy)
        side = np.exp(-0.5 * ((xx - mc[0]) / (0.42 * jaw_w)) ** 2)
        jaw = np.stack([np.zeros_like(xx), below * neck * side])

        # Upper lip: a small lift, local to the mouth.
        g_up = np.exp(-0.5 * (((xx - mc[0]) / (0.6 * mouth_w)) ** 2
                              + ((yy - (lip_line - 0.05 * face_h)) / (0.06 * face_h)) ** 2))
        upper = np.stack([np.zeros_like(xx), -g_up * (yy < lip_line)])

        # Width: horizontal stretch about the mouth centre, local to the mouth.
        g_w = np.exp(-0.5 * (((xx - mc[0]) / (0.7 * mouth_w)) ** 2
                             + ((yy - mc[1]) / (0.12 * face_h)) ** 2))
        width = np.stack([(xx - mc[0]) / (mouth_w / 2) * g_w, np.zeros_like(xx)])

        # Blink: the upper lid slides down over each eye.
        blink = np.zeros((2, h, w), np.float32)
        for eye in (L[36:42], L[42:48]):
            ec = eye.mean(axis=0)
            ew = float(np.linalg.norm(eye[3] - eye[0])) or size / 20
            eh = max(float((eye[4, 1] + eye[5, 1] - eye[1, 1] - eye[2, 1]) / 2), 0.18 * ew)
            g = np.exp(-0.5 * (((xx - ec[0]) / (0.55 * ew)) ** 2
                               + ((yy - ec[1]) / (0.9 * eh + 1)) ** 2))
            blink[1] += g * eh * 1.1
        return cls((h, w), L, jaw.astype(np.float32), upper.astype(np.float32),
                   width.astype(np.float32), blink, face_h, (float(mc[0]), float(mc[1])),
                   float(np.linalg.norm(L[66] - L[62])))

    def inner_mouth(self, drop: float) -> np.ndarray:
        """The opening the jaw drop reveals: a lens between the inner mouth corners whose top
        edge is the lower lip's inner edge (what stays: above it, the photo's own mouth, open
        or closed) and whose bottom edge is that line moved down by ``drop`` (what moved with
        the jaw). Teeth already visible in the photo stay."""
        L = self.landmarks
        corners = L[[60, 64]]
        top = np.vstack([corners[0], L[[67, 66, 65]], corners[1]])
        weight = np.array([0.0, 0.8, 1.0, 0.8, 0.0])[:, None]
        bottom = top + weight * [0.0, drop]
        return np.vstack([top, bottom[::-1][1:-1]]).astype(np.float32)


class PuppetGenerator:
    name = "puppet"
    version = __version__
    options = {"full_image": Option(bool, "animate the whole photo instead of the face-centred "
                                          "crop")}

    def generate(self, inp: GenerationInput) -> GeneratedVideo:
        n = frame_count_for(inp.audio, inp.fps)
        full = bool(inp.options.get("full_image"))
        if full:  # animate the whole photo (cropped to even sides for yuv420p)
            h, w = inp.image.shape[0] & ~1, inp.image.shape[1] & ~1
            base = np.ascontiguousarray(inp.image[:h, :w])
            landmarks = inp.face.landmarks
        else:
            x0, y0, side = face_crop_box(inp.image.shape, inp.face.box)
            crop = inp.image[y0 : y0 + side, x0 : x0 + side]
            interp = cv2.INTER_AREA if side > inp.size else cv2.INTER_CUBIC
            base = cv2.resize(crop, (inp.size, inp.size), interpolation=interp)
            landmarks = (inp.face.landmarks - [x0, y0]) * (inp.size / side)
        rig = FaceRig.build(landmarks, base.shape[:2])
        feats = audio_features(inp.audio, inp.fps, n)
        blinks = blink_profile(n, inp.fps, inp.seed)
        settings = {"fps": inp.fps, "size": inp.size, "full_image": full, "seed": inp.seed,
                    "frame": {"width": int(base.shape[1]), "height": int(base.shape[0])},
                    "open_fraction": OPEN_FRACTION, "rest_gap_gain": REST_GAP_GAIN,
                    "silence_db_below_peak": SILENCE_DB_BELOW_PEAK}
        return GeneratedVideo(frames=self._frames(base, rig, feats, blinks, inp),
                              fps=inp.fps, audio=inp.audio, frame_count=n, settings=settings)

    def _frames(self, base: np.ndarray, rig: FaceRig, feats: AudioFeatures, blinks: np.ndarray,
                inp: GenerationInput) -> Iterator[np.ndarray]:
        h, w = base.shape[:2]
        rng = np.random.default_rng(inp.seed)
        phase = rng.uniform(0, 2 * math.pi, 3)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        cx, cy = rig.center[0], rig.center[1] - 0.5 * rig.face_height  # pivot near the nose
        amp = rig.drop_amplitude
        mouth_colour = np.array([92, 38, 42], np.float32)
        teeth_colour = np.array([214, 206, 192], np.float32)
        for i in range(len(feats.opening)):
            t = i / inp.fps
            o, wdt, e = float(feats.opening[i]), float(feats.width[i]), float(feats.energy[i])
            drop = o * amp
            disp = rig.jaw * drop + rig.upper_lip * (0.25 * drop) \
                + rig.width * (0.06 * wdt * rig.face_height / 4) + rig.blink * float(blinks[i])
            # Head: a slow seeded sway, livelier with speech; a small nod on loud frames.
            angle = math.radians(1.2 * math.sin(2 * math.pi * t / 4.1 + phase[0]) * (0.35 + e))
            nod = rig.face_height * (0.012 * e * math.sin(2 * math.pi * t / 1.3 + phase[1]))
            sway = rig.face_height * 0.01 * math.sin(2 * math.pi * t / 5.3 + phase[2])
            ca, sa = math.cos(angle), math.sin(angle)
            # Inverse rotation about the pivot for the backward map, then the local field.
            rx, ry = xx - cx - sway, yy - cy - nod
            map_x = ca * rx + sa * ry + cx - disp[0]
            map_y = -sa * rx + ca * ry + cy - disp[1]
            frame = cv2.remap(base, map_x, map_y, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REFLECT101)
            if drop > 0.6:
                frame = self._paint_mouth(frame, rig, drop, angle, (cx, cy), (sway, nod),
                                          mouth_colour, teeth_colour)
            yield frame

    @staticmethod
    def _paint_mouth(frame, rig, drop, angle, pivot, shift, mouth_colour, teeth_colour):
        poly = rig.inner_mouth(drop)
        ca, sa = math.cos(angle), math.sin(angle)
        px, py = poly[:, 0] - pivot[0], poly[:, 1] - pivot[1]
        poly = np.stack([ca * px - sa * py + pivot[0] + shift[0],
                         sa * px + ca * py + pivot[1] + shift[1]], axis=1)
        x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 4
        x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 4
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return frame
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 1.0,
                     lineType=cv2.LINE_AA, shift=2)
        mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
        roi = frame[y0:y1, x0:x1].astype(np.float32)
        # Darker towards the middle of the opening (depth), warmer at the lips.
        depth = cv2.GaussianBlur(mask[..., 0], (0, 0), max(1.0, drop / 4))[..., None]
        interior = mouth_colour * (1.0 - 0.55 * np.clip(depth / max(float(depth.max()), 1e-6),
                                                         0, 1))
        # Upper teeth: a light band under the top edge once the mouth is well open.
        top = float(poly[1:4, 1].mean()) - y0
        band = max(1.0, 0.3 * drop)
        rows = np.arange(y1 - y0, dtype=np.float32)[:, None, None]
        # The photo's own teeth show above the opening when its mouth was open already.
        own_teeth = min(1.0, rig.rest_gap / max(0.04 * rig.face_height, 1e-6))
        teeth = np.clip(1 - np.abs(rows - (top + band / 2)) / band, 0, 1) * \
            min(0.8, drop / 10) * (1.0 - own_teeth)
        interior = interior * (1 - teeth) + teeth_colour * teeth
        out = roi * (1 - mask) + interior * mask
        frame = frame.copy() if not frame.flags.writeable else frame
        frame[y0:y1, x0:x1] = np.clip(out, 0, 255).astype(np.uint8)
        return frame
