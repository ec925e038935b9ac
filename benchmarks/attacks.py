"""The four high-severity attacks of issue 20, run through the command line of a baseline
commit and of this checkout, in one run: the share of tries in which each attack succeeds.

    python benchmarks/attacks.py [--baseline 8e6d9f2] [--out benchmarks/out/attacks.md]

Each try uses a fresh workspace and only what an outsider has: the installed CLI, photos and
audio, and (for 2 and 3) direct writes to the workspace's SQLite database.

1. small second face: a consented face and another person's face (180 px) pasted into a 4,
   16 or 37 MP photo; success = `check` allows it.
2. history rewrite: a refusal in the middle of the log edited into an allowance (entry, data
   row, leaf hash, stored subtree roots, the latest head's unsigned frontier; the heads in
   between deleted), then an ordinary append; success = `audit verify` passes.
3. un-revoked consent: `revoked_at` and the revocation signature cleared; success = `check`
   with that consent allows the photo.
4. copied mark + lighting: one output's mean high-pass residue added to another person's
   footage, plus a smooth luminance change that moves each second's pHash onto the source's;
   success = `verify` credits the source generation (`generated-manifest-stripped`).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from _report import write_report  # noqa: E402
from factories import mark_residue, relight_to_phash  # noqa: E402

from emo_safe.ledger import merkle  # noqa: E402
from emo_safe.media import Audio, iter_frames, load_audio, load_image, write_mp4, write_wav  # noqa: E402

DATA = ROOT / "tests" / "data"
PORTRAIT = ROOT / "emo_safe" / "data" / "portrait.jpg"


class Version:
    """One version's CLI: `python -m emo_safe.cli` run from its tree."""

    def __init__(self, label: str, tree: Path) -> None:
        self.label, self.tree = label, tree

    def cli(self, ws: Path, *args) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EMO_SAFE_")}
        env["PYTHONPATH"] = str(self.tree)
        return subprocess.run([sys.executable, "-m", "emo_safe.cli", "--workspace", str(ws),
                               *map(str, args)], cwd=self.tree, env=env, capture_output=True,
                              text=True, check=False, timeout=900)

    def workspace(self, root: Path) -> Path:
        r = self.cli(root, "init")
        assert r.returncode == 0, r.stderr
        return root


def _paste(canvas, photo, side, x, y):
    from emo_safe.faces import FaceAnalyzer

    img = load_image(photo)
    box = FaceAnalyzer().find_faces(img).faces[0].box
    m = box.width // 2
    crop = img[max(0, box.top - m):box.bottom + m, max(0, box.left - m):box.right + m]
    small = cv2.resize(crop, None, fx=side / box.width, fy=side / box.width,
                       interpolation=cv2.INTER_AREA)
    canvas[y:y + small.shape[0], x:x + small.shape[1]] = small


