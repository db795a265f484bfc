import keras
import numpy as np
import pytest
from harness import batch, check_saving, make, run, run_encoder_test, run_model_test

from kerasclf.config import load_config
from kerasclf.models.build import build_network
from kerasclf.models.compile import compile_model

ENCODERS = {
    "bow_trigrams": "{type: bow, embedding_dim: 8, ngram_buckets: 64, ngram_order: 3}",
    "bow_words_max_mean": "{type: bow, embedding_dim: 8, ngram_buckets: 0, ngram_order: 2, pooling: max_mean}",
    "cnn": "{type: cnn, embedding_dim: 8, kernel_sizes: [2, 3], filters: 4}",
    "cnn_one_hot": "{type: cnn, kernel_sizes: [2, 3], filters: 4, one_hot: true, embedding_dropout: 0.2}",
    "cnn_one_hot_ngrams": "{type: cnn, kernel_sizes: [1, 3], filters: 4, one_hot: true, ngram_buckets: 97}",
    "cnn_max_mean": "{type: cnn, embedding_dim: 8, kernel_sizes: [3], filters: 4, pooling: max_mean}",
    "lstm_bi_max": "{type: rnn, cell: lstm, embedding_dim: 8, units: 4, pooling: max}",
    "gru_last": "{type: rnn, cell: gru, embedding_dim: 8, units: 4, pooling: last}",
    "rnn_2layers_mean": (
        "{type: rnn, cell: rnn, embedding_dim: 8, units: 4, layers: 2, bidirectional: false, pooling: mean}"
    ),
    "transformer_avg": "{type: transformer, embedding_dim: 8, heads: 2, ff_dim: 8, layers: 2, dropout: 0.0}",
    "transformer_word_dropout_max_mean": (
        "{type: transformer, embedding_dim: 8, heads: 2, ff_dim: 8, word_dropout: 0.2, pooling: max_mean}"
    ),
    "transformer_cls_post_sin": (
        "{type: transformer, embedding_dim: 8, heads: 2, ff_dim: 8, pooling: cls, norm: post, positions: sinusoidal}"
    ),
    "local_transformer": (
        "{type: local_transformer, embedding_dim: 8, heads: 2, ff_dim: 8, window_size: 4, pooling: max}"
    ),
    "transformer_bigrams": (
        "{type: transformer, embedding_dim: 8, heads: 2, ff_dim: 8, ngram_buckets: 31, word_dropout: 0.1}"
    ),
    "transformer_no_blocks_bigrams": (
        "{type: transformer, embedding_dim: 8, layers: 0, ngram_buckets: 16, pooling: max_mean}"
    ),
    "local_transformer_bigrams": (
        "{type: local_transformer, embedding_dim: 8, heads: 2, ff_dim: 8, window_size: 4, ngram_buckets: 64}"
    ),
    "longformer_trigrams": (
        "{type: longformer, embedding_dim: 8, heads: 2, ff_dim: 8, attention_window: 4, "
        "ngram_buckets: 64, ngram_order: 3}"
    ),
    "local_transformer_no_overlap": (
        "{type: local_transformer, embedding_dim: 8, heads: 2, ff_dim: 8, window_size: 4, overlap: false}"
    ),
    "longformer_max_mean": (
        "{type: longformer, embedding_dim: 8, heads: 2, ff_dim: 8, attention_window: 4, pooling: max_mean}"
    ),
    "longformer_cls_two_global": (
        "{type: longformer, embedding_dim: 8, heads: 2, ff_dim: 8, attention_window: 4, pooling: cls, "
        "global_tokens: [0, 3]}"
    ),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_encoder_builds_and_trains_a_few_steps(name):
    cfg, model = make(ENCODERS[name])
    compile_model(model, cfg.train, 2, steps_per_epoch=3)
    x = batch(12)
    y = np.array([0, 1] * 6)
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit({"review": x}, y, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_encoder_runs_ignores_padding_and_round_trips_a_keras_file(name, tmp_path):
    run_encoder_test(ENCODERS[name], tmp_path)


def test_two_inputs_concatenate_before_one_head():
    cfg = load_config(
        overrides=[
            "inputs=[{name: a, encoder: {type: cnn, filters: 4, embedding_dim: 8, kernel_sizes: [3]}},"
            " {name: b, encoder: {type: rnn, units: 3, embedding_dim: 8}}]",
            "head.units=[4]",
        ]
    )
    model = build_network(cfg, {"a": 50, "b": 50}, 3)
    assert model.get_layer("fusion_concat").output.shape[-1] == 4 + 6
    assert run(model, a=batch(), b=batch(seed=2)).shape == (6, 3)


@pytest.mark.parametrize("path", ["torch", "portable"])
def test_one_hot_conv_equals_a_conv1d_over_one_hot_vectors(path, monkeypatch):
    """OneHotConv is Conv1D(padding='same', no bias) on one-hot word vectors, padding id 0 a zero vector."""
    from kerasclf.models import layers

    if path == "portable":
        monkeypatch.setattr(layers.keras.backend, "backend", lambda: "portable")
    elif keras.backend.backend() != "torch":
        pytest.skip("the embedding_bag path is torch's")
    vocab, filters, sizes = 11, 5, [1, 2, 3, 4]
    rng = np.random.default_rng(0)
    ids = rng.integers(1, vocab, size=(3, 9))
    ids[1, 6:] = 0  # a shorter text
    conv = layers.OneHotConv(vocab, sizes, filters)
    conv.build(ids.shape)
    got = keras.ops.convert_to_numpy(conv(ids))
    one_hot = keras.ops.convert_to_numpy(keras.ops.one_hot(ids, vocab))
    one_hot[..., 0] = 0  # padding reads as nothing
    for i, k in enumerate(sizes):
        rows = keras.ops.convert_to_numpy(conv.width_rows(i))
        kernel = rows.reshape(vocab, k, filters).transpose(1, 0, 2)  # (k, in, out)
        reference = keras.layers.Conv1D(filters, k, padding="same", use_bias=False)
        reference.build((None, None, vocab))
        reference.set_weights([kernel])
        np.testing.assert_allclose(
            got[..., i * filters : (i + 1) * filters], keras.ops.convert_to_numpy(reference(one_hot)), atol=1e-5
        )
    # weights saved before the widths shared one table (a table per width, each with its padding row) load
    old = {
        str(i): np.concatenate([keras.ops.convert_to_numpy(conv.width_rows(i)), rng.normal(size=(1, filters))])
        for i in range(len(sizes))
    }
    loaded = layers.OneHotConv(vocab, sizes, filters)
    loaded.build(ids.shape)
    loaded.load_own_variables(old)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(ids)), got, atol=1e-6)


