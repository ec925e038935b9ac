"""Watermark v2 (`org.emo-safe.wm.v2`): the payload survives the edits reposters make — a
mirror, a rotation, a crop that is not resized back, a pad to another aspect, a speed change,
today's codecs — and each geometric case fails when its part of the search is taken away.
Unmarked clips read through the same search are not detected."""

import cv2
import numpy as np
import pytest
from factories import bundled_photo, panning_clip, transcode

from emo_safe.watermark import _codec as _v1
from emo_safe.watermark import (
    _codec_v2,
    describe_geometry,
    detect_frames,
    embed_frames,
    get_scheme,
)

V2 = "org.emo-safe.wm.v2"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PAYLOAD = bytes.fromhex("0badc0ffee42")


@pytest.fixture(scope="module")
def photo():
    return bundled_photo("obama.jpg")


def moving_clip(photo, n, size=(512, 512)):
    return panning_clip(photo, n, size)


@pytest.fixture(scope="module")
def marked(photo):
    return list(embed_frames(moving_clip(photo, 75), KEY, PAYLOAD, scheme=V2))


def read(frames, search=True):
    acc = _codec_v2.accumulator(25)
    for f in frames:
        acc.add(f)
    acc.finish()
    return _codec_v2.detect(acc, KEY, search=search)


def decodes(d):
    return d.payload == PAYLOAD and d.p_value <= 1e-6


