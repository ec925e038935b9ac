"""The payload code: CRC-24 over the 48 bits, a K=7 rate-1/2 convolutional code, soft Viterbi
decoding, and the list decoder that v2 falls back on once its sync test alone is
significant."""

import numpy as np

from emo_safe.watermark import _ecc

PAYLOAD = bytes.fromhex("0badc0ffee42")
N_BITS = 48 + _ecc.CRC_BITS


def codeword() -> np.ndarray:
    return _ecc.encode_payload(PAYLOAD).astype(np.float64) * 2 - 1


def correlation(bits: np.ndarray, soft: np.ndarray) -> float:
    return float(np.dot(_ecc.conv_encode(bits).astype(np.float64) * 2 - 1, soft))


def test_the_lists_first_path_is_the_viterbi_decision_and_the_rest_follow_in_order():
    rng = np.random.default_rng(1)
    for _ in range(20):
        soft = codeword() + rng.normal(0, 1.2, codeword().size)
        paths = _ecc.viterbi_list(soft, N_BITS, 8)
        assert np.array_equal(paths[0], _ecc.viterbi_decode(soft, N_BITS))
        assert len({p.tobytes() for p in paths}) == 8  # distinct inputs
        scores = [correlation(p, soft) for p in paths]
        assert all(a >= b - 1e-9 for a, b in zip(scores, scores[1:]))


def test_the_list_decoder_names_payloads_the_best_path_alone_misses_and_never_a_wrong_one():
    rng = np.random.default_rng(2)
    plain = listed = 0
    for _ in range(150):
        soft = codeword() + rng.normal(0, 1.0, codeword().size)
        plain += _ecc.decode_payload(soft, 6)[0] == PAYLOAD
        found = _ecc.decode_payload_list(soft, 6, 8)
        assert all(p == PAYLOAD for p in found)
        listed += bool(found)
    assert listed >= plain + 20  # 102 of 150 against 70 with this seed


def test_noise_passes_the_crc_at_no_path_of_the_list():
    rng = np.random.default_rng(3)
    assert not any(_ecc.decode_payload_list(rng.normal(0, 1, codeword().size), 6, 8)
                   for _ in range(100))
