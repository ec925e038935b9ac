"""Can dlib's embedding still tell people apart when the eyes are painted over, and can the gate
at least tell that they are?

Run:  python benchmarks/occlusion.py [--out benchmarks/out/occlusion.md]

The gate benchmark's one missed transform is "eyes painted over". This script measures the
idea of occlusion-aware templates: paint one standard band over the eyes of both the gallery
photo and the probe (from the landmarks, wider than the attacker's rectangle so that it covers
it), embed both, and compare. It works only if same-person distances of masked pairs stay
below different-person ones. Faces: the real photos in tests/data (see FACES-ATTRIBUTION.md)
and the bundled astronaut; the attack is the gate benchmark's rectangle.

The second part measures the eye check behind the gate's `eyes-hidden` refusal: the eye detail
(faces.Face.eye_detail) of each face clean, under the gate benchmark's other transforms, and
with its eyes painted over, blurred out, pixelated or behind drawn-on sunglasses.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import write_report
from gate import DATA, _crop_faces, transforms

from emo_safe._resources import sample_path
from emo_safe.faces import EYE_DETAIL_MIN, FaceAnalyzer
from emo_safe.media import load_image

PEOPLE = {"obama.jpg": "Obama", "obama2.jpg": "Obama", "biden.jpg": "Biden",
          "alex-lacamoire.png": "Lacamoire", "lin-manuel-miranda.png": "Miranda"}


def attack(img, face):
    """The gate benchmark's transform: a dark rectangle over the eyes."""
    b, eyes = face.box, face.landmarks[36:48]
    x0, y0 = eyes.min(axis=0) - [0.15 * b.width, 0.1 * b.height]
    x1, y1 = eyes.max(axis=0) + [0.15 * b.width, 0.1 * b.height]
    out = img.copy()
    out[int(y0):int(y1), int(x0):int(x1)] = (20, 20, 20)
    return out


def eye_region(face):
    b, eyes = face.box, face.landmarks[36:48]
    x0, y0 = (eyes.min(axis=0) - [0.15 * b.width, 0.1 * b.height]).astype(int)
    x1, y1 = (eyes.max(axis=0) + [0.15 * b.width, 0.1 * b.height]).astype(int)
    return max(x0, 0), max(y0, 0), x1, y1


