"""The detector's cross-check: a watermark copied from one of our outputs onto other footage
names a real generation, but the video does not match that generation's fingerprint."""

import cv2
import numpy as np

from emo_safe import SafeGenerator
from emo_safe.media import iter_frames, load_image, probe, read_audio_track, write_mp4
from emo_safe.verify import Detector


def test_copy_attack_is_reported_inconsistent_and_a_stripped_copy_is_not(
        workspace, consented, portrait, speech, tmp_path, data_dir):
    out = tmp_path / "ours.mp4"
    result = SafeGenerator(workspace).generate(portrait, speech, out)
    ours = list(iter_frames(out))

    # The stripped re-encode of our own output: still ours, fingerprint matches.
    stripped = tmp_path / "stripped.mp4"
    write_mp4(stripped, ours, 25, read_audio_track(out), crf=23)
    v = Detector(workspace).verify(stripped)
    assert v.outcome == "generated-manifest-stripped" and v.exit_code == 0
    assert v.ledger["id"] == result.generation_id
    assert v.to_dict()["fingerprint_similarity"] >= 0.9

    # The copy attack: estimate the mark from that one output (averaged high-pass residue)
    # and add it to someone else's footage.
    residue = np.mean([f.astype(np.float32) - cv2.GaussianBlur(f.astype(np.float32), (0, 0), 2)
                       for f in ours], axis=0)
    other = cv2.resize(load_image(data_dir / "lin-manuel-miranda.png"), (560, 560))
    forged_frames = []
    for t in range(len(ours)):
        x = int(24 + 20 * np.sin(t / 15))
        frame = other[x : x + 512, 24 : 24 + 512].astype(np.float32) + residue
        forged_frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    forged = tmp_path / "forged.mp4"
    write_mp4(forged, forged_frames, 25, None, crf=18)
    v = Detector(workspace).verify(forged)
    assert v.watermark.payload == result.generation_id  # the copied mark does decode...
    assert v.outcome == "inconsistent" and v.exit_code == 3  # ...but the video is not ours
    assert "forgery suspected" in " ".join(v.reasons)
    assert probe(forged).frames == len(ours)


def test_a_splice_of_real_and_generated_footage_locates_the_generated_part(
        workspace, consented, portrait, speech, tmp_path, data_dir):
    out = tmp_path / "ours.mp4"
    SafeGenerator(workspace).generate(portrait, speech, out)
    ours = list(iter_frames(out))[:100]  # 4 s generated
    other = cv2.resize(load_image(data_dir / "lin-manuel-miranda.png"), (512, 512))
    real = [np.roll(other, 2 * t, axis=1) for t in range(100)]  # 4 s of other footage
    spliced = tmp_path / "spliced.mp4"
    write_mp4(spliced, real + ours + real, 25, None, crf=20)
    v = Detector(workspace).verify(spliced)
    z = v.watermark.segment_z
    assert len(z) == 12
    generated = [i for i, s in enumerate(z) if s > 4]
    assert generated and min(generated) >= 4 and max(generated) <= 7  # seconds 4-8
    assert max(z[:4] + z[8:]) < 4