@pytest.mark.parametrize("path", ["torch", "portable"])
def test_one_hot_conv_adds_each_windows_hashed_word_pair_or_triple(path, monkeypatch):
    """With ngram_buckets, a window of 2 (3) words adds the row its word pair (triple) hashes to, where
    the n-gram's words are all real; widths 1 and 4 read words only."""
    from kerasclf.models import layers

    if path == "portable":
        monkeypatch.setattr(layers.keras.backend, "backend", lambda: "portable")
    elif keras.backend.backend() != "torch":
        pytest.skip("the embedding_bag path is torch's")
    vocab, filters, sizes, buckets = 11, 3, [1, 2, 3, 4], 13
    ids = np.array([[3, 4, 5, 6, 2, 7, 0, 0], [1, 2, 0, 0, 0, 0, 0, 0]], dtype="int32")
    plain = layers.OneHotConv(vocab, sizes, filters)
    conv = layers.OneHotConv(vocab, sizes, filters, ngram_buckets=buckets)
    plain.build(ids.shape)
    conv.build(ids.shape)
    words = vocab * sum(sizes)
    table = keras.ops.convert_to_numpy(conv.table)
    plain.table.assign(np.concatenate([table[:words], table[-1:]]))  # the same word rows
    got = keras.ops.convert_to_numpy(conv(ids)).reshape(2, 8, len(sizes), filters)
    expected = keras.ops.convert_to_numpy(plain(ids)).reshape(2, 8, len(sizes), filters)
    prime = conv.hash.prime
    assert prime == 13 and table.shape == (words + 2 * prime + 1, filters)
    for b, t in np.ndindex(2, 8):
        for block, k in enumerate((2, 3)):
            window = [t + j - (k - 1) // 2 for j in range(k)]
            if all(0 <= p < 8 and ids[b, p] > 0 for p in window):
                w = [int(ids[b, p]) for p in window]
                row = (w[0] * vocab + w[1]) % prime  # the pair's hash (NgramHash)
                if k == 3:
                    row = (row * conv.hash.multiplier + w[2]) % prime
                expected[b, t, sizes.index(k)] += table[words + block * prime + row]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, keras.ops.convert_to_numpy(plain(ids)).reshape(got.shape))
    # a dropped word takes its pairs and triples with it: with every word dropped, nothing is read
    dropping = layers.OneHotConv(vocab, sizes, filters, word_dropout=0.999999, ngram_buckets=buckets)
    dropping.build(ids.shape)
    dropping.table.assign(table)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(dropping(ids, training=True)), 0.0)