def rotate(frame, degrees):
    h, w = frame.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(frame, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def pad_to(frame, aspect):
    """Letterbox or pillarbox onto black, as platforms do for another aspect ratio."""
    h, w = frame.shape[:2]
    H, W = (h, int(round(h * aspect))) if aspect > w / h else (int(round(w / aspect)), w)
    out = np.zeros((H, W, 3), np.uint8)
    y, x = (H - h) // 2, (W - w) // 2
    out[y : y + h, x : x + w] = frame
    return out


# ------------------------------------------------------------------------------- geometry
def test_a_mirrored_copy_decodes_only_with_the_lattice_symmetries(marked, monkeypatch):
    flipped = [f[:, ::-1].copy() for f in marked]
    d = read(flipped)
    assert decodes(d) and d.warp.flip
    monkeypatch.setattr(_codec_v2, "SYMMETRIES", [(q, False) for q in range(4)])
    assert not decodes(read(flipped))


def test_a_10_degree_rotation_decodes_only_with_the_rotation_search(marked, monkeypatch):
    rotated = [rotate(f, 10) for f in marked]
    d = read(rotated)
    assert decodes(d)
    assert d.warp.describe()["rotation"] == pytest.approx(350, abs=0.5)
    monkeypatch.setattr(_codec_v2, "ROTATION_RANGE", 1.0)
    assert not decodes(read(rotated))


def test_a_55_percent_crop_not_resized_back_decodes_only_with_the_zoom_search(marked,
                                                                              monkeypatch):
    side = int(512 * 0.55)  # 281 px of 512, off-centre: a zoom of 1.82 once normalised
    cropped = [f[60 : 60 + side, 110 : 110 + side] for f in marked]
    d = read(cropped)
    assert decodes(d) and d.warp.describe()["zoom"] == pytest.approx(512 / side, rel=0.01)
    monkeypatch.setattr(_codec_v2, "SCALE_RANGE", (0.9, 1.1))
    assert not decodes(read(cropped))


def test_a_pad_to_16_9_decodes_and_a_16_9_clip_padded_to_9_16_needs_the_zoom(photo,
                                                                               monkeypatch):
    square = list(embed_frames(moving_clip(photo, 50), KEY, PAYLOAD, scheme=V2))
    assert decodes(read([pad_to(f, 16 / 9) for f in square]))  # same short side: zoom 1
    wide = list(embed_frames(moving_clip(photo, 50, (288, 512)), KEY, PAYLOAD, scheme=V2))
    tall = [pad_to(f, 9 / 16) for f in wide]  # 512 x 910: the content shrinks to 0.56
    d = read(tall)
    assert decodes(d) and d.warp.describe()["zoom"] == pytest.approx(0.5625, rel=0.01)
    assert not decodes(read(tall, search=False))


def test_an_anamorphic_stretch_is_undone(marked):
    stretched = [cv2.resize(f, (682, 512), interpolation=cv2.INTER_AREA) for f in marked]
    d = read(stretched)
    assert decodes(d) and d.warp.describe()["aspect"] == pytest.approx(1.33, abs=0.02)
    assert not decodes(read(stretched, search=False))



def test_a_10_percent_perspective_needs_the_keystone_correction(marked, tmp_path):
    """VideoSeal's Perspective: each corner moved by up to 10 % of the half-size. A global
    affine warp leaves the tile a few pixels off towards the corners, enough to lose the
    payload; the keystone correction, fitted to where the sync pattern peaks in windows of
    the frame, brings it back. Only its payload check counts towards the p-value."""
    h, w = marked[0].shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    moved = corners + np.float32([[0.025, 0.079], [0.055, -0.055], [-0.04, 0.075],
                                  [-0.099, 0.064]]) * [w / 2, h / 2]
    m = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    warped = transcode([cv2.warpPerspective(f, m, (w, h), borderMode=cv2.BORDER_REFLECT)
                        for f in marked], tmp_path / "perspective.mp4", "libx264", crf=23)
    acc = _codec_v2.accumulator(25)
    for f in warped:
        acc.add(f)
    acc.finish()
    d = _codec_v2.detect(acc, KEY)
    assert decodes(d) and 0.05 < d.keystone_shift < 0.25
    assert d.p_value >= _codec_v2.SEARCH_TRIES * 2.0 ** -28  # the payload check's bound
    assert not decodes(_codec_v2.detect(acc, KEY, keystone=False))
    ev = detect_frames(warped, KEY, schemes=[V2])
    assert ev.payload == PAYLOAD.hex() and ev.to_dict()["geometry"]["keystone"] > 0.05
    assert "perspective undone" in describe_geometry(ev.geometry)


def test_the_keystone_fit_recovers_a_known_homography():
    """Weighted least squares through exact correspondences gives the homography back, and
    a correspondence of zero weight does not pull it."""
    truth = np.array([[1.02, 0.03, 4.0], [-0.02, 0.97, -3.0], [1e-4, -2e-4, 1.0]])
    src = np.array([[x, y] for x in (20.0, 120.0, 220.0) for y in (30.0, 130.0, 230.0)])
    dst = np.c_[src, np.ones(len(src))] @ truth.T
    dst = dst[:, :2] / dst[:, 2:]
    weights = np.ones(len(src))
    dst[4] += 40.0  # an outlier...
    weights[4] = 0.0  # ...that carries no weight
    fitted = _codec_v2._homography(src, dst, weights)
    assert np.allclose(fitted, truth, atol=1e-6)
    assert _codec_v2.keystone_shift(np.eye(3), (256, 256)) == 0.0

# ---------------------------------------------------------------------------- time, codecs
def test_speed_changes_through_a_real_encode(marked, tmp_path):
    """The same tile is in every frame and detection sums them, so dropping every other
    frame (2x at the same frame rate) or showing each twice at 50 fps (0.5x) changes
    nothing but the number of frames summed."""
    double = transcode(marked[::2], tmp_path / "2x.mp4", "libx264", crf=23)
    half = transcode([f for f in marked for _ in (0, 1)], tmp_path / "half.mp4", "libx264",
                     fps=50, crf=23)
    assert decodes(read(double)) and decodes(read(half))


def test_an_h265_reencode(marked, tmp_path):
    frames = transcode(marked, tmp_path / "h265.mp4", "libx265", crf=28,
                       x265_params="log-level=error")
    assert decodes(read(frames))


def test_a_vp9_360p_upload_ladder_encode(marked, tmp_path):
    frames = transcode(marked, tmp_path / "vp9.webm", "libvpx-vp9", size=(360, 360),
                       bit_rate=300_000, deadline="realtime", cpu_used=8)
    assert frames[0].shape[:2] == (360, 360)
    assert decodes(read(frames))


def test_a_720p_pan_through_h265_crf35_decodes_only_from_its_first_frame(photo, tmp_path):
    """At a high quantiser the encoder codes the mark into its key frame and then carries it
    along the motion vectors, blurring it: the static tile is too weak in the whole clip, the
    first frame alone holds it."""
    marked = list(embed_frames(panning_clip(photo, 50, (720, 1280)), KEY, PAYLOAD, scheme=V2))
    frames = transcode(marked, tmp_path / "h265.mp4", "libx265", crf=35,
                       x265_params="log-level=error")
    acc = _codec_v2.accumulator(25)
    for f in frames:
        acc.add(f)
    acc.finish()
    d = _codec_v2.detect(acc, KEY)
    assert decodes(d) and d.first_frame
    assert d.hypotheses > 50_000_000  # the first frame's own search is in its count
    assert not decodes(_codec_v2.detect(acc, KEY, first_frame=False))
    ev = detect_frames(frames, KEY, schemes=[V2])
    assert ev.payload == PAYLOAD.hex() and ev.to_dict()["geometry"]["first_frame"] is True
    assert describe_geometry(ev.geometry) == "read from the first frame alone"


def picture_in_picture(frames, scale=0.4, grey=96):
    """The clip shrunk onto a grey frame of its own size, off-centre."""
    h, w = frames[0].shape[:2]
    sh, sw = int(h * scale), int(w * scale)
    out = []
    for f in frames:
        canvas = np.full((h, w, 3), grey, np.uint8)
        canvas[h // 8 : h // 8 + sh, w // 6 : w // 6 + sw] = cv2.resize(
            f, (sw, sh), interpolation=cv2.INTER_AREA)
        out.append(canvas)
    return out


def test_a_picture_in_picture_at_04_decodes_only_in_the_fine_domain(tmp_path):
    """The normalised domain halves a 512 x 512 frame, so a copy at 0.4 of it holds the mark
    at 0.4 of its size there, the band's upper half past Nyquist: it is registered and read
    in the sum at twice the normalised size. (The still generator's portrait, as in the
    benchmark; the test photo's flat background leaves too little after the encode: z 7.2.)"""
    from emo_safe import media
    from emo_safe._resources import sample_path

    still = cv2.resize(media.load_image(sample_path("portrait.jpg")), (512, 512),
                       interpolation=cv2.INTER_AREA)
    marked = list(embed_frames([still] * 25, KEY, PAYLOAD, scheme=V2))
    frames = transcode(picture_in_picture(marked), tmp_path / "pip.mp4", "libx264", crf=23)
    acc = _codec_v2.accumulator(25)
    for f in frames:
        acc.add(f)
    acc.finish()
    d = _codec_v2.detect(acc, KEY)
    assert decodes(d) and d.fine
    assert d.warp.describe()["zoom"] == pytest.approx(0.4, abs=0.01)  # the normalised domain's
    assert not decodes(_codec_v2.detect(acc, KEY, fine=False))
    ev = detect_frames(frames, KEY, schemes=[V2])
    assert ev.payload == PAYLOAD.hex() and ev.to_dict()["geometry"]["fine_domain"] is True
    assert describe_geometry(ev.geometry) == "zoomed x0.40, read at twice the working resolution"
    assert ev.segment_z == ()  # its segments are not kept


def test_the_fine_sum_gathers_the_source_luma_at_twice_the_normalised_size():
    from emo_safe.watermark import _codec

    rng = np.random.default_rng(5)
    for shape, fine_shape, factor in (((512, 512), (512, 512), 2.0),
                                      ((720, 1280), (512, 910), 2.0),
                                      ((600, 400), (600, 400), 400 / 256)):
        frames = [rng.integers(0, 256, (*shape, 3), np.uint8) for _ in range(3)]
        acc = _codec_v2.accumulator(25)
        for f in frames:
            acc.add(f)
        acc.finish()
        fine = acc.sums(_codec_v2.FINE)
        assert fine.total.shape == fine_shape and fine.frames == 3
        assert fine.factor == pytest.approx(factor)
        lumas = [_codec._luma(f) for f in frames]
        if shape == fine_shape:  # the source's own luma, summed
            assert np.allclose(fine.total, sum(y.astype(np.float64) for y in lumas))
    small = _codec_v2.accumulator(25)
    small.add(np.zeros((360, 640, 3), np.uint8))  # short side below FINE_MIN_SOURCE
    small.finish()
    fine = small.sums(_codec_v2.FINE)
    assert fine.total is None and fine.factor == 0.0 and fine.residual() is None


def test_a_turned_warps_tile_is_the_warps_tile_under_the_lattice_symmetry():
    """What the fine domain's reader relies on: the seven other symmetries of a warp are read
    off its folded tile, equal to resampling each (up to a cyclic shift)."""
    rng = np.random.default_rng(1)
    hp = _codec_v2._highpass(rng.normal(0, 1, (300, 420)))
    base = _codec_v2.Warp(False, 7.3, np.log(0.8), 0.05)
    tile = _v1.fold(_codec_v2.canonical(hp, base))
    for q, f in _codec_v2.SYMMETRIES:
        resampled = _v1.fold(_codec_v2.canonical(hp, base.turned(q, f)))
        turned = _codec_v2._symmetric(tile, q, f)
        xc = np.real(np.fft.ifft2(np.fft.fft2(resampled) * np.conj(np.fft.fft2(turned))))
        assert xc.max() / np.sqrt((resampled ** 2).sum() * (turned ** 2).sum()) > 0.99
        if (q, f) != (0, False):  # not the same tile whatever the turn
            other = _codec_v2._symmetric(tile, (q + 1) % 4, f)
            xc = np.real(np.fft.ifft2(np.fft.fft2(resampled) * np.conj(np.fft.fft2(other))))
            assert xc.max() / np.sqrt((resampled ** 2).sum() * (other ** 2).sum()) < 0.5


def test_a_mark_whose_sync_alone_is_significant_is_named_by_the_list_decoder(photo,
                                                                              monkeypatch):
    """A mark at 7 % of its strength under noise: its sync test is significant (p 1e-12),
    the best Viterbi path fails its CRC, one of the next best passes; the p-value is the
    sync test's, not lowered by the payload check."""
    plain = list(moving_clip(photo, 25, (256, 256)))
    marked = list(embed_frames(plain, KEY, PAYLOAD, scheme=V2))
    rng = np.random.default_rng(3)
    weak = [np.clip(p + 0.07 * (m.astype(np.float64) - p) + rng.normal(0, 8, p.shape), 0, 255)
            .astype(np.uint8) for p, m in zip(plain, marked)]
    d = read(weak)
    assert d.payload == PAYLOAD and d.p_value <= 1e-6
    assert d.p_value == pytest.approx(2 * d.hypotheses * _v1._norm_sf(d.z) / _codec_v2.W_SEARCH,
                                      rel=1e-6)
    monkeypatch.setattr(_codec_v2, "LIST_SIZE", 1)
    alone = read(weak)
    assert alone.payload is None and alone.p_value == d.p_value


def test_the_first_frame_gatherer_keeps_the_first_frames_residual_and_nothing_else():
    rng = np.random.default_rng(11)
    frames = [rng.normal(128, 30, (64, 96)).astype(np.float32) for _ in range(4)]
    gather = _codec_v2.FirstFrame(25)
    for y in frames:
        given = y.copy()
        gather.add(y)
        assert np.array_equal(y, given)  # every other sum reads the same frame
    gather.flush()
    assert np.array_equal(gather.first, _codec_v2.clipped_residual(frames[0].copy()))


def test_an_accumulator_computes_each_frames_residual_once_for_every_sum_that_reads_it():
    """The plain residual sums and the first frame's reading read the same clipped residual:
    the accumulator computes it once per frame and both get it."""
    calls = []

    def counted(y):
        calls.append(1)
        return _codec_v2.clipped_residual(y)

    class CountedFirstFrame(_codec_v2.FirstFrame):
        reads = staticmethod(counted)

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (256, 256, 3), np.uint8) for _ in range(6)]
    acc = _v1.Accumulator(25, {"residual": counted, "first": CountedFirstFrame})
    for f in frames:
        acc.add(f)
    acc.finish()
    assert len(calls) == len(frames)
    alone = _codec_v2.clipped_residual(_v1.normalise(frames[0]).astype(np.float32))
    assert np.array_equal(acc.sums("first").first, alone)


