"""A stand-in for an external generator program (e.g. a Hallo inference script), used by the
command: adapter tests. Usage: fake_generator.py PHOTO AUDIO OUTPUT
[ok|fail|hang|empty|detach|detach-hang|env] [--marker FILE]. It writes a real H.264 MP4: the
photo, slowly zooming, for the audio's length.

detach: first starts a grandchild in a session of its own that inherits stdout and sleeps for
ten minutes (its pid goes to the marker file), then writes the video and exits; detach-hang
does the same and then hangs; env writes its environment (JSON) to the marker file."""

import json
import os
import subprocess
import sys
import time
import wave

import av
import cv2
import numpy as np


def main():
    photo, audio, output, mode = sys.argv[1:5]
    marker = sys.argv[sys.argv.index("--marker") + 1] if "--marker" in sys.argv else None
    if marker and mode not in ("detach", "detach-hang", "env"):
        with open(marker, "w") as fh:
            fh.write("started")
    if mode in ("detach", "detach-hang"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                                 start_new_session=True)  # stdout inherited and kept open
        with open(marker, "w") as fh:
            fh.write(str(child.pid))
        if mode == "detach-hang":
            time.sleep(600)
    if mode == "env":
        with open(marker, "w") as fh:
            json.dump(dict(os.environ), fh)
    if mode == "fail":
        print("CUDA out of memory (pretend)", flush=True)
        sys.exit(3)
    if mode == "hang":
        time.sleep(600)
    if mode == "empty":
        return
    with wave.open(audio) as w:
        seconds = w.getnframes() / w.getframerate()
    img = cv2.imread(photo)[:, :, ::-1]
    side = min(img.shape[:2])
    img = np.ascontiguousarray(img[:side, :side])
    with av.open(output, "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width = vs.height = 256
        vs.pix_fmt = "yuv420p"
        for i in range(int(seconds * 25)):
            z = 1 + 0.1 * i / 100
            c = int(side / z)
            o = (side - c) // 2
            f = cv2.resize(img[o : o + c, o : o + c], (256, 256))
            for p in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)


if __name__ == "__main__":
    main()