def test_counted_ngrams_are_the_most_frequent_pairs_and_the_triples_of_kept_pairs():
    """count_ngrams keeps the `size` most frequent pairs (ties to the lower key) and the most frequent triples
    whose first pair is kept, keyed as NgramVocab says, sorted, the unused slots EMPTY; padding holds none."""
    from kerasclf.models.ngrams import NgramVocab, count_ngrams

    vocab = 10
    ids = np.array([[2, 3, 4, 2, 3, 4, 0], [2, 3, 5, 0, 0, 0, 0], [7, 8, 9, 7, 8, 0, 0]])
    # pairs: (2,3) x3, (3,4) x2, (4,2) x1, (3,5) x1, (7,8) x2, (8,9) x1, (9,7) x1
    pairs, triples = count_ngrams(ids, vocab, 3, order=3)
    assert pairs.dtype == np.int32 and list(pairs) == [23, 34, 78]  # (3,4) and (7,8) tie: both kept
    # triples whose first pair is kept: (2,3,4) x2, (2,3,5) x1, (3,4,2) x1, (7,8,9) x1; rows 0, 1, 2
    assert list(triples) == sorted([0 * vocab + 4, 0 * vocab + 5, 1 * vocab + 2])  # (7,8,9) ties, higher key
    (two,) = count_ngrams(ids, vocab, 2)
    assert list(two) == [23, 34]  # (2,3), then the lower of the tied keys
    (many,) = count_ngrams(ids[1:2], vocab, 4)
    assert list(many) == [23, 35, NgramVocab.EMPTY, NgramVocab.EMPTY]


@pytest.mark.parametrize("ngrams", [{"ngram_buckets": 13}, {"ngram_vocab": 5}])
def test_one_hot_conv_with_ngram_rows_but_no_window_of_2_or_3_reads_words_only(ngrams):
    """Widths 1 and 4 read no n-gram (config validation refuses it; the layer alone builds and reads words)."""
    from kerasclf.models import layers

    ids = batch(n=3, length=8, vocab=11)
    plain, conv = layers.OneHotConv(11, [1, 4], 3), layers.OneHotConv(11, [1, 4], 3, **ngrams)
    plain.build(ids.shape)
    conv.build(ids.shape)
    assert conv.table.shape == plain.table.shape
    conv.table.assign(plain.table)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(conv(ids)), keras.ops.convert_to_numpy(plain(ids)), atol=1e-6)


def test_the_largest_ngram_vocabulary_validation_allows_builds_and_keys_stay_in_int32():
    from kerasclf.models.ngrams import NgramVocab, count_ngrams

    most = (2**31 - 1) // 10_000  # the config's limit at 10,000 words (tests/test_config.py)
    NgramVocab(10_000, most, 3)
    with pytest.raises(ValueError, match="ngram vocabulary"):
        NgramVocab(10_000, most + 1, 3)
    pairs, triples = count_ngrams(np.array([[9_999, 9_999, 9_999]]), 10_000, 2, 3)
    assert pairs[0] == 9_999 * 10_000 + 9_999 and triples[0] == 0 * 10_000 + 9_999  # the last pair's row is 0