# ------------------------------------------------------------------------------ calibration
def test_unmarked_clips_read_through_the_whole_search_are_not_detected(photo):
    """The registration and every symmetry it proposes are counted in the p-value: unmarked
    clips (a photo, mirrored, rotated, cropped, noise, a flat frame), each searched in full,
    stay far from the threshold."""
    rng = np.random.default_rng(7)
    base = list(moving_clip(photo, 20))
    clips = [base, [f[:, ::-1] for f in base], [rotate(f, 12) for f in base],
             [f[100:400, 50:450] for f in base],
             [rng.integers(0, 256, (256, 256, 3), np.uint8) for _ in range(10)],
             [np.full((240, 320, 3), 90, np.uint8)] * 5]
    for clip in clips:
        d = read(clip)
        assert d.payload is None and d.p_value > 1e-3
        assert d.hypotheses > 10_000_000  # the whole search is in the count


def test_an_unmarked_picture_in_picture_read_in_the_fine_domain_is_not_detected(photo,
                                                                                monkeypatch):
    """The fine domain's reading is a search of its own, counted in its p-value: unmarked
    copies shrunk to 0.4 (whose registration proposes the small zoom) are read there too and
    stay far from the threshold."""
    readings = []
    fine_reading = _codec_v2._fine_reading
    monkeypatch.setattr(_codec_v2, "_fine_reading",
                        lambda *a: readings.append(fine_reading(*a)) or readings[-1])
    still = cv2.resize(photo, (512, 512), interpolation=cv2.INTER_AREA)
    for clip in ([still] * 10, list(moving_clip(photo, 10, (512, 512)))):
        d = read(picture_in_picture(clip))
        assert d.payload is None and d.p_value > 1e-3
    assert any(r is not None for r in readings)
    assert all(r.payload is None and r.p_value > 1e-3 for r in readings if r is not None)


