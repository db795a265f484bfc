"""Batch lengths: cut to the longest real text, in shapes the backend can reuse."""

import numpy as np

from kerasclf.data.batching import fixed_lengths, trim


def test_fixed_lengths_are_powers_of_two_then_max_length():
    assert fixed_lengths(600) == [32, 64, 128, 256, 512, 600]
    assert fixed_lengths(512) == [32, 64, 128, 256, 512]
    assert fixed_lengths(20) == [20]


def test_trim_rounds_to_16_or_to_the_next_fixed_length():
    rng = np.random.default_rng(0)
    seen_fixed, seen_round = set(), set()
    for longest in rng.integers(1, 601, size=300):
        ids = np.zeros((4, 600), dtype=np.int32)
        ids[1, :longest] = 5
        segments = np.ones_like(ids)
        rounded = trim({"review": ids, "review__segments": segments})
        fixed = trim({"review": ids, "review__segments": segments}, fixed=True)
        n_round, n_fixed = rounded["review"].shape[1], fixed["review"].shape[1]
        assert n_round == min(600, -(-longest // 16) * 16)
        assert n_fixed >= longest and n_fixed in fixed_lengths(600)
        assert fixed["review__segments"].shape[1] == n_fixed  # a companion array follows its input
        assert (fixed["review"][:, :longest] == ids[:, :longest]).all()  # only padding is cut
        seen_fixed.add(n_fixed)
        seen_round.add(n_round)
    assert len(seen_fixed) <= 8 < len(seen_round)  # a few compiled programs on jax, not one per length
