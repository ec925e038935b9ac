"""The audio mark org.emo-safe.wm.audio.v1: what it must survive, and what it must never claim.

Real encoders (FFmpeg's AAC, LAME, libopus through PyAV) on a real speech recording (7.5 s)
and a synthetic 10-second piece of music. The quality and the full attack table are in
benchmarks/audio_watermark.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from factories import synthetic_music, transcode_audio

from emo_safe import media
from emo_safe._resources import sample_path
from emo_safe.errors import InputError
from emo_safe.watermark import DEFAULT_MAX_P_VALUE, _audio, _ecc, available_schemes, get_scheme

AUDIO = "org.emo-safe.wm.audio.v1"
KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
PAYLOAD = bytes.fromhex("5ca1ab1e0042")


@pytest.fixture(scope="module")
def scheme():
    return get_scheme(AUDIO, KEY)


@pytest.fixture(scope="module")
def speech_clip() -> media.Audio:
    return media.load_audio(sample_path("speech.m4a"))


@pytest.fixture(scope="module")
def music_clip() -> media.Audio:
    return media.Audio(synthetic_music(10.0), 44_100)


@pytest.fixture(scope="module", params=["speech", "music"])
def clips(request, scheme, speech_clip, music_clip):
    plain = speech_clip if request.param == "speech" else music_clip
    return plain, scheme.embed(plain, PAYLOAD)


def snr_db(plain: media.Audio, marked: media.Audio) -> float:
    noise = marked.samples.astype(np.float64) - plain.samples
    return 10 * np.log10(np.sum(plain.samples.astype(np.float64) ** 2) / np.sum(noise ** 2))


def assert_reads_payload(scheme, audio: media.Audio) -> None:
    ev = scheme.detect(audio)
    assert ev.detected and ev.p_value <= DEFAULT_MAX_P_VALUE, ev
    assert ev.payload == PAYLOAD.hex()
    assert ev.medium == "audio" and ev.scheme == AUDIO


def assert_not_detected(scheme, audio: media.Audio) -> None:
    ev = scheme.detect(audio)
    assert not ev.detected and ev.p_value > 1e-3 and ev.payload is None, ev


# ------------------------------------------------------------------------------ the scheme
def test_registered_as_an_audio_scheme_beside_the_video_mark():
    assert available_schemes("audio") == [AUDIO]
    assert AUDIO not in available_schemes("video")
    assert get_scheme(AUDIO, KEY).medium == "audio"


def test_key_id_is_public_and_differs_from_the_video_marks():
    audio, video = get_scheme(AUDIO, KEY), get_scheme("org.emo-safe.wm.v1", KEY)
    assert len(audio.key_id) == 16 and audio.key_id != video.key_id
    assert audio.key_id != get_scheme(AUDIO, OTHER_KEY).key_id
    assert KEY.hex() not in repr(audio)


def test_layout_does_not_depend_on_numpy_random_streams():
    # The chips come from SHAKE-256 of the derived key: the same bytes in every release.
    lay = _audio.layout(KEY)
    assert lay.chips.shape == (_audio.CYCLE, _audio.N_CELLS)
    assert lay.chips[0, :8].tolist() == _audio.layout(KEY).chips[0, :8].tolist()
    counts = np.bincount(lay.owner[lay.owner >= 0], minlength=_audio.N_CODED)
    assert counts.min() >= 16 and (lay.owner < 0).mean() == pytest.approx(0.25, abs=0.01)


def test_embed_keeps_rate_and_length_and_is_quiet(clips):
    plain, marked = clips
    assert marked.rate == plain.rate and marked.samples.size == plain.samples.size
    assert snr_db(plain, marked) >= 30.0


def test_a_wrong_payload_is_an_input_error(scheme, speech_clip):
    with pytest.raises(InputError, match="6 bytes"):
        scheme.embed(speech_clip, b"\x01\x02")


def test_digital_silence_is_left_alone(scheme):
    silent = media.Audio(np.zeros(44_100 * 3, np.float32), 44_100)
    assert np.array_equal(scheme.embed(silent, PAYLOAD).samples, silent.samples)
    assert_not_detected(scheme, silent)


def test_a_one_second_clip_is_read_without_error(scheme, clips):
    marked = clips[1]
    ev = scheme.detect(media.Audio(marked.samples[: marked.rate], marked.rate))
    assert ev.medium == "audio" and 0 < ev.p_value <= 1


# ------------------------------------------------------------------------ what it survives
def test_payload_survives_aac_64k(scheme, clips, tmp_path):
    assert_reads_payload(scheme, transcode_audio(clips[1], tmp_path, ".m4a", 64_000))


def test_payload_survives_aac_32k(scheme, clips, tmp_path):
    # the hardest codec row for 10 s of music: it needs the gain of the quiet cells
    # (GAMMA 1, up to 90 %); with GAMMA 0.7 capped at 60 % it read p 1e-5 and no payload
    assert_reads_payload(scheme, transcode_audio(clips[1], tmp_path, ".m4a", 32_000))


@pytest.mark.parametrize(("kind", "suffix"), [("speech", ".ogg"), ("music", ".m4a")])
def test_payload_survives_16k_codecs_by_weighing_the_loudness_levels(scheme, speech_clip,
                                                                     music_clip, tmp_path,
                                                                     kind, suffix):
    # Opus 16 kbps on speech and AAC 16 kbps on music flatten the quiet cells: read with even
    # weights over the loudness levels (as before the level weighting) neither decodes.
    plain = speech_clip if kind == "speech" else music_clip
    marked = scheme.embed(plain, PAYLOAD)
    assert_reads_payload(scheme, transcode_audio(marked, tmp_path, suffix, 16_000))


def test_payload_survives_mp3_64k(scheme, clips, tmp_path):
    assert_reads_payload(scheme, transcode_audio(clips[1], tmp_path, ".mp3", 64_000))


def test_payload_survives_a_3_second_excerpt(scheme, clips):
    marked = clips[1]
    # an excerpt that starts between the search's 2 ms steps, 2.21 s in
    start = int(2.21 * marked.rate)
    assert_reads_payload(scheme, media.Audio(marked.samples[start : start + 3 * marked.rate],
                                             marked.rate))


@pytest.mark.parametrize("rate", [16_000, 22_050, 48_000])
def test_payload_survives_a_resample(scheme, clips, tmp_path, rate):
    marked = clips[1]
    resampled = media.Audio(media.resample(marked.samples, marked.rate, rate), rate)
    # through a real file at that rate: what a converter hands on
    assert_reads_payload(scheme, transcode_audio(resampled, tmp_path, ".flac"))


def test_a_cut_off_the_analysis_grid_needs_the_offset_search(scheme, music_clip,
                                                            monkeypatch, tmp_path):
    """A cut of 17.7 ms (283 samples at 16 kHz: a frame and 27 samples) splits every slot;
    the search tries offsets 2 ms apart and finds the mark. With the zero offset alone, the
    payload of the cut reposted through AAC 32 kbps is lost (sync z 9.0 -> 3.0; without
    the codec the misaligned reading still decodes, at z 7.2 instead of 21.4)."""
    marked = scheme.embed(music_clip, PAYLOAD)
    cut = transcode_audio(media.Audio(marked.samples[int(0.0177 * marked.rate) :],
                                      marked.rate), tmp_path, ".m4a", 32_000)
    assert_reads_payload(scheme, cut)
    every_offset = _audio.Analysis.hypotheses

    def zero_offset_only(self):
        yield from ((at, w) for at, w in every_offset(self) if at[0] == 0)

    monkeypatch.setattr(_audio.Analysis, "hypotheses", zero_offset_only)
    # (the time-scale search is off: a tempo of 1.003 also shifts the frames onto the grid)
    assert scheme.detect(cut, time_scale_search=False).payload is None


# ---------------------------------------------------------------------- what it never claims
def test_unmarked_audio_is_not_detected(scheme, speech_clip, music_clip, tmp_path):
    for plain in (speech_clip, music_clip):
        assert_not_detected(scheme, plain)
        assert_not_detected(scheme, transcode_audio(plain, tmp_path, ".m4a", 64_000))


def test_another_workspaces_key_reads_nothing(clips):
    assert_not_detected(get_scheme(AUDIO, OTHER_KEY), clips[1])


def test_too_short_to_tell_is_not_detected(scheme, clips):
    marked = clips[1]
    assert_not_detected(scheme, media.Audio(marked.samples[: marked.rate // 10], marked.rate))


def steady_host(kind: str, seconds: float = 60.0) -> np.ndarray:
    """A minute at 16 kHz of a host whose spectrum never changes: a 1 kHz test tone, or an
    organ chord (C major, eleven harmonics each), over a faint noise floor."""
    t = np.arange(int(seconds * _audio.RATE)) / _audio.RATE
    floor = np.random.default_rng(0).standard_normal(t.size)
    if kind == "tone":
        x = 0.1 * np.sin(2 * np.pi * 1000 * t) + 1e-5 * floor
    else:
        x = sum(0.03 / k * np.sin(2 * np.pi * f * k * t)
                for f in (261.6, 329.6, 392.0) for k in range(1, 12)) + 1e-4 * floor
    return x.astype(np.float32)


@pytest.mark.parametrize("kind,key", [("tone", bytes([2]) * 32), ("chord", bytes(32))])
def test_a_steady_host_does_not_read_as_a_mark_however_long(kind, key):
    # A steady spectrum leaves each cell a steady residual, which over a minute met the sync
    # pattern's own per-cell sums like a mark: z 7.9 on the tone and 6.1 on the chord (p 9e-12
    # and 3e-6) before the sync search took each cell's running mean out.
    found = _audio.detect(steady_host(kind), key)
    assert found.z < 5 and found.p_value > 1e-3 and found.payload is None, found


def test_the_steady_part_taken_out_keeps_the_alternating_mark():
    rng = np.random.default_rng(1)
    mark = rng.choice([-1.0, 1.0], size=(960, _audio.N_CELLS))
    bias = rng.standard_normal(_audio.N_CELLS) * 50  # a steady host's residual, cell by cell
    left = _audio._without_steady_bias((mark + bias).astype(np.float32))
    assert np.abs(left.mean(axis=0)).max() < 0.2  # the bias is gone...
    kept = float(np.sum(left * mark) / np.sum(mark * mark))
    assert 0.97 < kept <= 1.0  # ...and about 1 % of the mark went with it


# -------------------------------------------------------------------- the time-scale search
@pytest.fixture(scope="module")
def short_clips(scheme):
    plain = media.Audio(synthetic_music(5.0, seed=4), 44_100)
    return plain, scheme.embed(plain, PAYLOAD)


def played_faster(audio: media.Audio, factor: float) -> media.Audio:
    """A tape played ``factor`` times faster: time and pitch both change."""
    return media.Audio(media.resample(audio.samples, round(audio.rate * factor), audio.rate),
                       audio.rate)


def test_a_speed_change_needs_the_time_scale_search(scheme, short_clips):
    fast = played_faster(short_clips[1], 1.1)
    assert scheme.detect(fast, time_scale_search=False).payload is None
    ev = scheme.detect(fast)  # the search is on by default
    assert ev.detected and ev.payload == PAYLOAD.hex() and ev.scale == pytest.approx(1.1)


def test_a_tempo_change_that_keeps_the_pitch_is_found_by_the_search(scheme, speech_clip,
                                                                    tmp_path):
    import subprocess

    marked = scheme.embed(speech_clip, PAYLOAD)
    src, slow = tmp_path / "marked.wav", tmp_path / "slow.wav"
    media.write_audio(src, marked)
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-af", "atempo=0.9", str(slow)],
                   check=True)  # WSOLA: 10 % longer, same pitch
    slowed = media.load_audio(slow)
    assert scheme.detect(slowed, time_scale_search=False).payload is None
    ev = scheme.detect(slowed)
    assert ev.detected and ev.payload == PAYLOAD.hex() and ev.scale == pytest.approx(0.9)


def test_the_search_counts_its_hypotheses_and_finds_nothing_in_unmarked_audio(scheme,
                                                                            short_clips):
    plain = short_clips[0]
    assert _audio.detect(media.resample(plain.samples, plain.rate, 16_000), KEY,
                         _audio.TIME_SCALES).hypotheses == 401 * _audio.HYPOTHESES
    assert_not_detected_searching(scheme, played_faster(plain, 0.95))


def assert_not_detected_searching(scheme, audio):
    ev = scheme.detect(audio, time_scale_search=True)
    assert not ev.detected and ev.payload is None, ev


def at_16k(audio: media.Audio) -> np.ndarray:
    return media.resample(audio.samples, audio.rate, _audio.RATE)


@pytest.mark.parametrize(("kind", "factor"), [("speed", 0.937), ("speed", 1.063)])
def test_the_coarse_stage_ranks_the_true_time_scale_first(short_clips, kind, factor):
    # Off the coarse 0.5 % grid: the refinement finds the 0.1 % step, and one exact reading,
    # of the ranking's winner, decodes; the coarse grid's nearest step alone reads less.
    changed = at_16k(played_faster(short_clips[1], factor))
    fine = _audio.FineSpectrum(changed, _audio.WIDE_LO, _audio.WIDE_HI)
    best = _audio.TIME_SCALES[_audio.rank_time_scales(fine, _audio.layout(KEY),
                                                      _audio.TIME_SCALES)[0]]
    assert best[0] == kind and best[1] == pytest.approx(factor, abs=0.001)
    d = _audio.detect(changed, KEY, _audio.TIME_SCALES, fine_scales=1)
    assert d.payload == PAYLOAD and d.time_scale == best
    assert _audio.detect(changed, KEY, _audio.TIME_SCALES, fine_scales=0).payload is None


def test_a_long_clip_off_the_coarse_grid_reads_far_stronger_refined(scheme, music_clip):
    # 20 s at 1.063x: the 0.5 % grid's nearest step is 0.2 % off, 40 ms of drift by the end
    # (z 9 there, 26 at the 0.1 % step; at 30 s the 0.5 % grid lost the payload)
    twice = media.Audio(np.concatenate([music_clip.samples] * 2), music_clip.rate)
    y16 = at_16k(played_faster(scheme.embed(twice, PAYLOAD), 1.063))
    coarse_only = tuple(s for s in _audio.TIME_SCALES if round(s[1] * 200, 6) % 1 == 0)
    nearest = _audio.detect(y16, KEY, coarse_only)
    refined = _audio.detect(y16, KEY, _audio.TIME_SCALES)
    assert refined.payload == PAYLOAD and refined.time_scale[1] == pytest.approx(1.063, abs=1e-3)
    assert refined.z > 2 * nearest.z


def test_a_plain_reading_that_decodes_skips_the_search_but_counts_it(short_clips, monkeypatch):
    def no_search(*_args):
        raise AssertionError("the coarse stage ran")

    monkeypatch.setattr(_audio, "coarse_scores", no_search)
    d = _audio.detect(at_16k(short_clips[1]), KEY, _audio.TIME_SCALES)
    assert d.payload == PAYLOAD and d.time_scale == ("none", 1.0)
    assert d.hypotheses == 401 * _audio.HYPOTHESES


# ------------------------------------------------------------- the detector's arithmetic
def test_phase_sums_fold_the_clip_onto_one_cycle():
    rng = np.random.default_rng(7)
    pattern = _audio.layout(KEY).sync
    for n in (8, 96, 250):
        w = rng.standard_normal((n, _audio.N_CELLS))
        corr, energy = _audio._phase_sums(w, pattern)
        for phase in (0, 1, 95):
            rows = (np.arange(n) + phase) % _audio.CYCLE
            assert corr[phase] == pytest.approx(np.sum(w * pattern[rows]))
            # the energy is the folded clip's: slots a cycle apart are summed before squaring
            folded = np.zeros((_audio.CYCLE, _audio.N_CELLS))
            np.add.at(folded, rows, w)
            assert energy[phase] == pytest.approx(np.sum(folded ** 2 * pattern ** 2))
            if n <= _audio.CYCLE:  # nothing to fold: each slot's own energy
                assert energy[phase] == pytest.approx(np.sum(w * w * pattern[rows] ** 2))


def test_a_host_that_repeats_with_the_cycle_counts_as_one_cycle_of_noise():
    rng = np.random.default_rng(8)
    pattern = _audio.layout(KEY).sync
    one_cycle = rng.standard_normal((_audio.CYCLE, _audio.N_CELLS))
    corr, energy = _audio._phase_sums(one_cycle, pattern)
    once = corr / np.sqrt(energy)
    for cycles in (4, 20):  # the same cycle over and over: its z must not grow
        corr, energy = _audio._phase_sums(np.tile(one_cycle, (cycles, 1)), pattern)
        assert np.allclose(corr / np.sqrt(energy), once)
    # noise that does not repeat folds to the same energy, in expectation, as it had
    noise = rng.standard_normal((20 * _audio.CYCLE, _audio.N_CELLS))
    corr, energy = _audio._phase_sums(noise, pattern)
    assert energy.mean() == pytest.approx(np.sum(noise ** 2) * 0.25, rel=0.05)


def test_cell_weights_average_each_cells_bins_and_follow_the_pitch():
    plain = _audio._cell_weights(1.0)
    assert np.allclose(plain.sum(axis=0), 1)
    first = _audio.LO - _audio.WIDE_LO
    assert np.allclose(plain[first : first + 2, 0], 0.5) and plain[:, 0].sum() == 1
    higher = _audio._cell_weights(1.1)  # the same cell, 10 % higher: further up the bins
    centre = np.arange(_audio.WIDE_LO, _audio.WIDE_HI) @ higher
    assert np.allclose(centre, (np.arange(_audio.WIDE_LO, _audio.WIDE_HI) @ plain) * 1.1,
                       atol=0.1)


def test_the_fine_spectrum_holds_every_offsets_analysis(music_clip):
    y16 = at_16k(music_clip)[: 3 * _audio.RATE]
    direct = _audio.Analysis(y16)
    shared = _audio.Analysis(y16, fine=_audio.FineSpectrum(y16, _audio.WIDE_LO, _audio.WIDE_HI))
    assert all(np.array_equal(a, b) for a, b in zip(direct.logpow, shared.logpow, strict=True))


def constructed_cells(strength: np.ndarray, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Whitened cells as the detector sees them: the keyed chips times each slot's mark
    strength (sync +1, data the coded bit), plus unit noise; and the coded bits (+-1)."""
    lay = _audio.layout(KEY)
    coded = _ecc.encode_payload(PAYLOAD).astype(np.float64) * 2 - 1
    slots = np.arange(strength.size) % _audio.CYCLE
    values = np.where(lay.owner[slots] < 0, 1.0, coded[np.maximum(lay.owner[slots], 0)])
    noise = np.random.default_rng(seed).standard_normal((strength.size, _audio.N_CELLS))
    return lay.chips[slots] * values * strength[:, None] + noise, coded