def test_another_workspace_key_reads_nothing(marked):
    acc = _codec_v2.accumulator(25)
    for f in marked[:40]:
        acc.add(f)
    acc.finish()
    d = _codec_v2.detect(acc, OTHER_KEY)
    assert d.payload is None and d.p_value > 1e-3


def test_scheme_reports_the_geometry_it_undid(marked):
    ev = detect_frames([f[:, ::-1] for f in marked[:40]], KEY, schemes=[V2])
    assert ev.scheme == V2 and ev.payload == PAYLOAD.hex()
    assert ev.to_dict()["geometry"]["flip"] is True
    assert repr(get_scheme(V2, KEY)).startswith("VideoMarkV2(key_id=")


def test_v1_and_v2_read_one_set_of_sums_and_each_finds_its_own_mark(photo):
    """Both schemes read one accumulator (each frame is resized once; v1 sums its luma, v2
    the clipped residual of the same luma), and each scheme reads only its own mark."""
    from emo_safe.watermark.scheme import MultiAccumulator

    frames = list(embed_frames(moving_clip(photo, 30, (256, 256)), KEY, PAYLOAD,
                               scheme="org.emo-safe.wm.v1"))
    acc = MultiAccumulator([get_scheme(s, KEY).accumulator(25)
                            for s in (V2, "org.emo-safe.wm.v1")])
    assert acc.parts[1]._acc is acc.parts[0]._acc
    for f in frames:
        acc.add(f)
    v2, v1 = acc.finish()  # v2 first, as the bundled profile lists it
    assert v2.payload is None and v2.frames == 30
    assert v1.payload == PAYLOAD.hex() and v1.frames == 30