@pytest.mark.parametrize("path", ["torch", "portable"])
def test_one_hot_conv_adds_each_windows_counted_word_pair_or_triple(path, monkeypatch):
    """With ngram_vocab, `adapt` counts the training texts' pairs and triples; a window of 2 (3) words then
    adds its pair's (triple's) row where that n-gram is among the kept ones and its words are all real."""
    from collections import Counter

    from kerasclf.models import layers

    if path == "portable":
        monkeypatch.setattr(layers.keras.backend, "backend", lambda: "portable")
    elif keras.backend.backend() != "torch":
        pytest.skip("the embedding_bag path is torch's")
    vocab, filters, sizes, size = 11, 3, [1, 2, 3, 4], 4
    train = np.array([[3, 4, 5, 3, 4, 5, 3, 4], [6, 7, 3, 4, 2, 0, 0, 0], [6, 7, 8, 9, 10, 6, 7, 8]], dtype="int32")
    ids = np.array([[3, 4, 5, 6, 7, 8, 9, 0], [6, 7, 3, 4, 0, 0, 0, 0]], dtype="int32")
    plain = layers.OneHotConv(vocab, sizes, filters)
    conv = layers.OneHotConv(vocab, sizes, filters, ngram_vocab=size)
    plain.build(ids.shape)
    conv.build(ids.shape)
    conv.adapt(train)
    words = vocab * sum(sizes)
    table = keras.ops.convert_to_numpy(conv.table)
    assert table.shape == (words + 2 * size + 1, filters)
    plain.table.assign(np.concatenate([table[:words], table[-1:]]))  # the same word rows
    got = keras.ops.convert_to_numpy(conv(ids)).reshape(2, 8, len(sizes), filters)
    expected = keras.ops.convert_to_numpy(plain(ids)).reshape(2, 8, len(sizes), filters)
    # by hand: the kept pairs are the 4 most frequent, ties to the lower (a, b); each its place by (a, b)
    counts = Counter((a, b) for r in train for a, b in zip(r, r[1:]) if a and b)
    kept = sorted(sorted(counts, key=lambda p: (-counts[p], p))[:size])
    assert kept == [(3, 4), (4, 5), (5, 3), (6, 7)]
    counts3 = Counter((a, b, c) for r in train for a, b, c in zip(r, r[1:], r[2:]) if c and (a, b) in kept)
    kept3 = sorted(
        sorted(counts3, key=lambda t: (-counts3[t], kept.index(t[:2]), t[2]))[:size],
        key=lambda t: (kept.index(t[:2]), t[2]),
    )
    found = 0
    for b, t in np.ndindex(2, 8):
        for block, (k, grams) in enumerate(((2, kept), (3, kept3))):
            window = [t + j - (k - 1) // 2 for j in range(k)]
            if all(0 <= p < 8 and ids[b, p] > 0 for p in window):
                gram = tuple(int(ids[b, p]) for p in window)
                if gram in grams:
                    expected[b, t, sizes.index(k)] += table[words + block * size + grams.index(gram)]
                    found += 1
    assert found == 7  # pairs (3,4) twice, (4,5), (6,7) twice; triples (3,4,5), (6,7,8); not (6,7,3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # not adapted: no n-gram has a row, the layer reads words only
    fresh = layers.OneHotConv(vocab, sizes, filters, ngram_vocab=size)
    fresh.build(ids.shape)
    fresh.table.assign(table)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fresh(ids)), keras.ops.convert_to_numpy(plain(ids)), atol=1e-6
    )