def bit_snr(w: np.ndarray, coded: np.ndarray, weights: np.ndarray | None = None) -> float:
    """The soft bits' mean over their spread, read with the detector's weights or given ones."""
    lay = _audio.layout(KEY)
    if weights is None:
        soft = _audio._soft_bits(w, lay, 0)
    else:
        slots = np.arange(w.shape[0]) % _audio.CYCLE
        data = lay.owner[slots] >= 0
        weighted = w * lay.chips[slots] * weights[:, None]
        soft = np.bincount(lay.owner[slots][data], weights=weighted[data],
                           minlength=_audio.N_CODED)
    aligned = soft * coded
    return float(aligned.mean() / aligned.std())


def test_a_weak_mark_throughout_gets_even_slot_weights():
    # 10 s marked everywhere, faintly (a clip under noise): local strength estimates are
    # mostly their own noise, and weighting by them would lose a sixth of the evidence.
    w, coded = constructed_cells(np.full(312, 0.06))
    lay = _audio.layout(KEY)
    slots = np.arange(312) % _audio.CYCLE
    strengths = _audio._slot_strengths(w * lay.chips[slots], lay.owner[slots] < 0)
    assert strengths.std() < 0.2 * strengths.mean()
    assert bit_snr(w, coded) >= 0.97 * bit_snr(w, coded, np.ones(312))