def test_a_v1_output_is_read_before_v2s_costly_stages_run(photo, marked, monkeypatch):
    """Every scheme's quick reading comes first: a v1 output decodes by v1 while v2 has only
    tried its plain warps; a rotated v2 output still gets v2's registration afterwards."""
    ran = []
    register = _codec_v2.register
    monkeypatch.setattr(_codec_v2, "register", lambda hp: ran.append(1) or register(hp))
    both = (V2, "org.emo-safe.wm.v1")
    old = list(embed_frames(moving_clip(photo, 30, (256, 256)), KEY, PAYLOAD,
                            scheme="org.emo-safe.wm.v1"))
    ev = detect_frames(old, KEY, schemes=both)
    assert ev.scheme == "org.emo-safe.wm.v1" and ev.payload == PAYLOAD.hex() and not ran
    ev = detect_frames([rotate(f, 10) for f in marked], KEY, schemes=both)
    assert ev.scheme == V2 and ev.payload == PAYLOAD.hex() and ran


def test_v2_sums_clipped_residuals_gathered_beside_v1s_luma_from_one_resize():
    """What v2 sums per frame is the residual of a local prediction clipped near its sign (an
    edge cannot outweigh the mark); sums are asked for before the first frame only."""
    from emo_safe.watermark import _codec

    rng = np.random.default_rng(3)
    y = np.zeros((256, 256), np.float32)
    y[:, 128:] = 200.0  # one hard edge
    y += rng.normal(0, 2.0, y.shape).astype(np.float32)
    r = _codec_v2.clipped_residual(y.copy())
    limit = float(np.abs(r).max())
    assert limit <= 2.0 * _codec_v2.CLIP_K * 1.2  # ~0.25 robust SD of a 2-level noise
    assert np.abs(r[:, 126:130]).max() == pytest.approx(limit)  # the edge is clipped flat
    acc = _codec.Accumulator(25, {_codec.LUMA: None, **_codec_v2.SUMS})
    frame = np.repeat(np.clip(y, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    acc.add(frame)
    acc.finish()
    assert acc.total.shape == acc.sums(_codec_v2.RESIDUAL).total.shape == (256, 256)
    assert np.abs(acc.sums(_codec_v2.RESIDUAL).total).max() < np.abs(acc.total).max() / 50
    with pytest.raises(RuntimeError, match="before the first frame"):
        acc.want("late", None)
