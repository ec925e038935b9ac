"""The detector's cross-check: a watermark copied from one of our outputs onto other footage
names a real generation, but the video does not match that generation's fingerprint."""

import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from factories import mark_residue, relight_to_phash, write_tracks, write_video

from emo_safe import SafeGenerator
from emo_safe.errors import InputError, WorkspaceError
from emo_safe.fingerprint import Fingerprint, FingerprintTap, similarity
from emo_safe.media import (
    C2PA_BOX_UUID,
    iter_frames,
    load_image,
    probe,
    read_audio_track,
    write_mp4,
)
from emo_safe.verify import Detector


@pytest.fixture
def our_output(workspace, consented, portrait, speech, tmp_path):
    """(path, generation id, frames) of one generation of this workspace."""
    out = tmp_path / "ours.mp4"
    result = SafeGenerator(workspace).generate(portrait, speech, out)
    return out, result.generation_id, list(iter_frames(out))


def assert_credited(workspace, path, generation_id):
    """`verify` credits the file to the generation: manifest stripped, frames matching."""
    v = Detector(workspace).verify(path)
    assert v.outcome == "generated-manifest-stripped" and v.exit_code == 0, v.reasons
    assert v.ledger["id"] == generation_id
    assert v.to_dict()["fingerprint_similarity"] >= 0.9
    return v


def test_copy_attack_is_reported_inconsistent_and_a_stripped_copy_is_not(
        workspace, our_output, tmp_path, data_dir):
    out, generation_id, ours = our_output

    # The stripped re-encode of our own output: still ours, fingerprint matches.
    stripped = tmp_path / "stripped.mp4"
    write_mp4(stripped, ours, 25, read_audio_track(out), crf=23)
    assert_credited(workspace, stripped, generation_id)

    # The copy attack: estimate the mark from that one output (averaged high-pass residue)
    # and add it to someone else's footage.
    residue = mark_residue(ours)
    other = cv2.resize(load_image(data_dir / "lin-manuel-miranda.png"), (560, 560))
    forged_frames = []
    for t in range(len(ours)):
        x = int(24 + 20 * np.sin(t / 15))
        frame = other[x : x + 512, 24 : 24 + 512].astype(np.float32) + residue
        forged_frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    forged = tmp_path / "forged.mp4"
    write_mp4(forged, forged_frames, 25, None, crf=18)
    v = Detector(workspace).verify(forged)
    assert v.watermark.payload == generation_id  # the copied mark does decode...
    assert v.outcome == "inconsistent" and v.exit_code == 3  # ...but the video is not ours
    assert "forgery suspected" in " ".join(v.reasons)
    assert probe(forged).frames == len(ours)