@pytest.mark.parametrize("slots", [_audio.MIN_SLOTS, 33, _audio.RELIABILITY_SLOTS + 1])
def test_clips_shorter_than_the_strength_window_are_weighed_too(slots):
    w, coded = constructed_cells(np.full(slots, 0.5))
    soft = _audio._soft_bits(w, _audio.layout(KEY), 0)
    assert soft.shape == (_audio.N_CODED,) and np.all(np.isfinite(soft))


def test_digital_silence_gets_finite_zero_weights():
    # all-zero cells have no signal and no noise: the shrinkage must not be 0 / 0
    lay = _audio.layout(KEY)
    slots = np.arange(100) % _audio.CYCLE
    with np.errstate(all="raise"):
        strengths = _audio._slot_strengths(np.zeros((100, _audio.N_CELLS)),
                                           lay.owner[slots] < 0)
    assert np.all(strengths == 0.0)


def test_a_marked_stretch_among_unmarked_audio_keeps_its_local_weights():
    # 10 s marked, then 20 s of something else: even weights would drown the marked third.
    strength = np.r_[np.full(312, 0.15), np.zeros(624)]
    w, coded = constructed_cells(strength)
    assert bit_snr(w, coded) >= 1.4 * bit_snr(w, coded, np.ones(strength.size))
    assert bit_snr(w, coded) >= 0.85 * bit_snr(w, coded, (strength > 0).astype(float))


