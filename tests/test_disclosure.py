"""The visible label stays legible where a reposter takes it: found without OCR (a template
match and a contrast measure) in a real output after FFmpeg re-encodes it to 360p at
300 kbps, and not found in unlabelled frames."""

import subprocess

import cv2
import numpy as np
import pytest
from factories import write_tone

from emo_safe.disclosure import LabelMatch, add_visible_label, find_visible_label
from emo_safe.media import iter_frames

POLICY = """name = "labelled"
[disclosure]
visible_label = true
"""


def reencode_360p(src, dest):
    subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(src), "-vf", "scale=-2:360",
                    "-c:v", "libx264", "-b:v", "300k", "-an", str(dest)], check=True)
    return dest


def test_an_output_s_label_is_found_after_a_360p_300_kbps_reencode(cli, workspace, consented,
                                                                   portrait, tmp_path):
    (workspace.policies_dir / "labelled.toml").write_text(POLICY)
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    labelled, plain = tmp_path / "labelled.mp4", tmp_path / "plain.mp4"
    for out, policy in ((labelled, "labelled"), (plain, "default")):
        r = cli("generate", "--photo", str(portrait), "--audio", str(audio), "-o", str(out),
                "--size", "512", "--policy", policy)
        assert r.exit_code == 0, r.output
    for source, expected in ((labelled, True), (plain, False)):
        frames = list(iter_frames(reencode_360p(source, tmp_path / f"{source.stem}-360p.mp4")))
        assert frames[0].shape[0] == 360
        for frame in (frames[0], frames[len(frames) // 2], frames[-1]):  # opening and playback
            match = find_visible_label(frame)
            assert match.found is expected, match
            if expected:
                assert match.contrast >= LabelMatch.MIN_CONTRAST and match.text_height_px >= 7


@pytest.mark.parametrize("size", [256, 360, 720])
@pytest.mark.parametrize("rescale", [0.6, 1.0, 1.5])
def test_the_label_is_found_at_any_size_and_not_in_textured_unlabelled_frames(size, rescale,
                                                                            data_dir):
    photo = cv2.cvtColor(cv2.imread(str(data_dir / "lin-manuel-miranda.png")),
                         cv2.COLOR_BGR2RGB)
    frame = cv2.resize(photo, (size, size))
    labelled = next(add_visible_label([frame]))
    target = (int(size * rescale), int(size * rescale))
    assert find_visible_label(cv2.resize(labelled, target, interpolation=cv2.INTER_AREA)).found
    assert not find_visible_label(cv2.resize(frame, target)).found
    noise = np.random.default_rng(size).integers(0, 256, (*target[::-1], 3), dtype=np.uint8)
    assert not find_visible_label(noise).found
