"""`emo-safe verify` across watermark schemes: an output made with v1 (what emo-safe made
before v2 became the default) still verifies after a re-encode strips its manifest, and a v2
output mirrored and re-encoded is traced to its generation; the verdict names the scheme that
matched."""

import json
import re

import pytest
from click.testing import CliRunner
from factories import still_outputs

from emo_safe import media
from emo_safe.cli import main
from emo_safe.watermark import DEFAULT_SCHEME, WorkspaceMarker

V1, V2 = "org.emo-safe.wm.v1", "org.emo-safe.wm.v2"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """One workspace, one output made with v1 and one with the default (made once)."""
    return still_outputs(tmp_path_factory, "schemes", {
        "v1": lambda ws: WorkspaceMarker(ws.watermark_key(), V1), "v2": None})


@pytest.fixture
def verify(deployment, monkeypatch):
    ws, _ = deployment
    monkeypatch.delenv("EMO_SAFE_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("EMO_SAFE_DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(path):
        r = runner.invoke(main, ["--workspace", str(ws.root), "verify", str(path), "--json"],
                          catch_exceptions=False)
        return r.exit_code, json.loads(r.stdout)

    return run


def reencode(src, dest, transform=lambda f: f, crf=26):
    """Frames only, through libx264: the manifest and the audio are gone."""
    info = media.probe(src)
    media.write_mp4(dest, (transform(f) for f in media.iter_frames(src)), info.fps, None,
                    crf=crf)
    return dest


def test_new_generations_carry_v2_and_the_manifest_names_it(deployment):
    from emo_safe.provenance.read import read_manifest

    ws, made = deployment
    assert DEFAULT_SCHEME == V2
    for name, scheme in (("v1", V1), ("v2", V2)):
        out, gid = made[name]
        ev = read_manifest(out, ws.trust_anchors_pem(), ws.assertion_label)
        assert ev.generation["watermark"]["scheme"] == scheme
        assert ev.binds(scheme, gid)


def test_a_v1_output_still_verifies_after_a_reencode(deployment, verify, tmp_path):
    _, made = deployment
    out, gid = made["v1"]
    code, row = verify(reencode(out, tmp_path / "v1-reencoded.mp4"))
    assert code == 0 and row["outcome"] == "generated-manifest-stripped", row
    assert row["watermark"]["scheme"] == V1 and row["watermark"]["payload"] == gid
    assert row["ledger"]["id"] == gid


def test_a_mirrored_v2_output_is_traced_to_its_generation(deployment, verify, tmp_path):
    _, made = deployment
    out, gid = made["v2"]
    code, row = verify(reencode(out, tmp_path / "mirrored.mp4", lambda f: f[:, ::-1]))
    assert code == 0 and row["outcome"] == "generated-manifest-stripped", row
    assert row["watermark"]["scheme"] == V2 and row["watermark"]["payload"] == gid
    assert row["watermark"]["geometry"]["flip"] is True


def test_watermark_detect_and_the_report_say_which_edit_was_undone(deployment, tmp_path):
    ws, made = deployment
    out, gid = made["v2"]
    turned = reencode(out, tmp_path / "turned.mp4", lambda f: f[::-1])  # upside down
    runner = CliRunner()
    r = runner.invoke(main, ["--workspace", str(ws.root), "watermark", "detect", str(turned)],
                      catch_exceptions=False)
    # upside down = a mirror and a half turn (the polish may move the angle by a few tenths)
    undone = re.compile(r"edit undone: mirrored, rotated 1(79\.[5-9]|80\.[0-5]) degrees")
    assert r.exit_code == 0 and gid in r.stdout
    assert undone.search(r.stdout), r.stdout
    page = tmp_path / "report.html"
    runner.invoke(main, ["--workspace", str(ws.root), "verify", str(turned), "--report",
                         str(page)], catch_exceptions=False)
    assert undone.search(page.read_text())


@pytest.mark.parametrize(("rotation", "flip"), [(0, True), (90, False), (180, True),
                                                (270, False), (270, True)])
def test_the_copy_check_undoes_a_mirror_or_a_right_angle_turn(rotation, flip):
    """A watermark geometry of a mirror and/or a right-angle turn is undone before the frames
    are hashed, so a mirrored or turned repost matches its generation's fingerprint; other
    geometry is not undone (the copy check stays strict)."""
    import numpy as np

    from emo_safe import fingerprint as fp
    from emo_safe.verify.evidence import _orientation
    from emo_safe.watermark import WatermarkEvidence
    from emo_safe.watermark._codec_v2 import IDENTITY

    rng = np.random.default_rng(1)
    frames = [np.ascontiguousarray(np.roll(rng.integers(0, 255, (96, 160, 3), np.uint8), i, 1))
              for i in range(3)]
    warp = IDENTITY.turned(rotation // 90, flip)  # what the edit did, as v2 reports it
    geometry = warp.describe()
    # the edit itself, on the frames: mirror first, then turn (observed = R F canonical)
    edited = [fp.orient(f[:, ::-1] if flip else f, 0, False) for f in frames]
    edited = [np.ascontiguousarray(np.rot90(f, -rotation // 90)) for f in edited]
    original, tap = fp.FingerprintTap(1), fp.FingerprintTap(1)
    for i, (f, e) in enumerate(zip(frames, edited, strict=True)):
        original.add(f, i)
        tap.add(e, i)
    found = WatermarkEvidence(True, 1e-9, "00" * 6, 3, "org.emo-safe.wm.v2", geometry=geometry)
    assert fp.similarity(tap.fingerprint(*_orientation(found)), original.fingerprint()) == 1.0
    assert fp.similarity(tap.fingerprint(), original.fingerprint()) < 1.0
    zoomed = WatermarkEvidence(True, 1e-9, "00" * 6, 3, "org.emo-safe.wm.v2",
                               geometry={**geometry, "zoom": 1.5})
    assert _orientation(zoomed) == (0, False)