def test_loudness_levels_are_deciles_of_the_smoothed_power():
    cells = np.random.default_rng(0).standard_normal((300, _audio.N_CELLS))
    levels = _audio._levels(cells)
    assert levels.shape == cells.shape and levels.min() == 0
    assert levels.max() == _audio.N_LEVELS - 1
    shares = np.bincount(levels.ravel(), minlength=_audio.N_LEVELS) / levels.size
    assert np.allclose(shares, 1 / _audio.N_LEVELS, atol=0.002)
    # a loud stretch is all in the top levels, whatever its cells' noise
    cells[:30] += 10
    assert _audio._levels(cells)[1:29].min() >= _audio.N_LEVELS - 1
    # silence: one level, no error; an empty clip has none
    assert np.unique(_audio._levels(np.zeros((20, _audio.N_CELLS)))).size == 1
    assert _audio._levels(np.zeros((0, _audio.N_CELLS))).shape == (0, _audio.N_CELLS)


def marked_on_levels(carrying: np.ndarray, strength: float = 0.25, slots: int = 312):
    """Constructed cells whose mark is only at the loudness levels ``carrying`` says (levels
    drawn at random per cell), with those levels."""
    levels = np.random.default_rng(7).integers(0, _audio.N_LEVELS, (slots, _audio.N_CELLS))
    marked, coded = constructed_cells(np.full(slots, strength))
    noise, _ = constructed_cells(np.zeros(slots))
    return np.where(carrying[levels], marked, noise), levels, coded