def test_a_built_model_counts_its_ngrams_in_the_training_rows_and_keeps_them_in_its_file(tmp_path):
    """build_model adapts a one-hot CNN with ngram_vocab to the training split's ids; the keys are
    saved with the model and reload with it (kerasclf.load_run serves what was trained)."""
    from kerasclf import build_model, load_data
    from kerasclf.models.ngrams import NgramVocab, count_ngrams

    cfg = load_config(
        overrides=[
            "inputs.0.encoder={type: cnn, one_hot: true, kernel_sizes: [2, 3], filters: 4, ngram_vocab: 300}",
            "inputs.0.max_length=64",
            "head.units=[4]",
        ]
    )
    data = load_data(cfg, progress=False)
    model = build_model(cfg, data)
    layer = model.get_layer(f"{cfg.inputs[0].name}_embedding")
    keys = [keras.ops.convert_to_numpy(v) for v in layer.ngram_keys]
    ids = data.arrays["train"][cfg.inputs[0].name]
    for got, want in zip(keys, count_ngrams(ids, layer.vocab_size, 300, 3)):
        np.testing.assert_array_equal(got, want)
    assert (keys[0] < NgramVocab.EMPTY).all() and (np.diff(keys[0]) > 0).all()  # 300 distinct pairs, sorted
    x = {cfg.inputs[0].name: data.arrays["test"][cfg.inputs[0].name][:8]}
    run_model_test(model, x, tmp_path)  # padding changes nothing, each text alone gets what it gets in the batch
    again = check_saving(model, x, tmp_path)
    for v, k in zip(again.get_layer(layer.name).ngram_keys, keys):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), k)


@pytest.mark.parametrize("mode", ["max", "mean", "max_mean"])
def test_relu_pool_on_torch_equals_the_portable_path_and_its_gradients(mode):
    """ReluPool's torch autograd function gives the keras.ops path's values and gradients (x and bias),
    with a short text, a text with no real token (pools to zeros) and features that ReLU zeroes."""
    if keras.backend.backend() != "torch":
        pytest.skip("the autograd function is torch's")
    import torch

    from kerasclf import backend_fast
    from kerasclf.models import layers

    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 7, 5)).astype("float32")
    x[0, :, 0] = -1.0  # a feature ReLU zeroes everywhere: its max and mean are 0, no gradient
    mask = np.ones((4, 7), "float32")
    mask[1, 4:] = 0  # a shorter text: features at its padding are ignored whatever they hold
    mask[2] = 0  # no real token
    bias = np.linspace(-0.5, 0.5, 5, dtype="float32")
    upstream = torch.tensor(rng.normal(size=(4, 10 if mode == "max_mean" else 5)).astype("float32"))
    results = []
    for pool in (backend_fast.torch_relu_pool, layers.relu_pool):
        xt, bt = torch.tensor(x, requires_grad=True), torch.tensor(bias, requires_grad=True)
        out = pool(xt, bt, torch.tensor(mask), mode)
        results.append([t.detach().numpy() for t in (out, *torch.autograd.grad(out, [xt, bt], upstream))])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-6)
    out = results[0][0]
    assert np.all(out[2] == 0) and np.all(out[0, [0, 5] if mode == "max_mean" else [0]] == 0)
    h = np.maximum(x + bias, 0) * mask[..., None]
    expected = {"max": h.max(1), "mean": h.sum(1) / np.maximum(mask.sum(1), 1)[:, None]}
    expected["max_mean"] = np.concatenate([expected["max"], expected["mean"]], -1)
    np.testing.assert_allclose(out, expected[mode], atol=1e-6)


