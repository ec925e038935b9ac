"""Headless Debian Chromium for the page tests: the DOM after layout, or a screenshot."""

import subprocess

import cv2
import numpy as np

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def render(chromium, page, tmp_path, mode):
    """Chromium's own rendering of the page: the DOM after layout, or a PNG screenshot."""
    profile = tmp_path / f"chromium-{mode}"
    args = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    if mode == "dom":
        r = subprocess.run([*args, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                           timeout=120, check=False)
        assert r.returncode == 0, r.stderr[-500:]
        return r.stdout
    shot = tmp_path / "report.png"
    r = subprocess.run([*args, "--window-size=1200,4200", f"--screenshot={shot}", page.as_uri()],
                       capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0 and shot.exists(), r.stderr[-500:]
    return cv2.imread(str(shot))


def pixels_of(image, hex_colour, tolerance=12):
    bgr = np.array([int(hex_colour[i:i + 2], 16) for i in (5, 3, 1)])
    return int((np.abs(image.astype(int) - bgr).max(axis=2) <= tolerance).sum())