def level_weighted_bit_snr(w, levels, coded) -> float:
    aligned = _audio._soft_bits(w, _audio.layout(KEY), 0, levels) * coded
    return float(aligned.mean() / aligned.std())


def test_even_evidence_over_the_loudness_levels_keeps_nearly_even_weights():
    w, levels, coded = marked_on_levels(np.ones(_audio.N_LEVELS, bool))
    assert level_weighted_bit_snr(w, levels, coded) >= 0.97 * bit_snr(w, coded)


def test_loudness_levels_without_the_mark_are_weighed_out():
    # half the levels carry nothing (the floor, cells the codec or the noise filled): even
    # weights mix their noise in, measured weights leave it out
    carrying = np.arange(_audio.N_LEVELS) % 2 == 0
    w, levels, coded = marked_on_levels(carrying)
    slots = np.arange(w.shape[0]) % _audio.CYCLE
    weights = _audio._level_weights(w * _audio.layout(KEY).chips[slots],
                                    _audio.layout(KEY).owner[slots] < 0, levels)
    assert weights[~carrying].max() < 0.4 * weights[carrying].min()
    assert level_weighted_bit_snr(w, levels, coded) >= 1.25 * bit_snr(w, coded)


def test_the_sync_statistic_stays_a_fair_z_with_the_level_profile():
    # the profile depends on the audio, never on the key: over keys, the correlation of
    # unmarked speech with the sync pattern at one alignment is a standard normal
    speech = media.load_audio(sample_path("speech.m4a"), rate=_audio.RATE)
    cells = _audio._cells(_audio.Analysis(speech.samples).logpow[0], 0)
    weighted = _audio._sync_weighted(cells)[1]
    z = []
    for i in range(300):
        key = i.to_bytes(2, "big") * 16
        corr, energy = _audio._phase_sums(weighted, _audio.layout(key).sync)
        z.append(corr[0] / np.sqrt(energy[0]))
    assert abs(np.mean(z)) < 0.2 and 0.85 < np.std(z) < 1.15


