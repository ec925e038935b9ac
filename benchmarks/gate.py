"""Gate benchmark: public-figure screening recall, false matches, and latency vs gallery size.

Run:  python benchmarks/gate.py [--sizes 10,10000,100000] [--out benchmarks/out/gate.md]

Real faces (tests/data, see FACES-ATTRIBUTION.md): the gallery holds the public figures from one
photo each (Obama: obama.jpg, Biden: biden.jpg); the probes are their *other* photos (obama2.jpg,
and each face of two_people.jpg cropped out), and the non-gallery faces (alex-lacamoire,
lin-manuel-miranda, the bundled astronaut portrait) measure false matches. Every probe is also
transformed: mirrored, greyscale, JPEG quality 20, downscaled to a 60-pixel face, rotated 20
degrees, cropped tight, brightness -40, a painted-over rectangle on the eyes.

The gallery is padded with synthetic identities to each size: embeddings drawn around the mean
of real dlib embeddings with the spread of different people (~0.9 apart), which is what a real
gallery of strangers looks like to the matcher. Each probe goes through the real gate
(Gate.prepare + evaluate under default.toml, decision recorded in SQLite).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import write_report

from emo_safe._resources import sample_path
from emo_safe.faces import FaceAnalyzer
from emo_safe.gate.gate import Gate
from emo_safe.gate.policy import load_policy
from emo_safe.media import load_image
from emo_safe.workspace import Workspace

DATA = ROOT / "tests" / "data"
GALLERY = {"Barack Obama": "obama.jpg", "Joe Biden": "biden.jpg"}


# ------------------------------------------------------------------------------ probes
def _face_box(fa, img):
    faces = fa.find_faces(img).faces
    if not faces:
        raise SystemExit("a probe photo has no face")
    return faces[0]


def _crop_faces(fa, img):
    """Each face of a group photo, cropped with generous margins."""
    out = []
    for f in fa.find_faces(img).faces:
        b = f.box
        m = int(b.width * 1.2)
        y0, y1 = max(0, b.top - m), min(img.shape[0], b.bottom + m)
        x0, x1 = max(0, b.left - m), min(img.shape[1], b.right + m)
        out.append(np.ascontiguousarray(img[y0:y1, x0:x1]))
    return out


def transforms(fa, img):
    face = _face_box(fa, img)
    b = face.box
    out = {"original": img, "mirrored": np.ascontiguousarray(img[:, ::-1])}
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    out["greyscale"] = np.ascontiguousarray(np.stack([grey] * 3, axis=2))
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 20])
    out["jpeg-q20"] = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    f = 60 / max(b.width, 1)
    out["face-60px"] = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 20, 1.0)
    out["rotated-20"] = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    pad = int(0.1 * b.width)
    out["tight-crop"] = np.ascontiguousarray(
        img[max(0, b.top - pad) : b.bottom + pad, max(0, b.left - pad) : b.right + pad])
    out["brightness-40"] = np.clip(img.astype(np.int16) - 40, 0, 255).astype(np.uint8)
    eyes = face.landmarks[36:48]
    x0, y0 = eyes.min(axis=0) - [0.15 * b.width, 0.1 * b.height]
    x1, y1 = eyes.max(axis=0) + [0.15 * b.width, 0.1 * b.height]
    painted = img.copy()
    painted[int(y0) : int(y1), int(x0) : int(x1)] = (20, 20, 20)
    out["eyes-painted"] = painted
    return out


def build_probes(fa):
    """[(kind, person, transform, image)] with kind 'public' or 'stranger'."""
    probes = []
    publics = [("Barack Obama", load_image(DATA / "obama2.jpg"))]
    group = load_image(DATA / "two_people.jpg")
    refs = {n: fa.find_faces(load_image(DATA / p)).faces[0].embedding for n, p in GALLERY.items()}
    for crop in _crop_faces(fa, group):
        emb = fa.find_faces(crop).faces[0].embedding
        name = min(refs, key=lambda n: np.linalg.norm(refs[n] - emb))
        publics.append((name, crop))
    strangers = [("Alex Lacamoire", load_image(DATA / "alex-lacamoire.png")),
                 ("Lin-Manuel Miranda", load_image(DATA / "lin-manuel-miranda.png")),
                 ("astronaut (sample)", load_image(sample_path("portrait.jpg")))]
    for kind, people in (("public", publics), ("stranger", strangers)):
        for person, img in people:
            for tname, timg in transforms(fa, img).items():
                probes.append((kind, person, tname, timg))
    return probes


# ------------------------------------------------------------------------------ gallery
def synthetic_embeddings(n, real, seed=7):
    rng = np.random.default_rng(seed)
    mean = np.mean(real, axis=0)
    # Different people are ~0.9 apart in dlib's space: per-dimension spread 0.9 / sqrt(2*128).
    return (mean + rng.normal(0, 0.9 / np.sqrt(256), (n, 128))).astype(np.float32)


def run(sizes, out_path):
    fa = FaceAnalyzer()
    probes = build_probes(fa)
    real = [fa.find_faces(load_image(p)).faces[0].embedding
            for p in [*(DATA / v for v in GALLERY.values()), DATA / "alex-lacamoire.png",
                      DATA / "lin-manuel-miranda.png", sample_path("portrait.jpg")]]
    rows, per_transform = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            ws = Workspace(Path(tmp) / f"ws{size}")
            ws.init()
            gallery = ws.gallery()
            for name, photo in GALLERY.items():
                gallery.add(name, [DATA / photo], fa)
            extra = size - len(GALLERY)
            if extra > 0:
                embs = synthetic_embeddings(extra, real)
                gallery.add_many([(f"synthetic-{i}", embs[i : i + 1], ["0" * 64])
                                  for i in range(extra)])
            t = time.perf_counter()
            gallery = ws.gallery()
            gallery.match(real[0], 0.5)  # first use: memory-map and convert the index
            load_ms = (time.perf_counter() - t) * 1000
            gate = Gate.for_workspace(ws, load_policy("default"), fa)
            lat, search, outcomes = [], [], []
            lat_plain = []  # without the eyes-painted probes: the faces a fast pass can find
            for kind, person, tname, img in probes:
                path = Path(tmp) / "probe.png"
                cv2.imwrite(str(path), img[:, :, ::-1])
                t = time.perf_counter()
                request = gate.prepare(path, None)
                decision = gate.evaluate(request)
                lat.append((time.perf_counter() - t) * 1000)
                if tname != "eyes-painted":
                    lat_plain.append(lat[-1])
                t = time.perf_counter()
                for f in request.faces:
                    gallery.match(f.embedding, 0.55)
                search.append((time.perf_counter() - t) * 1000 / max(1, len(request.faces)))
                codes = {f.code for f in decision.findings}
                hits = {h["name"] for h in decision.matched.get("public_figures", [])}
                screened = "public-figure" in codes and person in hits
                false_match = kind == "stranger" and bool(hits)
                # Refusals a consent record cannot lift: public figure (when screened), no
                # face, eyes hidden.
                unliftable = screened or bool({"no-face", "eyes-hidden"} & codes)
                outcomes.append((kind, person, tname, screened, false_match,
                                 "no-face" in codes, decision.matched.get("face_search"),
                                 "eyes-hidden" in codes, unliftable))
                per_transform.setdefault((size, kind, tname), []).append(
                    (screened, false_match, "no-face" in codes, "eyes-hidden" in codes))
            pub = [o for o in outcomes if o[0] == "public"]
            strg = [o for o in outcomes if o[0] == "stranger"]
            recall = sum(o[3] for o in pub) / len(pub)
            refused_pub = sum(o[8] for o in pub) / len(pub)
            fm = sum(o[4] for o in strg)
            # Faces whose eyes are in plain view but were taken as hidden (a false refusal).
            false_hidden = sum(o[7] for o in outcomes if o[2] != "eyes-painted")
            rows.append((size, len(pub), recall, refused_pub, len(strg), fm, false_hidden,
                         np.percentile(lat, 50), np.percentile(lat, 95), np.max(lat),
                         np.percentile(lat_plain, 95),
                         np.percentile(search, 95), load_ms))
            print(f"gallery {size}: recall {recall:.3f}, refused {refused_pub:.3f}, "
                  f"false matches {fm}/{len(strg)}, p95 {np.percentile(lat, 95):.0f} ms",
                  flush=True)
            misses = [o for o in pub if not o[3]]
            for o in misses:
                print("  missed:", o[1], o[2], "no-face" if o[5] else "",
                      "eyes-hidden" if o[7] else "", o[6], flush=True)
    text = [f"## Gate benchmark ({len(probes)} probes: {len(pub)} of public figures, "
            f"{len(strg)} of strangers)", "",
            "| gallery identities | public-figure probes | screened (refused as that public "
            "figure) | refused whatever the consent (public figure, no face, eyes hidden) "
            "| stranger probes | false matches | eyes taken as hidden on the other probes "
            "| gate p50 ms | gate p95 ms | gate max ms | gate p95 ms without eyes-painted "
            "| search p95 ms/face | index load ms |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        text.append(f"| {r[0]:,} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]} | {r[5]} | "
                    f"{r[6]} | {r[7]:.0f} | {r[8]:.0f} | {r[9]:.0f} | {r[10]:.0f} | "
                    f"{r[11]:.2f} | {r[12]:.0f} |")
    text += ["", f"Per transform (gallery of {sizes[-1]:,}): screened / probes for public figures, "
             "false matches for strangers", "",
             "| transform | public: screened | public: no face found (refused) | public: eyes "
             "hidden (refused) | strangers: false matches | strangers: eyes hidden (refused) |",
             "|---|---|---|---|---|---|"]
    for tname in dict.fromkeys(t for (_, _, t) in per_transform):
        p = per_transform.get((sizes[-1], "public", tname), [])
        s = per_transform.get((sizes[-1], "stranger", tname), [])
        text.append(f"| {tname} | {sum(x[0] for x in p)}/{len(p)} | {sum(x[2] for x in p)} | "
                    f"{sum(x[3] for x in p)} | {sum(x[1] for x in s)}/{len(s)} | "
                    f"{sum(x[3] for x in s)} |")
    write_report(text, out_path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,10000,100000")
    ap.add_argument("--out", default="benchmarks/out/gate.md")
    args = ap.parse_args()
    run([int(s) for s in args.sizes.split(",")], args.out)


if __name__ == "__main__":
    main()