def test_fused_adamw_step_equals_keras_adamw(monkeypatch):
    """On torch the optimizer runs torch's fused AdamW; it must step like Keras' own AdamW
    (weight decay, bias correction, per-variable clipping, a variable with its own rate)."""
    if keras.backend.backend() != "torch":
        pytest.skip("the fused step is torch's")
    from kerasclf.models.compile import MultiRateAdamW

    cfg = load_config(
        overrides=[
            "inputs.0.encoder={type: cnn, embedding_dim: 8, kernel_sizes: [3], filters: 4}",
            "inputs.0.max_length=12",
            "head.units=[4]",
            "train.weight_decay=0.1",
            "train.learning_rate=0.01",
            "train.clipnorm=0.05",
        ]
    )
    ids = np.random.default_rng(0).integers(1, 50, size=(8, 12)).astype("int32")
    y = np.array([0, 1] * 4)
    weights = []
    for fused in (True, False):
        monkeypatch.setattr(MultiRateAdamW, "_fused", lambda self, fused=fused: fused)
        keras.utils.set_random_seed(1)
        model = compile_model(build_network(cfg, {"review": 50}, 2), cfg.train, 2, 10)
        embedding = model.get_layer("review_embedding").trainable_variables
        model.optimizer.set_rate(embedding, 0.5)
        for _ in range(4):
            model.train_on_batch({"review": ids}, y)
        weights.append([keras.ops.convert_to_numpy(w) for w in model.weights])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, atol=2e-5)
    keras.utils.set_random_seed(1)
    start = build_network(cfg, {"review": 50}, 2).get_weights()
    assert any(not np.allclose(s, w) for s, w in zip(start, weights[0]))


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_fused_clipping_scales_a_gradient_over_clipnorm_and_leaves_one_within_it(device):
    """On a CPU the fused clipping skips gradients within clipnorm (their scale would be exactly 1); every
    gradient ends as Keras' own per-variable clipping gives it, NaN norms included. `meta` stands for any
    non-CPU device: there every gradient is scaled, with no look at its norm."""
    if keras.backend.backend() != "torch":
        pytest.skip("the fused step is torch's")
    import torch

    from kerasclf.models.compile import MultiRateAdamW

    optimizer = MultiRateAdamW(clipnorm=1.0)
    if device == "meta":
        grads = [torch.ones(4, device="meta")]
        assert optimizer._clip_gradients(grads)[0].device.type == "meta"
        return
    grads = [torch.full((4,), 0.25), torch.full((4,), 3.0), torch.tensor([1.0, float("nan")])]
    norms = [float(torch.linalg.vector_norm(g)) for g in grads]
    assert norms[0] < 1.0 < norms[1]
    expected = [g * 1.0 / max(n, 1.0) for g, n in zip(grads, norms)]
    got = optimizer._clip_gradients([g.clone() for g in grads])
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=0)  # untouched
    torch.testing.assert_close(got[1], torch.full((4,), 0.5))
    assert torch.isnan(got[2]).all()  # as Keras: a NaN norm makes the whole gradient NaN


def test_word_dropout_replaces_words_with_unk_only_while_training():
    from kerasclf.models.layers import WordDropout

    ids = np.tile(np.arange(2, 402), (8, 1)).astype("int32")
    ids[:, 300:] = 0
    layer = WordDropout(0.25)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ids)), ids)
    out = keras.ops.convert_to_numpy(layer(ids, training=True))
    dropped = out != ids
    assert (out[dropped] == 1).all() and not dropped[:, 300:].any()
    assert 0.2 < dropped[:, :300].mean() < 0.3


def test_bigram_embedding_looks_up_each_word_pair_by_its_hash():
    from kerasclf.models.ngrams import NgramEmbedding

    ids = batch(n=5, length=9)
    layer = NgramEmbedding(50, 40, 3)  # 37 rows: the largest prime <= 40
    out = keras.ops.convert_to_numpy(layer(ids))
    table = keras.ops.convert_to_numpy(layer.table)
    assert table.shape == (37, 3)
    for b in range(len(ids)):
        for t in range(ids.shape[1]):
            prev, word = (ids[b, t - 1] if t else 0), ids[b, t]
            want = table[(prev * 50 + word) % 37] if prev and word else np.zeros(3)
            np.testing.assert_allclose(out[b, t], want)
    # the same pair gets the same row anywhere; other pairs mostly other rows
    assert len({tuple(r) for r in out[ids > 0].round(6)}) > 20