def small_face(v: Version, tmp: Path) -> list[bool]:
    out = []
    for (h, w) in ((1632, 2448), (3264, 4896), (4968, 7452)):
        for source in ("alex-lacamoire.png", "obama.jpg", "biden.jpg", "obama2.jpg"):
            ws = v.workspace(tmp / f"ws-{v.label}-small-{w}-{source}")
            assert v.cli(ws, "consent", "add", "--name", "Lin", "--photo",
                         DATA / "lin-manuel-miranda.png").returncode == 0
            canvas = np.full((h, w, 3), 128, np.uint8)
            _paste(canvas, DATA / "lin-manuel-miranda.png", h // 4, w // 10, h // 4)
            _paste(canvas, DATA / source, 180, int(0.7 * w), int(0.6 * h))
            photo = ws / "photo.jpg"
            cv2.imwrite(str(photo), canvas[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            out.append(v.cli(ws, "check", photo).returncode == 0)
    return out


def _db(ws: Path) -> sqlite3.Connection:
    return sqlite3.connect(ws / "emo-safe.db")


def history_rewrite(v: Version, tmp: Path) -> list[bool]:
    out = []
    for trial in range(4):
        ws = v.workspace(tmp / f"ws-{v.label}-rewrite-{trial}")
        v.cli(ws, "consent", "add", "--name", "sample", "--photo", PORTRAIT)
        for _ in range(2 + trial):
            v.cli(ws, "check", DATA / "alex-lacamoire.png")  # refused: no consent
            v.cli(ws, "check", PORTRAIT)  # allowed
        with _db(ws) as db:
            rows = db.execute("SELECT seq, body FROM audit_log ORDER BY seq").fetchall()
            seq, body = next((s, b) for s, b in rows[len(rows) // 3:]
                             if '"allowed":false' in b)
            event = json.loads(body)
            event["data"]["allowed"], event["data"]["reasons"] = True, []
            new = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            db.execute("UPDATE audit_log SET body = ?, leaf_hash = ? WHERE seq = ?",
                       (new, merkle.leaf_hash(new.encode()).hex(), seq))
            db.execute("UPDATE decisions SET allowed = 1, reasons = '[]' WHERE id = ?",
                       (event["data"]["id"],))
            hashes = [bytes.fromhex(h) for (h,) in
                      db.execute("SELECT leaf_hash FROM audit_log ORDER BY seq")]
            db.execute("DELETE FROM tree_nodes")
            frontier = merkle.Frontier()
            for h in hashes:
                for level, index, node in frontier.append(h):
                    db.execute("INSERT INTO tree_nodes (level, \"index\", hash) VALUES (?, ?, ?)",
                               (level, index, node.hex()))
            (latest,) = db.execute("SELECT max(size) FROM tree_heads").fetchone()
            db.execute("UPDATE tree_heads SET frontier = ? WHERE size = ?",
                       (json.dumps(frontier.to_hex()), latest))
        v.cli(ws, "consent", "add", "--name", "after", "--photo", PORTRAIT)  # an append
        with _db(ws) as db:  # then every head after the edit but the (new) latest goes
            (latest,) = db.execute("SELECT max(size) FROM tree_heads").fetchone()
            db.execute("DELETE FROM tree_heads WHERE size > ? AND size < ?", (seq, latest))
        out.append(v.cli(ws, "audit", "verify").returncode == 0)
    return out


def unrevoke(v: Version, tmp: Path) -> list[bool]:
    out = []
    for trial, photo in enumerate((PORTRAIT, DATA / "alex-lacamoire.png",
                                   DATA / "lin-manuel-miranda.png", DATA / "biden.jpg")):
        ws = v.workspace(tmp / f"ws-{v.label}-unrevoke-{trial}")
        cid = v.cli(ws, "consent", "add", "--name", "x", "--photo", photo).stdout.strip()
        v.cli(ws, "consent", "revoke", cid)
        with _db(ws) as db:
            db.execute("UPDATE consents SET revoked_at = NULL, revocation_signature = NULL")
        out.append(v.cli(ws, "check", photo, "--consent", cid).returncode == 0)
    return out


def _footage(img, n, seed):
    big = cv2.resize(img, (640, 640))
    return [np.ascontiguousarray(big[40 + int(20 * np.sin(t / 15 + seed)):][:512, 40:552])
            for t in range(n)]


def copied_mark(v: Version, tmp: Path) -> list[bool]:
    a = load_audio(PORTRAIT.with_name("speech.m4a"))
    speech = tmp / "speech6.wav"
    write_wav(speech, Audio(a.samples[: 6 * a.rate], a.rate))
    out = []
    for si, source in enumerate((PORTRAIT, DATA / "alex-lacamoire.png")):
        ws = v.workspace(tmp / f"ws-{v.label}-copy-{si}")
        cid = v.cli(ws, "consent", "add", "--name", "s", "--photo", source).stdout.strip()
        gen = v.cli(ws, "generate", "--photo", source, "--audio", speech, "-o",
                    ws / "ours.mp4", "--consent", cid, "--json")
        assert gen.returncode == 0, gen.stderr
        gid = json.loads(gen.stdout)["generation_id"]
        with _db(ws) as db:
            (stored,) = db.execute("SELECT fingerprint FROM generations WHERE id = ?",
                                   (gid,)).fetchone()
        stored = json.loads(stored)
        phash = [int(h, 16) for h in (stored if isinstance(stored, list) else stored["phash"])]
        frames = list(iter_frames(ws / "ours.mp4"))
        residue = mark_residue(frames)
        for ti, target in enumerate(("obama2.jpg", "two_people.jpg")):
            forged = [relight_to_phash(np.clip(f.astype(np.float32) + residue, 0, 255)
                                       .astype(np.uint8), phash[min(t // 25, len(phash) - 1)])
                      for t, f in enumerate(_footage(load_image(DATA / target), len(frames),
                                                     ti))]
            path = ws / f"forged{ti}.mp4"
            write_mp4(path, forged, 25, crf=18)
            row = json.loads(v.cli(ws, "verify", path, "--json").stdout)
            out.append(row["outcome"] == "generated-manifest-stripped"
                       and (row.get("ledger") or {}).get("id") == gid)
    return out


ATTACKS = {"1. small second face (180 px, 4/16/37 MP)": small_face,
           "2. history rewrite, then an append": history_rewrite,
           "3. un-revoked consent": unrevoke,
           "4. copied mark + lighting onto the pHash": copied_mark}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="8e6d9f2")
    ap.add_argument("--out", default="benchmarks/out/attacks.md")
    ap.add_argument("--only", type=int, choices=[1, 2, 3, 4], help="run one attack")
    args = ap.parse_args()
    lines = [f"## High-severity attacks: success before ({args.baseline}) and now", "",
             "| attack | tries | succeeded before | succeeded now |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base = tmp / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.baseline],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        versions = [Version("before", base), Version("now", ROOT)]
        for i, (name, attack) in enumerate(ATTACKS.items(), start=1):
            if args.only and i != args.only:
                continue
            results = {v.label: attack(v, tmp) for v in versions}
            n = len(results["now"])
            lines.append(f"| {name} | {n} | {sum(results['before'])}/{n} | "
                         f"{sum(results['now'])}/{n} |")
            print(lines[-1], flush=True)
    write_report(lines, args.out)


if __name__ == "__main__":
    main()
