"""Visible label legibility: is the "AI-generated" label still there after the re-encodes a
reposter makes? Found without OCR (disclosure.find_visible_label: a template match plus the
text-over-box contrast at the match).

    python benchmarks/labels.py

For the sample portrait drawn at 512x512 and 720x720 with the label, encoded (CRF 18) and then
re-encoded by FFmpeg to 480p/1000k, 360p/300k and 240p/150k: the label's text height in pixels,
the match correlation and contrast on the first and middle frames, and whether it is found.
Beside them, the same figures on the unlabelled clips (the false-match baseline), and over
the test face photos at several sizes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _report import write_report  # noqa: E402

from emo_safe._resources import sample_path  # noqa: E402
from emo_safe.disclosure import add_visible_label, find_visible_label  # noqa: E402
from emo_safe.media import iter_frames, write_mp4  # noqa: E402

RENDITIONS = [("source", None, None), ("480p 1000 kbps", 480, "1000k"),
              ("360p 300 kbps", 360, "300k"), ("240p 150 kbps", 240, "150k")]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="emo-safe-bench-labels-"))
    photo = cv2.cvtColor(cv2.imread(str(sample_path("portrait.jpg"))), cv2.COLOR_BGR2RGB)
    lines = ["`python benchmarks/labels.py`", "",
             "| drawn at | rendition | labelled | text height (px) | correlation | contrast | "
             "found |", "|---|---|---|---:|---:|---:|---|"]
    for size in (512, 720):
        base = cv2.resize(photo, (size, size))
        frames = [np.roll(base, 3 * i, axis=1) for i in range(50)]  # 2 s of motion
        for labelled in (True, False):
            src = tmp / f"{size}-{labelled}.mp4"
            write_mp4(src, list(add_visible_label(frames)) if labelled else frames, 25.0)
            for name, height, rate in RENDITIONS:
                clip = src
                if height:
                    clip = tmp / f"{size}-{labelled}-{height}.mp4"
                    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(src), "-vf",
                                    f"scale=-2:{height}", "-c:v", "libx264", "-b:v", rate,
                                    str(clip)], check=True)
                decoded = list(iter_frames(clip))
                matches = [find_visible_label(decoded[i]) for i in (0, len(decoded) // 2)]
                worst = min(matches, key=lambda m: m.correlation)
                lines.append(
                    f"| {size} | {name} | {'yes' if labelled else 'no'} | "
                    f"{worst.text_height_px if labelled else '-'} | {worst.correlation:.2f} | "
                    f"{worst.contrast:.2f} | {'yes' if all(m.found for m in matches) else 'no'}"
                    " |")
    faces = sorted((ROOT / "tests" / "data").glob("*.png")) + \
        sorted((ROOT / "tests" / "data").glob("*.jpg"))
    false = []
    for path in faces:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        for size in (240, 360, 512, 720, 1080):
            false.append(find_visible_label(cv2.resize(image, (size, size))))
    lines += ["", f"Unlabelled test photos ({len(false)} frames, 240-1080 px): highest "
                  f"correlation {max(m.correlation for m in false):.2f}, found in "
                  f"{sum(m.found for m in false)}."]
    write_report(lines, ROOT / "benchmarks" / "out" / "labels.md")


if __name__ == "__main__":
    main()