def test_order_3_adds_each_word_triple_hashed_into_the_same_table():
    from kerasclf.models.ngrams import NgramEmbedding

    ids = batch(n=5, length=9)
    layer = NgramEmbedding(50, 40, 3, order=3)
    out = keras.ops.convert_to_numpy(layer(ids))
    table = keras.ops.convert_to_numpy(layer.table)
    assert layer.multiplier == 50  # 36 * 50 + 49 fits in int32, so the triple hash is exact
    for b in range(len(ids)):
        for t in range(ids.shape[1]):
            w2, w1, w = (ids[b, t - 2] if t > 1 else 0), (ids[b, t - 1] if t else 0), ids[b, t]
            want = table[(w1 * 50 + w) % 37] if w1 and w else np.zeros(3)
            if w2 and w1 and w:
                want = want + table[(((w2 * 50 + w1) % 37) * 50 + w) % 37]
            np.testing.assert_allclose(out[b, t], want, rtol=1e-6)
    # a large table takes a smaller multiplier, so that the hash stays within int32: the rows of the
    # highest word ids equal a reference computed in int64
    big = NgramEmbedding(20000, 262144, 2, order=3)
    top = np.array([[19999, 19998, 19999, 19997, 1, 19999]], dtype="int32")
    out, table = keras.ops.convert_to_numpy(big(top)), keras.ops.convert_to_numpy(big.table)
    w = top[0].astype("int64")
    for t in range(2, 6):
        pair, pair_before = (w[t - 1] * 20000 + w[t]) % 262139, (w[t - 2] * 20000 + w[t - 1]) % 262139
        want = table[pair] + table[(pair_before * big.multiplier + w[t]) % 262139]
        np.testing.assert_allclose(out[0, t], want, rtol=1e-6)
    with pytest.raises(ValueError, match="buckets: expected 2"):
        NgramEmbedding(20000, 2**31, 2)


def test_ngram_buckets_are_validated_against_the_vocabulary():
    from kerasclf.errors import UserError

    with pytest.raises(
        UserError, match=r"inputs\.0\.tokenizer\.max_tokens: with ngram_buckets .* at most 46340, got 50000"
    ):
        load_config(
            overrides=[
                "inputs.0.encoder={type: transformer, ngram_buckets: 1000}",
                "inputs.0.tokenizer.max_tokens=50000",
            ]
        )
    with pytest.raises(
        UserError, match=r"inputs\.0\.encoder\.ngram_buckets: expected 0 \(off\) or 2\.\.400000000 rows"
    ):
        load_config(
            overrides=[
                "inputs.0.encoder={type: transformer, ngram_buckets: 3000000000}",
                "inputs.0.tokenizer.max_tokens=20000",
            ]
        )
    with pytest.raises(UserError, match=r"inputs\.0\.encoder\.ngram_order: 3 needs ngram_buckets > 0"):
        load_config(overrides=["inputs.0.encoder={type: transformer, ngram_order: 3}"])
    with pytest.raises(UserError, match=r"inputs\.0\.encoder\.ngram_order: expected one of 2, 3, got 4"):
        load_config(overrides=["inputs.0.encoder={type: transformer, ngram_buckets: 64, ngram_order: 4}"])
    with pytest.raises(
        UserError, match=r"inputs\.0\.tokenizer\.max_tokens: with ngram_vocab .* at most 46340, got 50000$"
    ):
        load_config(
            overrides=[
                "inputs.0.encoder={type: cnn, one_hot: true, kernel_sizes: [2], ngram_vocab: 1000}",
                "inputs.0.tokenizer.max_tokens=50000",
            ]
        )


def test_a_bag_with_its_own_learning_rate_steps_its_variables_at_that_multiple():
    from kerasclf.models.build import backbone_learning_rates

    cfg, model = make(
        "{type: bow, embedding_dim: 8, ngram_buckets: 64, learning_rate: 0.00025}", 0, "train.learning_rate=0.001"
    )
    compile_model(model, cfg.train, 2, 10, backbone_learning_rates(model, cfg))
    opt = model.optimizer
    bag = {v.path for layer in model.layers if layer.name.startswith("review_") for v in layer.trainable_variables}
    assert {"review_embedding/embeddings", "review_ngrams/table"} <= bag
    for v in model.trainable_variables:
        assert opt.rate_multiplier(v) == pytest.approx(0.25 if v.path in bag else 1.0), v.path
    before = {v.path: np.array(v) for v in model.trainable_variables}
    model.fit({"review": batch(4, 24)}, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    moved = {v.path: float(np.abs(np.array(v) - before[v.path]).max()) for v in model.trainable_variables}
    assert moved["review_embedding/embeddings"] > 0 and any(moved[p] > 0 for p in moved if p not in bag)
