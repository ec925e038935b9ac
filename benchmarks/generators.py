"""Generator benchmark: lip sync, mouth closure in silence, identity, stability and speed.

Run:  python benchmarks/generators.py [--out benchmarks/out/generators.md]

Real portraits (the bundled astronaut, tests/data alex-lacamoire, lin-manuel-miranda, obama2)
and real speech (the bundled espeak-ng clip, 7.5 s), padded with 1.5 s of silence in the middle
so that closure can be measured. Every measurement on the output is made by dlib's landmark
model on the decoded frames, independently of the landmarks that drove the animation. `still`
(the photo held still) is the baseline in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import write_report

from emo_safe._resources import sample_path
from emo_safe.faces import FaceAnalyzer
from emo_safe.generators import GenerationInput, get_generator
from emo_safe.generators.base import face_crop
from emo_safe.generators.puppet import blink_profile
from emo_safe.media import Audio, load_audio, load_image

PORTRAITS = {"astronaut": sample_path("portrait.jpg"),
             "alex": ROOT / "tests/data/alex-lacamoire.png",
             "lin": ROOT / "tests/data/lin-manuel-miranda.png",
             "obama2": ROOT / "tests/data/obama2.jpg"}
FPS = 25


def speech_with_silence() -> Audio:
    speech = load_audio(sample_path("speech.m4a"))
    half = len(speech.samples) // 2
    silence = np.zeros(int(1.5 * speech.rate), np.float32)
    return Audio(np.concatenate([speech.samples[:half], silence, speech.samples[half:]]),
                 speech.rate)


def rms_envelope(audio: Audio, n: int) -> np.ndarray:
    hop = audio.rate / FPS
    out = np.zeros(n)
    for i in range(n):
        seg = audio.samples[int(i * hop) : int(i * hop + hop)]
        out[i] = float(np.sqrt(np.mean(seg.astype(np.float64) ** 2))) if seg.size else 0.0
    return out


def measure(frames, fa, ref_embedding, blinking=None):
    """Opening and landmarks per frame; identity distance on every 10th frame, split into
    frames with open eyes and frames inside a blink (closed eyes move dlib's embedding)."""
    opening, landmarks, dist, blink_dist = [], [], [], []
    for i, f in enumerate(frames):
        faces = fa.detect(f, upsample=0, embed=(i % 10 == 0))
        if not faces:
            opening.append(np.nan)
            landmarks.append(None)
            continue
        L = faces[0].landmarks
        opening.append(np.linalg.norm(L[66] - L[62]) / np.linalg.norm(L[8] - L[27]))
        landmarks.append(L)
        if i % 10 == 0:
            d = faces[0].distance(ref_embedding)
            (blink_dist if blinking is not None and blinking[i] else dist).append(d)
    return np.array(opening), landmarks, np.array(dist), np.array(blink_dist)


def run(out_path):
    fa = FaceAnalyzer()
    audio = speech_with_silence()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from emo_safe.gate.consent import ConsentRegistry
        from emo_safe.pipeline import SafeGenerator
        from emo_safe.workspace import Workspace

        ws = Workspace(Path(tmp) / "ws")
        ws.init()
        consents = ConsentRegistry.for_workspace(ws)
        wav = Path(tmp) / "speech.wav"
        from emo_safe.media import write_wav

        write_wav(wav, audio)
        for pname, path in PORTRAITS.items():
            image = load_image(path)
            face = fa.find_faces(image).faces[0]
            ref = fa.detect(face_crop(image, face.box, 512), upsample=0)[0]  # as measured below
            consents.add(pname, path)
            for gname in ("puppet", "still"):
                gen = get_generator(gname)
                t = time.perf_counter()
                video = gen.generate(GenerationInput(image, face, audio, seed=1))
                frames = list(video.frames)
                gen_fps = len(frames) / (time.perf_counter() - t)
                blinking = blink_profile(len(frames), FPS, 1) > 0.2 if gname == "puppet" \
                    else None
                opening, lms, dist, blink_dist = measure(frames, fa, face.embedding, blinking)
                env = rms_envelope(audio, len(frames))
                ok = ~np.isnan(opening)
                corr = float(np.corrcoef(opening[ok], env[ok])[0, 1]) if np.std(opening[ok]) \
                    > 1e-9 else float("nan")
                silent = np.zeros(len(frames), bool)
                start = int(round((len(audio.samples) - 1.5 * audio.rate) / 2 / audio.rate * FPS))
                silent[start + 3 : start + int(1.5 * FPS) - 3] = True  # clear of the edges
                photo_open = np.linalg.norm(ref.landmarks[66] - ref.landmarks[62]) / \
                    np.linalg.norm(ref.landmarks[8] - ref.landmarks[27])
                closed = float(np.nanmean(np.abs(opening[silent] - photo_open)))
                jitter = [np.linalg.norm(lms[i] - lms[i - 1], axis=1).mean()
                          for i in np.flatnonzero(silent)[1:]
                          if lms[i] is not None and lms[i - 1] is not None]
                speech_open = float(np.nanmean(opening[env > np.percentile(env, 80)]))
                # The whole safe pipeline: gate, generate, mark, encode, sign, record.
                out = Path(tmp) / f"{pname}-{gname}.mp4"
                t = time.perf_counter()
                res = SafeGenerator(ws, generator=gname).generate(path, wav, out)
                wall = time.perf_counter() - t
                rows.append((pname, gname, corr, speech_open - photo_open, closed,
                             float(np.mean(jitter)) if jitter else float("nan"),
                             float(dist.mean()), float(dist.max()),
                             float(blink_dist.max()) if blink_dist.size else float("nan"), gen_fps,
                             res.frames / wall, audio.duration / wall))
                print(rows[-1], flush=True)
    text = ["## Generator benchmark (512x512, 25 fps; speech 7.5 s + 1.5 s silence)", "",
            "| portrait | generator | lip sync r (mouth opening vs RMS) | opening on loud frames "
            "(of face height, above the photo's) | mouth vs photo in silence | landmark jitter in "
            "silence px | identity distance mean / max (eyes open) | identity in blinks (max) | "
            "generate fps | whole pipeline fps | x real time |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        text.append(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:+.3f} | {r[4]:.4f} | {r[5]:.2f} | "
                    f"{r[6]:.3f} / {r[7]:.3f} | {r[8]:.3f} | {r[9]:.0f} | {r[10]:.0f} | "
                    f"{r[11]:.1f} |")
    puppet = [r for r in rows if r[1] == "puppet"]
    still = [r for r in rows if r[1] == "still"]
    gen_ratio = np.mean([p[9] for p in puppet]) / np.mean([s[9] for s in still])
    pipe_ratio = np.mean([p[10] for p in puppet]) / np.mean([s[10] for s in still])
    text += ["", f"puppet / still in the same run: whole pipeline x{pipe_ratio:.2f} (still's "
             f"generate fps only counts handing out one cached frame, x{gen_ratio:.4f}); mean "
             f"lip sync r {np.mean([p[2] for p in puppet]):.2f}."]
    write_report(text, out_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/out/generators.md")
    run(ap.parse_args().out)


if __name__ == "__main__":
    main()
