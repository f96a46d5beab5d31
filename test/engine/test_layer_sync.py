"""Joining layers by stamp: complete sets come out once, stragglers time out and are counted."""

import numpy as np
import pytest

from cherry_classifier.imaging.layer_sync import LayerSynchronizer

NAMES = ("bot1", "bot2", "top2")


def layer(value: int) -> np.ndarray:
    return np.full((4, 6), value, np.uint8)


def test_layers_within_tolerance_form_one_set_in_any_arrival_order():
    sync = LayerSynchronizer(NAMES, tolerance_s=0.01, timeout_s=1.0)
    assert sync.add("top2", 10.004, layer(3), now=0.0) is None
    assert sync.add("bot1", 10.000, layer(1), header="h1", now=0.01) is None
    complete = sync.add("bot2", 10.002, layer(2), now=0.02)
    assert complete is not None and complete.header == "h1"
    assert {name: int(img[0, 0]) for name, img in complete.layers.items()} == {
        "bot1": 1,
        "bot2": 2,
        "top2": 3,
    }
    assert sync.pending == 0 and sync.unmatched_sets == 0


def test_incomplete_sets_expire_and_are_counted_not_leaked():
    sync = LayerSynchronizer(NAMES, tolerance_s=0.01, timeout_s=0.5)
    sync.add("bot1", 1.0, layer(1), now=0.0)
    sync.add("bot1", 2.0, layer(1), now=0.1)
    assert sync.pending == 2
    assert sync.expire(now=0.55) == 1
    assert sync.expire(now=10.0) == 1
    assert sync.pending == 0 and sync.unmatched_sets == 2


def test_pending_sets_are_bounded():
    sync = LayerSynchronizer(NAMES, tolerance_s=0.001, timeout_s=100.0, max_pending=4)
    for index in range(10):
        sync.add("bot1", float(index), layer(1), now=0.0)
    assert sync.pending == 4 and sync.unmatched_sets == 6


def test_unknown_layers_and_bad_names_are_refused():
    with pytest.raises(ValueError):
        LayerSynchronizer(("a", "a"))
    with pytest.raises(ValueError, match="unknown layer"):
        LayerSynchronizer(NAMES).add("side", 0.0, layer(0))
