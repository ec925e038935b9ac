"""The runners' contract on constructed inputs: rows in input order whatever order the work
finishes in, a bounded number in flight, cluster addresses parsed strictly."""

from __future__ import annotations

import pytest

from emo_safe.batch import parse_cluster, row_exit_code, worst_exit_code
from emo_safe.batch.rows import Row
from emo_safe.batch.runners import _in_order
from emo_safe.errors import InputError


def test_rows_come_in_input_order_with_at_most_the_window_in_flight():
    submitted, in_flight, peak = [], set(), [0]

    def submit(item):
        submitted.append(item)
        in_flight.add(item)
        peak[0] = max(peak[0], len(in_flight))
        return item[::-1]  # the "future"

    def result(item, handle):
        in_flight.discard(item)
        return Row(0, {"file": handle[::-1]})

    items = [f"f{i}" for i in range(50)]
    rows = list(_in_order(items, submit, result, window=4))
    assert [r.file for r in rows] == items and submitted == items
    assert peak[0] == 4


def test_an_empty_batch_has_no_rows():
    assert list(_in_order([], lambda i: i, lambda i, h: Row(0, {"file": i}), window=4)) == []


@pytest.mark.parametrize("spec,expected", [
    ("local:1", ("local", 1)), ("local:64", ("local", 64)),
    ("tcp://10.0.0.5:8786", ("remote", "tcp://10.0.0.5:8786")),
    ("tls://scheduler:8786", ("remote", "tls://scheduler:8786")),
])
def test_cluster_addresses(spec, expected):
    assert parse_cluster(spec) == expected


@pytest.mark.parametrize("spec", ["local:0", "local:65", "local:two", "local:", "tcp://",
                                  "http://x:1", "scheduler:8786", ""])
def test_a_bad_cluster_address_is_an_input_error(spec):
    with pytest.raises(InputError):
        parse_cluster(spec)


def test_exit_codes_of_rows_read_back_and_the_batch_order():
    assert row_exit_code({"outcome": "generated"}) == 0
    assert row_exit_code({"outcome": "no-evidence"}) == 1
    assert row_exit_code({"outcome": "inconsistent"}) == 3
    assert row_exit_code({"outcome": "error", "error": "x"}) == 2
    assert row_exit_code({"outcome": "error", "exit_code": 3}) == 3
    assert row_exit_code({"outcome": "something else"}) == 2
    assert worst_exit_code([0, 1, 2, 3, 0]) == 3 and worst_exit_code([0, 1, 2]) == 2
    assert worst_exit_code([]) == 0
