"""The visible label stays legible where a reposter takes it: found without OCR (a template
match and a contrast measure) in a real output after FFmpeg re-encodes it to 360p at
300 kbps, and not found in unlabelled frames."""

import json
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


@pytest.mark.parametrize("languages", [("zh", "en"), ("zh",), ("de", "fr", "es"), ("ja", "ko")])
def test_labels_in_the_operator_s_languages_are_found_after_a_360p_reencode(languages,
                                                                           portrait, tmp_path):
    from emo_safe.media import write_mp4

    base = cv2.resize(cv2.cvtColor(cv2.imread(str(portrait)), cv2.COLOR_BGR2RGB), (512, 512))
    frames = [np.roll(base, 2 * i, axis=1) for i in range(25)]
    src = tmp_path / "labelled.mp4"
    write_mp4(src, add_visible_label(frames, languages), 25.0)
    low = list(iter_frames(reencode_360p(src, tmp_path / "360p.mp4")))
    assert find_visible_label(low[12], languages).found
    assert not find_visible_label(cv2.resize(base, (360, 360)), languages).found


def test_a_policy_sets_the_label_languages_and_the_ledger_records_the_text(
        cli, workspace, consented, portrait, tmp_path):
    (workspace.policies_dir / "bilingual.toml").write_text(
        'name = "bilingual"\n[disclosure]\nvisible_label = true\n'
        'label_languages = ["zh", "en"]\n')
    audio = write_tone(tmp_path / "tone.wav", seconds=1.0)
    out = tmp_path / "out.mp4"
    r = cli("generate", "--photo", str(portrait), "--audio", str(audio), "-o", str(out),
            "--size", "256", "--policy", "bilingual", "--json")
    assert r.exit_code == 0, r.output
    row = workspace.store().get_generation(json.loads(r.stdout)["generation_id"])
    assert json.loads(row.settings)["visible_label"] == "人工智能生成 / AI-generated"
    assert find_visible_label(next(iter_frames(out)), ("zh", "en")).found

    (workspace.policies_dir / "klingon.toml").write_text(
        'name = "klingon"\n[disclosure]\nvisible_label = true\nlabel_languages = ["tlh"]\n')
    bad = cli("generate", "--photo", str(portrait), "--audio", str(audio), "-o",
              str(tmp_path / "k.mp4"), "--policy", "klingon")
    assert bad.exit_code == 2 and "no label text for tlh" in bad.stderr


def test_a_policy_s_audio_notice_opens_the_audio_and_survives_aac_64_kbps(
        cli, workspace, consented, portrait, speech, tmp_path):
    from emo_safe.disclosure import audio_notice_seconds, find_audio_notice
    from emo_safe.media import load_audio, probe

    (workspace.policies_dir / "notice.toml").write_text(
        'name = "notice"\n[disclosure]\naudio_notice = true\n')
    noticed, plain = tmp_path / "noticed.mp4", tmp_path / "plain.mp4"
    for out, policy in ((noticed, "notice"), (plain, "default")):
        r = cli("generate", "--photo", str(portrait), "--audio", str(speech), "-o", str(out),
                "--size", "128", "--policy", policy)
        assert r.exit_code == 0, r.output
    # The video is longer by the notice: the first frame is held while it plays.
    assert probe(noticed).duration - probe(plain).duration == \
        pytest.approx(audio_notice_seconds(), abs=0.1)
    for out, expected in ((noticed, True), (plain, False)):
        low = tmp_path / f"{out.stem}-64k.m4a"
        subprocess.run(["ffmpeg", "-y", "-loglevel", "error", "-i", str(out), "-vn", "-c:a",
                        "aac", "-b:a", "64k", str(low)], check=True)
        for path in (out, low):
            audio = load_audio(path)
            assert find_audio_notice(audio.samples, audio.rate) is expected, path
