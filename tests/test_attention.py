"""The windowed and Longformer-style attention equal full attention under the matching mask."""

import keras
import numpy as np
import pytest

from kerasclf.models.attention import full_attention, sliding_attention, window_attention


def dense_reference(q, k, v, allowed):
    """Masked softmax attention in numpy; allowed: (B, L, L) booleans (query, key)."""
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(q.shape[-1])
    scores = np.where(allowed[:, None], scores, -1e9)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    w = w / w.sum(-1, keepdims=True)
    return np.einsum("bhqk,bhkd->bhqd", w, v)


def inputs(length, batch=3, heads=2, dim=4, seed=0):
    rng = np.random.default_rng(seed)
    q, k, v = (rng.normal(size=(batch, heads, length, dim)).astype("float32") for _ in range(3))
    lengths = [length, max(1, length - 5), max(1, length // 2)][:batch]
    mask = np.zeros((batch, length), "float32")
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return q, k, v, mask


def np_(x):
    return keras.ops.convert_to_numpy(x)


def real_rows(out, mask):
    return out * mask[:, None, :, None]


@pytest.fixture(params=["fast", "portable"])
def path(request):
    """Each test that takes `path` runs on the fast path (`keras.ops.dot_product_attention`, and
    backend_fast's torch path for attention dropout) and on the portable one (`fast=False`)."""
    return request.param


def fast(path):
    return {"fast": path == "fast"}


@pytest.mark.parametrize("length", [7, 16, 23])
def test_full_attention_matches_reference(length, path):
    q, k, v, mask = inputs(length)
    allowed = np.broadcast_to(mask[:, None, :] > 0, (len(mask), length, length))
    np.testing.assert_allclose(
        real_rows(np_(full_attention(q, k, v, mask, **fast(path))), mask),
        real_rows(dense_reference(q, k, v, allowed), mask),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "length, window, overlap", [(16, 4, False), (19, 4, False), (23, 8, True), (16, 4, True), (5, 8, True)]
)
def test_window_attention_equals_block_diagonal_full_attention(length, window, overlap, path):
    q, k, v, mask = inputs(length)
    pos = np.arange(length)
    start = (pos // window) * window
    if overlap:
        lo, hi = start - window // 2, start + window + window // 2
    else:
        lo, hi = start, start + window
    band = (pos[None, :] >= lo[:, None]) & (pos[None, :] < hi[:, None])
    allowed = band[None] & (mask[:, None, :] > 0)
    got = np_(window_attention(q, k, v, mask, window, overlap, **fast(path)))
    np.testing.assert_allclose(real_rows(got, mask), real_rows(dense_reference(q, k, v, allowed), mask), atol=1e-5)


@pytest.mark.parametrize(
    "length, window, glob", [(16, 4, [0]), (23, 6, [0, 5]), (30, 8, []), (9, 16, [0]), (21, 4, [3, 40])]
)
def test_sliding_attention_equals_band_plus_global_full_attention(length, window, glob, path):
    q, k, v, mask = inputs(length)
    rng = np.random.default_rng(1)
    qg, kg, vg = (rng.normal(size=q.shape).astype("float32") for _ in range(3))
    pos = np.arange(length)
    g = [p for p in glob if p < length]
    is_g = np.isin(pos, g)
    allowed = (np.abs(pos[:, None] - pos[None, :]) <= window // 2) | is_g[None, :]
    allowed = allowed[None] & (mask[:, None, :] > 0)
    expected = dense_reference(q, k, v, allowed)
    if g:  # the global rows: every real key, with the global projections
        global_rows = dense_reference(qg, kg, vg, np.broadcast_to(mask[:, None, :] > 0, allowed.shape))
        expected[:, :, is_g] = global_rows[:, :, is_g]
    got = np_(sliding_attention(q, k, v, mask, window, glob, qg, kg, vg, **fast(path)))
    np.testing.assert_allclose(real_rows(got, mask), real_rows(expected, mask), atol=1e-5)


def test_sliding_attention_builds_no_length_by_length_tensor(path):
    """Trace the ops (einsum on the portable path, the fused kernel's inputs and output on the fast
    one): no tensor has two axes of the sequence length."""
    length, window = 256, 16
    q, k, v, mask = inputs(length, batch=1)
    seen = []
    import kerasclf.models.attention as attention

    if path == "portable":
        module, name = attention.ops, "einsum"
    elif keras.backend.backend() != "torch":
        pytest.skip("the spy reads torch's fused kernel")
    else:
        import torch

        module, name = torch.nn.functional, "scaled_dot_product_attention"
    original = getattr(module, name)

    def spy(*args, **kwargs):
        out = original(*args, **kwargs)
        seen.extend(tuple(t.shape) for t in (*args, *kwargs.values(), out) if hasattr(t, "shape"))
        return out

    setattr(module, name, spy)
    try:
        sliding_attention(q, k, v, mask, window, [0], **fast(path))
        window_attention(q, k, v, mask, window, True, **fast(path))
    finally:
        setattr(module, name, original)
    assert seen and all(list(s).count(length) <= 1 for s in seen), seen


@pytest.mark.parametrize("kind", ["full", "window", "overlap", "sliding"])
@pytest.mark.parametrize("length", [7, 16, 40])
def test_fast_path_equals_the_portable_path(length, kind):
    q, k, v, mask = inputs(length)
    mask[2] = 0  # a row with no real token at all
    attend = {
        "full": lambda **kw: full_attention(q, k, v, mask, **kw),
        "window": lambda **kw: window_attention(q, k, v, mask, 8, **kw),
        "overlap": lambda **kw: window_attention(q, k, v, mask, 8, True, **kw),
        "sliding": lambda **kw: sliding_attention(q, k, v, mask, 8, [0, 3], **kw),
    }[kind]
    got, portable = np_(attend()), np_(attend(fast=False))
    assert np.isfinite(got).all()  # the empty row must not turn into NaN; its values are never used
    np.testing.assert_allclose(got[:2], portable[:2], atol=1e-5)


def test_fast_path_goes_through_keras_dot_product_attention(monkeypatch):
    """Without dropout, each kind takes the public op (4-d, the blocks folded into the batch);
    on TensorFlow the portable path runs instead (see attention._attend)."""
    from kerasclf.models import attention

    if keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow takes the portable path")

    calls = []
    original = keras.ops.dot_product_attention

    def spy(query, key, value, **kwargs):
        calls.append(len(query.shape))
        return original(query, key, value, **kwargs)

    monkeypatch.setattr(attention.ops, "dot_product_attention", spy)
    q, k, v, mask = inputs(20)
    full_attention(q, k, v, mask)
    window_attention(q, k, v, mask, 8, True)
    sliding_attention(q, k, v, mask, 8, [0])
    assert calls == [4, 4, 4, 4]  # full; window; sliding's blocks and its global rows


@pytest.mark.parametrize("path", ["fast", "portable"])
def test_attention_dropout_keeps_the_expected_share_and_repeats_with_the_seed(path):
    q, k, v, mask = inputs(64, batch=2, heads=4, dim=8)
    v = np.ones_like(v)  # each output is the sum of the kept (rescaled) weights
    keras.utils.set_random_seed(3)
    seed = keras.random.SeedGenerator(3)
    a = np_(full_attention(q, k, v, mask, 0.25, seed, **fast(path)))
    keras.utils.set_random_seed(3)
    b = np_(full_attention(q, k, v, mask, 0.25, keras.random.SeedGenerator(3), **fast(path)))
    np.testing.assert_array_equal(a, b)
    real = mask[:, None, :, None].astype(bool).repeat(4, 1).repeat(8, 3)
    assert abs(a[real].mean() - 1.0) < 0.05  # weights sum to 1; dropped by 1/4 and rescaled by 4/3
    assert not np.allclose(a[real], 1.0)