def eye_attacks(img, face):
    """Other ways to hide the eyes than the benchmark's paint."""
    x0, y0, x1, y1 = eye_region(face)
    w = face.box.width
    out = {}
    blurred = img.copy()
    blurred[y0:y1, x0:x1] = cv2.GaussianBlur(img[y0:y1, x0:x1], (0, 0), 0.04 * w)
    out["eyes blurred out"] = blurred
    pix = img.copy()
    block = max(2, int(0.08 * w))
    region = pix[y0:y1, x0:x1]
    small = cv2.resize(region, (max(1, region.shape[1] // block), max(1, region.shape[0] // block)),
                       interpolation=cv2.INTER_AREA)
    pix[y0:y1, x0:x1] = cv2.resize(small, (region.shape[1], region.shape[0]),
                                   interpolation=cv2.INTER_NEAREST)
    out["eyes pixelated"] = pix
    glasses = img.copy()
    for eye in (face.landmarks[36:42], face.landmarks[42:48]):
        c = tuple(int(v) for v in eye.mean(axis=0))
        axes = (int(0.16 * w), int(0.11 * w))
        cv2.ellipse(glasses, c, axes, 0, 0, 360, (15, 15, 20), -1)
        cv2.ellipse(glasses, (c[0] - axes[0] // 3, c[1] - axes[1] // 3),
                    (axes[0] // 5, axes[1] // 6), 0, 0, 360, (200, 200, 210), -1)
    out["drawn-on sunglasses"] = glasses
    return out


def masked_embedding(fa, img, face):
    """Our standard band (wider than the attack) painted, then the same landmarks embedded."""
    import dlib

    lm = face.landmarks
    w, h = np.ptp(lm[:, 0]), np.ptp(lm[:, 1])
    eyes = lm[36:48]
    x0, y0 = eyes.min(axis=0) - [0.22 * w, 0.16 * h]
    x1, y1 = eyes.max(axis=0) + [0.22 * w, 0.14 * h]
    masked = img.copy()
    cv2.rectangle(masked, (int(x0), int(y0)), (int(x1), int(y1)), (20, 20, 20), -1)
    _, predictor, recognizer = fa._load()
    rect = dlib.rectangle(face.box.left, face.box.top, face.box.right, face.box.bottom)
    return np.array(recognizer.compute_face_descriptor(masked, predictor(img, rect)), np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "occlusion.md"))
    args = ap.parse_args()
    fa = FaceAnalyzer()
    images = {name: load_image(DATA / name) for name in PEOPLE}
    people = dict(PEOPLE)
    images["astronaut"] = load_image(sample_path("portrait.jpg"))
    people["astronaut"] = "astronaut"
    refs = {n: fa.find_faces(images[n]).faces[0].embedding for n in ("obama.jpg", "biden.jpg")}
    for i, crop in enumerate(_crop_faces(fa, load_image(DATA / "two_people.jpg"))):
        emb = fa.find_faces(crop).faces[0].embedding
        images[f"two_people-{i}"] = crop
        people[f"two_people-{i}"] = min(
            ("Obama", "Biden"), key=lambda p: np.linalg.norm(refs[f"{p.lower()}.jpg"] - emb))
    clean, masked, attacked_found = {}, {}, {}
    for name, img in images.items():
        face = fa.find_faces(img).faces[0]
        clean[name], masked[name] = face.embedding, masked_embedding(fa, img, face)
        hidden = attack(img, face)
        found = fa.find_faces(hidden)
        # Is the face found again where it is, or something else (or nothing)?
        real = [f for f in found.faces
                if abs(f.box.center[0] - face.box.center[0]) < face.box.width / 2
                and abs(f.box.center[1] - face.box.center[1]) < face.box.height / 2]
        attacked_found[name] = (found.method, real[0] if real else None, hidden)

    same_clean, diff_clean, same_masked, diff_masked = [], [], [], []
    for a, b in itertools.combinations(images, 2):
        same = people[a] == people[b]
        (same_clean if same else diff_clean).append(np.linalg.norm(clean[a] - clean[b]))
        (same_masked if same else diff_masked).append(np.linalg.norm(masked[a] - masked[b]))
    same_att, diff_att = [], []
    for a, (_, face, hidden) in attacked_found.items():
        if face is None:
            continue
        probe = masked_embedding(fa, hidden, face)
        for b in images:
            if b != a:
                d = np.linalg.norm(probe - masked[b])
                (same_att if people[a] == people[b] else diff_att).append(d)

    def span(xs):
        return f"{min(xs):.3f}-{max(xs):.3f}" if xs else "-"

    lines = ["## Occlusion-aware templates with dlib (eyes masked on both sides)", "",
             "| pairs | same person: distance range | different people: distance range | "
             "separable (max same < min different) |", "|---|---|---|---|"]
    for label, s, d in (("clean photos", same_clean, diff_clean),
                        ("both masked", same_masked, diff_masked),
                        ("attacked probe (masked) vs masked gallery", same_att, diff_att)):
        sep = "yes" if s and d and max(s) < min(d) else "**no**"
        lines.append(f"| {label} | {span(s)} | {span(d)} | {sep} |")
    lines += ["", "| photo | attacked: search pass | the real face found again |", "|---|---|---|"]
    for name, (method, face, _) in attacked_found.items():
        lines.append(f"| {name} | {method} | {'yes' if face is not None else '**no**'} |")
    # ---- the eye check -------------------------------------------------------------------
    details: dict[str, list[float]] = {}
    for img in images.values():
        face = fa.find_faces(img).faces[0]
        variants = {f"transform: {t}": v for t, v in transforms(fa, img).items()}
        variants["transform: eyes-painted + JPEG q20"] = _jpeg(variants["transform: eyes-painted"])
        variants.update(eye_attacks(img, face))
        for label, v in variants.items():
            found = fa.find_faces(np.ascontiguousarray(v)).faces  # one face per photo here
            details.setdefault(label, []).append(found[0].eye_detail if found else float("nan"))
    lines += ["", f"## The eye check (eyes hidden: eye detail < {EYE_DETAIL_MIN})", "",
              "| photos | faces | eye detail range | taken as hidden |", "|---|---|---|---|"]
    for label, xs in details.items():
        arr = np.array(xs)
        ok = arr[~np.isnan(arr)]
        rng = f"{ok.min():.2f}-{ok.max():.2f}" if ok.size else "-"
        lines.append(f"| {label} | {ok.size}/{arr.size} found | {rng} | "
                     f"{int((ok < EYE_DETAIL_MIN).sum())} |")
    write_report(lines, args.out)


def _jpeg(img, quality=20):
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])


if __name__ == "__main__":
    main()
