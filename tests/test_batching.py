"""Batch lengths: cut to the longest real text, in shapes the backend can reuse."""

import numpy as np
import pytest

from kerasclf.data.batching import Batches, Split, fixed_lengths, trim, used_lengths


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


def _sharded(n, batch_size, ranks, pad_to=1, train_weights=True):
    rng = np.random.default_rng(1)
    x = {"review": rng.integers(1, 50, size=(n, 12)).astype(np.int32)}
    x["review"][:, 8:] = 0
    y = np.arange(n)  # a label per row names the row
    return [
        Batches(x, y, batch_size, shuffle=True, seed=3, split=Split(r, ranks, pad_to), train_weights=train_weights)
        for r in range(ranks)
    ]


def test_each_rank_reads_its_own_part_of_every_batch_and_all_rows_once():
    """71 rows, batches of 8 over 3 ranks: parts of 3, 3 and 2 rows; the last batch (7 rows) too;
    the weights make each rank's loss (a weighted mean over its part) average to the batch's mean."""
    ranks = _sharded(71, 8, 3)
    whole = Batches(ranks[0].x, ranks[0].y, 8, shuffle=True, seed=3)
    assert len(ranks[0]) == len(whole) == 9
    seen = []
    for i in range(len(whole)):
        parts = [r[i] for r in ranks]
        rows = np.concatenate([p[1] for p in parts])
        assert (rows == whole[i][1]).all()  # the ranks' parts, in rank order, are the batch one process reads
        assert len({p[0]["review"].shape[1] for p in parts}) == 1  # one length for every rank of a step
        n = len(rows)
        # sum over ranks of (weighted mean over the part) / ranks == plain mean over the batch
        losses = rows.astype(float)
        means = [
            (p[2] * losses[sum(len(q[1]) for q in parts[:k]) :][: len(p[1])]).sum() / len(p[1])
            for k, p in enumerate(parts)
        ]
        assert np.mean(means) == pytest.approx(losses.mean())
        seen.extend(rows.tolist())
        assert n in (7, 8)
    assert sorted(seen) == list(range(71))


def test_a_batch_smaller_than_the_ranks_joins_another_and_no_rank_is_left_empty():
    ranks = _sharded(17, 8, 4, train_weights=False)  # batches 8, 8, 1: the 1-row batch joins one of 8
    assert len(ranks[0]) == 2
    sizes = [[len(r[i][1]) for r in ranks] for i in range(2)]
    assert sorted(sum(sizes, [])) == [2, 2, 2, 2, 2, 2, 2, 3]
    assert all((r[i][2] == 1).all() for r in ranks for i in range(2))  # validation: every real row weighs 1


def test_jax_padding_rows_weigh_nothing_and_keep_the_mean():
    """One process over 4 devices: a batch of 7 becomes 8 rows, the 8th a copy with weight 0."""
    (one,) = _sharded(15, 8, 1, pad_to=4)
    sizes = sorted(len(one[i][1]) for i in range(len(one)))
    assert sizes == [8, 8]
    for i in range(len(one)):
        x, y, w = one[i]
        real = w > 0
        assert real.sum() in (7, 8) and x["review"].shape[0] == 8
        assert (w[real] * y[real]).sum() / len(y) == pytest.approx(y[real].mean())  # Keras' mean over 8 rows
    (val,) = _sharded(15, 8, 1, pad_to=4, train_weights=False)
    assert sorted(float(val[i][2].sum()) for i in range(2)) == [7.0, 8.0]


def test_used_lengths_keep_a_fixed_length_only_where_a_quarter_of_the_texts_fall():
    ids = np.zeros((8, 600), dtype=np.int32)
    for row, n in enumerate([20, 30, 40, 100, 300, 590, 600, 600]):
        ids[row, :n] = 7
    # (0, 32]: 2 of 8, kept; (32, 64]: 1 of 8, joins 128's: (32, 128] 2 of 8, kept; 256 and 512: to 600
    assert used_lengths(ids) == [32, 128, 600]
    assert used_lengths(ids, min_share=0.1) == [32, 64, 128, 512, 600]
    assert used_lengths(np.zeros((0, 64), dtype=np.int32)) == [64]
    cut = trim({"review": ids[3:4]}, fixed=True, allowed={"review": used_lengths(ids)})
    assert cut["review"].shape[1] == 128