def marked_and_shared_noise(slots: int = 312, seed: int = 11):
    """The mark (chips times values, strength 0.1) alone, a noise two estimates share, and the
    coded bits: constructed cells for the predictor bank's combination."""
    mark, coded = constructed_cells(np.full(slots, 0.1), seed=seed)
    noise, _ = constructed_cells(np.zeros(slots), seed=seed)
    mark = mark - noise  # constructed_cells adds unit noise: keep the mark alone
    return mark, noise, coded


def test_the_predictor_bank_takes_a_noise_two_readings_share_out():
    # Two residuals of one host: the first carries the mark under a host noise, the second
    # only that noise (and a little of its own). The first alone reads the mark under the
    # noise; weighed by Sigma^-1 mu, the second's negative weight takes the noise out of it.
    mark, shared, coded = marked_and_shared_noise()
    rng = np.random.default_rng(5)
    first = mark + shared + 0.3 * rng.standard_normal(mark.shape)
    second = shared + 0.1 * rng.standard_normal(mark.shape)
    lay = _audio.layout(KEY)
    slots = np.arange(mark.shape[0]) % _audio.CYCLE
    sync = lay.owner[slots] < 0
    weights = _audio._diversity_weights(np.stack([(r * lay.chips[slots])[sync]
                                                  for r in (first, second)]))
    assert weights[0] > 0 > weights[1]
    combined = _audio._soft_bits([first, second], lay, 0) * coded
    assert combined.mean() / combined.std() >= 2.5 * bit_snr(first, coded)