def pillarbox(frame: np.ndarray) -> np.ndarray:
    """Onto black bars to 16:9, as a platform shows a square upload."""
    h, w = frame.shape[:2]
    side = (h * 16 // 9 - w) // 2
    return cv2.copyMakeBorder(frame, 0, 0, side, side, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def test_a_pillarboxed_repost_is_credited_and_a_pillarboxed_copy_attack_is_not(
        workspace, our_output, tmp_path, data_dir):
    _, generation_id, ours = our_output
    repost = tmp_path / "repost-16x9.mp4"
    write_mp4(repost, [pillarbox(f) for f in ours], 25, None, crf=23)
    v = assert_credited(workspace, repost, generation_id)
    assert any("flat bars" in r for r in v.reasons), v.reasons

    # the same bars around someone else's footage carrying a mark copied from that output
    residue = mark_residue(ours)
    other = cv2.resize(load_image(data_dir / "lin-manuel-miranda.png"), (512, 512))
    forged_frames = [pillarbox(np.clip(other.astype(np.float32) + residue, 0, 255)
                               .astype(np.uint8)) for _ in ours]
    forged = tmp_path / "forged-16x9.mp4"
    write_mp4(forged, forged_frames, 25, None, crf=18)
    v = Detector(workspace).verify(forged)
    assert v.watermark.payload == generation_id
    assert v.outcome == "inconsistent" and v.exit_code == 3, v.reasons


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


@pytest.fixture
def generated(workspace, consented, portrait, speech, tmp_path):
    out = tmp_path / "ours.mp4"
    result = SafeGenerator(workspace).generate(portrait, speech, out)
    return result, list(iter_frames(out))


def _other_footage(data_dir, n):
    other = cv2.resize(load_image(data_dir / "lin-manuel-miranda.png"), (560, 560))
    return [other[int(24 + 20 * np.sin(t / 15)):][:512, 24:536] for t in range(n)]


def test_a_copied_mark_plus_a_lighting_change_onto_the_recorded_phash_is_inconsistent(
        workspace, generated, data_dir, tmp_path):
    """The forger also adds a smooth luminance field per second that moves the 64-bit pHash
    onto the source generation's. The edge hash is not moved by light, so the video still does
    not look like the generation."""
    result, ours = generated
    stored = Fingerprint.from_json(json.loads(
        workspace.store().get_generation(result.generation_id).fingerprint))
    residue = mark_residue(ours)
    forged_frames = [relight_to_phash(np.clip(f + residue, 0, 255).astype(np.uint8),
                                      stored.phash[min(t // 25, stored.seconds - 1)])
                     for t, f in enumerate(np.float32(x) for x in _other_footage(data_dir,
                                                                                len(ours)))]
    forged = tmp_path / "relit.mp4"
    write_mp4(forged, forged_frames, 25, None, crf=18)
    tap = FingerprintTap(25)
    for i, frame in enumerate(iter_frames(forged)):
        tap.add(frame, i)
    # The lighting change does fool the luminance hash alone (emo-safe 0.1's only check)...
    assert similarity(Fingerprint(tuple(tap.hashes)), Fingerprint(stored.phash)) >= 0.5
    v = Detector(workspace).verify(forged)
    assert v.watermark.payload == result.generation_id
    # ...but not both hashes: the forgery is reported, not credited.
    assert v.outcome == "inconsistent" and v.exit_code == 3, v.reasons


def test_a_decoy_track_in_front_of_the_marked_default_track_does_not_hide_it(
        workspace, generated, data_dir, tmp_path):
    result, ours = generated
    two = write_tracks(tmp_path / "decoy.mp4", [_other_footage(data_dir, 100), ours], default=1,
                       crf=20)
    assert probe(two).streams[0].width == 512 and not probe(two).streams[0].default
    v = Detector(workspace).verify(two)
    assert v.outcome == "generated-manifest-stripped", v.reasons
    assert v.watermark.track == 1 and v.ledger["id"] == result.generation_id
    row = v.to_dict()
    assert [t["track"] for t in row["tracks"]] == [0, 1]
    assert row["tracks"][0]["watermark"]["detected"] is False
    assert "track 1 of 2" in " ".join(v.reasons)


def test_a_sparse_file_declaring_a_huge_manifest_box_is_refused_before_it_is_read(
        cli, tmp_path):
    path = write_video(tmp_path / "sparse.mp4", frames=10)
    size = path.stat().st_size
    gigabyte = 1_000_000_000
    with open(path, "ab") as fh:  # a top-level C2PA box that claims a gigabyte...
        fh.write(gigabyte.to_bytes(4, "big") + b"uuid" + C2PA_BOX_UUID)
    with open(path, "r+b") as fh:  # ...and a file that is that long, but sparse
        fh.truncate(size + gigabyte)
    # In a fresh process that reports its own peak memory: VmHWM belongs to the address space
    # exec made (ru_maxrss would carry over the forked test runner's).
    code = (f"import re, sys; from click.testing import CliRunner; "
            f"from emo_safe.cli import main; r = CliRunner().invoke(main, ['verify', "
            f"{str(path)!r}]); print(r.stderr); print('peak', re.search(r'VmHWM:\\s+(\\d+)', "
            f"open('/proc/self/status').read()).group(1)); sys.exit(r.exit_code)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=False)
    assert r.returncode == 2 and "1000 MB C2PA manifest" in r.stdout, r.stdout + r.stderr
    peak_mb = int(r.stdout.rsplit("peak", 1)[1]) / 1024
    assert peak_mb < 600  # not the 2.2 GB of reading the box


def test_huge_frames_are_refused_before_decoding(workspace, tmp_path):
    path = tmp_path / "huge.mp4"
    write_mp4(path, (np.zeros((8192, 8192, 3), np.uint8) for _ in range(2)), 25, None,
              crf=51, preset="ultrafast")
    assert path.stat().st_size < 2_000_000
    t = time.monotonic()
    with pytest.raises(InputError, match="8192x8192 frames are over the limit"):
        Detector(workspace).verify(path)
    assert time.monotonic() - t < 20


def test_a_relative_ledger_url_in_a_profile_is_the_profile_folder_and_is_never_created(
        workspace, generated, tmp_path, monkeypatch):
    published = tmp_path / "published"
    published.mkdir()
    (published / "p.toml").write_text('name = "p"\n[ledger]\nurl = "sqlite:///ledger.db"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    with pytest.raises(WorkspaceError, match="no ledger database"):
        Detector(workspace, profile=published / "p.toml")
    assert list(elsewhere.iterdir()) == [] and not (published / "ledger.db").exists()
    import sqlite3

    with sqlite3.connect(workspace.db_path) as src, \
            sqlite3.connect(published / "ledger.db") as dest:
        src.backup(dest)  # a consistent copy, WAL included
    stripped = tmp_path / "stripped.mp4"
    write_mp4(stripped, generated[1], 25, None, crf=23)
    v = Detector(workspace, profile=published / "p.toml").verify(stripped)
    assert v.outcome == "generated-manifest-stripped" and v.ledger["id"] == \
        generated[0].generation_id
    assert list(elsewhere.iterdir()) == []


def test_a_stripped_copy_gets_its_content_credential_back_from_the_manifest_repository(
        workspace, generated, tmp_path):
    result, ours = generated
    stripped = tmp_path / "reencoded.mp4"
    write_mp4(stripped, ours, 25, None, crf=23)
    v = Detector(workspace).verify(stripped)
    assert v.outcome == "generated-manifest-stripped"
    rec = v.to_dict()["recovered_manifest"]
    assert rec["manifest_id"] == result.manifest_label and rec["state"] == "trusted"
    assert rec["generation_id"] == result.generation_id and rec["ai_generated"]
    assert rec["soft_binding"]["blocks"][0]["value"] == result.watermark_payload
    assert rec["failure_codes"] == ["assertion.bmffHash.mismatch"]  # re-encoded: expected


def test_a_stored_manifest_whose_soft_binding_names_another_watermark_is_rejected(
        workspace, consented, portrait, speech, tmp_path):
    """Swap two generations' stored manifest stores behind the repository's back: each is
    still validly signed, but its soft binding names the other one's watermark."""
    from sqlalchemy import text

    gen = SafeGenerator(workspace, generator="still")
    a = gen.generate(portrait, speech, tmp_path / "a.mp4")
    b = gen.generate(portrait, speech, tmp_path / "b.mp4", seed=1)
    with workspace.store().engine.begin() as conn:
        conn.execute(text("UPDATE manifests SET generation_id = CASE generation_id "
                          "WHEN :a THEN :b ELSE :a END"), {"a": a.generation_id,
                                                           "b": b.generation_id})
    stripped = tmp_path / "b-stripped.mp4"
    write_mp4(stripped, list(iter_frames(tmp_path / "b.mp4")), 25, None, crf=23)
    v = Detector(workspace).verify(stripped)
    assert v.outcome == "generated-manifest-stripped" and v.ledger["id"] == b.generation_id
    assert v.to_dict()["recovered_manifest"] is None
    assert "soft binding does not name this file's watermark" in " ".join(v.reasons)


def test_a_copied_mark_gets_no_recovered_credential(workspace, generated, data_dir, tmp_path):
    result, ours = generated
    residue = mark_residue(ours)
    forged = tmp_path / "forged.mp4"
    write_mp4(forged, [np.clip(f + residue, 0, 255).astype(np.uint8)
                       for f in (np.float32(x) for x in _other_footage(data_dir, len(ours)))],
              25, None, crf=18)
    v = Detector(workspace).verify(forged)
    assert v.outcome == "inconsistent" and v.to_dict()["recovered_manifest"] is None


def _with_garbage(src, dest, share: float, length: int = 2000):
    """``length`` bytes of 0xFF at ``share`` of the way through the video data: packets that
    no longer decode (found to make the whole file unreadable before packet-level decoding)."""
    data = bytearray(src.read_bytes())
    mdat = data.find(b"mdat")
    pos = mdat + 8 + int((len(data) - mdat - 8 - length) * share)
    data[pos:pos + length] = b"\xff" * length
    dest.write_bytes(bytes(data))
    return dest


@pytest.mark.parametrize("share", [0.45, 0.7])
def test_a_run_of_corrupt_video_data_does_not_silence_the_evidence(workspace, generated,
                                                                   tmp_path, share):
    """Overwriting a stretch of the video data must not turn a tampered file, or a reposted
    generation, into an unreadable one (exit 2) that escapes its verdict."""
    result, ours = generated
    detector = Detector(workspace)
    tampered = _with_garbage(tmp_path / "ours.mp4", tmp_path / "tampered.mp4", share)
    assert detector.verify(tampered).outcome == "tampered"
    stripped = tmp_path / "reencoded.mp4"
    write_mp4(stripped, ours, 25, None, crf=23)
    reposted = detector.verify(_with_garbage(stripped, tmp_path / "damaged.mp4", share))
    assert reposted.outcome == "generated-manifest-stripped"
    assert reposted.watermark.payload == result.watermark_payload


def test_a_video_of_which_nothing_decodes_is_still_an_input_error(tmp_path):
    src = tmp_path / "v.mp4"
    write_video(src, frames=30)
    data = bytearray(src.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 8:] = b"\xff" * (len(data) - mdat - 8)
    bad = tmp_path / "garbage.mp4"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt video data|cannot read video"):
        list(iter_frames(bad))


@pytest.mark.parametrize(("setting", "looks"), [("", True), ("early_looks = false\n", False)])
def test_a_profile_says_whether_long_clips_are_looked_at_early(workspace, tmp_path, setting,
                                                                looks):
    profile = tmp_path / "p.toml"
    profile.write_text(f'name = "p"\n[watermark]\n{setting}')
    (source,) = [s for s in Detector(workspace, profile=profile).sources
                 if s.name == "watermark"]
    assert source.early_looks is looks
