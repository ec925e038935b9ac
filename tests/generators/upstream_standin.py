"""A stand-in for the inference program of an upstream project (SadTalker, Hallo, EchoMimic,
Sonic, MEMO), copied by the preset tests to where that project keeps its program. It parses
its arguments with the upstream program's own flags (an unknown or missing flag is an error,
exit 2), records what it received in $STANDIN_RECORD (JSON), and writes a real H.264 video
where the upstream program writes its output."""

import argparse
import datetime as dt
import json
import os
import sys
import wave
from pathlib import Path

import av
import cv2
import numpy as np

HERE = Path(sys.argv[0]).resolve()


USED: list[str] = []


def write_video(photo: str, audio: str, out: Path) -> int:
    USED[:] = [photo, audio]
    with wave.open(audio) as w:
        seconds, rate = w.getnframes() / w.getframerate(), w.getframerate()
    img = cv2.imread(photo)[:, :, ::-1]
    side = min(img.shape[:2])
    img = cv2.resize(np.ascontiguousarray(img[:side, :side]), (256, 256))
    out.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(out), "w") as container:
        vs = container.add_stream("libx264", rate=25)
        vs.width = vs.height = 256
        vs.pix_fmt = "yuv420p"
        for i in range(int(seconds * 25)):
            frame = np.roll(img, i, axis=1)
            for p in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(p)
        for p in vs.encode():
            container.mux(p)
    return rate


def main() -> None:
    project = os.environ["STANDIN_PROJECT"]
    p = argparse.ArgumentParser()
    if project == "sadtalker":  # OpenTalker/SadTalker inference.py
        for flag in ("--driven_audio", "--source_image", "--result_dir", "--checkpoint_dir",
                     "--preprocess", "--enhancer"):
            p.add_argument(flag)
        p.add_argument("--size", type=int, default=256)
        p.add_argument("--pose_style", type=int, default=0)
        p.add_argument("--still", action="store_true")
        a = p.parse_args()
        stamp = dt.datetime.now().strftime("%Y_%m_%d_%H.%M.%S")
        rate = write_video(a.source_image, a.driven_audio, Path(a.result_dir) / f"{stamp}.mp4")
    elif project == "hallo":  # fudan-generative-vision/hallo scripts/inference.py
        p.add_argument("-c", "--config", default="configs/inference/default.yaml")
        for flag in ("--source_image", "--driving_audio", "--output", "--checkpoint"):
            p.add_argument(flag)
        for flag in ("--pose_weight", "--face_weight", "--lip_weight", "--face_expand_ratio"):
            p.add_argument(flag, type=float)
        a = p.parse_args()
        assert Path(a.config).is_file(), "run from the project root (relative config path)"
        rate = write_video(a.source_image, a.driving_audio, Path(a.output))
        assert rate == 16000, "audio sample rate must be 16000"
    elif project == "echomimic":  # antgroup/echomimic infer_audio2vid.py
        p.add_argument("--config", default="./configs/prompts/animation.yaml")
        for flag in ("-W", "-H", "-L", "--seed", "--context_frames", "--context_overlap",
                     "--steps", "--sample_rate", "--fps"):
            p.add_argument(flag, type=int)
        for flag in ("--cfg", "--facemusk_dilation_ratio", "--facecrop_dilation_ratio"):
            p.add_argument(flag, type=float)
        p.add_argument("--device", default="cuda")
        a = p.parse_args()
        text = Path(a.config).read_text()
        assert "pretrained_base_model_path" in text  # the upstream keys are kept
        cases = text.split("test_cases:", 1)[1].strip().splitlines()
        ref, audio = json.loads(cases[0].strip().rstrip(":")), json.loads(cases[1].strip()[2:])
        now = dt.datetime.now()
        save = Path(f"output/{now:%Y%m%d}/{now:%H%M}--seed_{a.seed}-{a.W}x{a.H}")
        base = f"{Path(ref).stem}_{Path(audio).stem}_{a.H}x{a.W}_{int(a.cfg)}_{now:%H%M}"
        rate = write_video(ref, audio, save / f"{base}.mp4")
        write_video(ref, audio, save / f"{base}_withaudio.mp4")
    elif project == "sonic":  # jixiaozhong/Sonic demo.py
        for name in ("image_path", "audio_path", "output_path"):
            p.add_argument(name)
        p.add_argument("--dynamic_scale", type=float, default=1.0)
        p.add_argument("--crop", action="store_true")
        p.add_argument("--seed", type=int)
        a = p.parse_args()
        rate = write_video(a.image_path, a.audio_path, Path(a.output_path))
    elif project == "memo":  # memoavatar/memo inference.py
        for flag in ("--config", "--input_image", "--input_audio", "--output_dir"):
            p.add_argument(flag)
        p.add_argument("--seed", type=int, default=42)
        a = p.parse_args()
        name = (f"{os.path.basename(a.input_image).split('.')[0]}_"
                f"{os.path.basename(a.input_audio).split('.')[0]}.mp4")
        rate = write_video(a.input_image, a.input_audio, Path(a.output_dir) / name)
    else:
        raise SystemExit(f"unknown project {project}")
    with open(os.environ["STANDIN_RECORD"], "w") as fh:
        json.dump({"argv": sys.argv[1:], "cwd": os.getcwd(), "script": str(HERE),
                   "audio_rate": rate, "inputs": USED}, fh)


if __name__ == "__main__":
    main()