def test_a_reading_without_the_mark_weighs_almost_nothing_in_the_bank():
    mark, noise, coded = marked_and_shared_noise()
    rng = np.random.default_rng(6)
    marked = mark + noise
    empty = rng.standard_normal(mark.shape)
    lay = _audio.layout(KEY)
    slots = np.arange(mark.shape[0]) % _audio.CYCLE
    sync = lay.owner[slots] < 0
    weights = _audio._diversity_weights(np.stack([(r * lay.chips[slots])[sync]
                                                  for r in (marked, empty)]))
    assert abs(weights[1]) < 0.15 * weights[0]
    both = _audio._soft_bits([marked, empty], lay, 0) * coded
    assert both.mean() / both.std() >= 0.9 * bit_snr(marked, coded)


def test_the_bank_weighs_one_reading_silence_and_tiny_clips_without_error():
    assert _audio._diversity_weights(np.ones((1, 50))).tolist() == [1.0]
    with np.errstate(all="raise"):
        silent = _audio._diversity_weights(np.zeros((5, 200)))
        tiny = _audio._diversity_weights(np.random.default_rng(0).standard_normal((5, 6)))
    assert np.allclose(silent, 0.2) and np.allclose(tiny, 0.2)


def test_short_excerpts_through_opus_need_the_whole_predictor_bank(scheme, music_clip,
                                                                   tmp_path, monkeypatch):
    # 2.5-s excerpts of the music through Opus 24 kbps, 19 start positions: the five
    # predictors' residuals combined name the payload in 16 (measured), the two the search
    # uses in 8 and the better one alone in 7.
    opus = transcode_audio(scheme.embed(music_clip, PAYLOAD), tmp_path, ".ogg", 24_000)
    starts = np.arange(0.1, opus.duration - 2.5, 0.4)
    rate = opus.rate

    def decoded() -> int:
        return sum(scheme.detect(media.Audio(opus.samples[int(s * rate):int((s + 2.5) * rate)],
                                             rate), time_scale_search=False).payload
                   == PAYLOAD.hex() for s in starts)

    assert decoded() >= 14
    monkeypatch.setattr(_audio, "PAYLOAD_PREDICTORS", _audio.PREDICTORS)
    assert decoded() <= 11


def test_a_marked_clip_followed_by_unmarked_speech_still_decodes(scheme, music_clip, tmp_path):
    # 10 s of marked music, then 30 s of speech, through Opus 24 kbps: with even slot
    # weights the unmarked three quarters drown the payload.
    marked = scheme.embed(music_clip, PAYLOAD)
    other = media.load_audio(sample_path("speech.m4a"), rate=marked.rate)
    joined = media.Audio(np.concatenate([marked.samples, *[other.samples] * 4]),
                         marked.rate)
    assert_reads_payload(scheme, transcode_audio(joined, tmp_path, ".ogg", 24_000))
