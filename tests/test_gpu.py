"""On a CUDA GPU (marked `gpu`, skipped without one; bench/gpu_check.sh runs them there): where a
trained model's variables and outputs live, mixed bfloat16 training and prediction, torch's fused
attention kernels against the portable path, and the feature cache of a frozen pretrained input."""

import csv
import importlib.util
import json

import keras
import numpy as np
import pytest
import torch
from conftest import QUICK
from harness import batch, make

import kerasclf
from kerasclf.models.attention import full_attention, sliding_attention, window_attention
from kerasclf.train import train

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is false)"),
    pytest.mark.skipif(keras.backend.backend() != "torch", reason="the GPU checks are for Keras' torch backend"),
]
needs_keras_hub = pytest.mark.skipif(
    importlib.util.find_spec("keras_hub") is None, reason="pretrained checkpoints need keras-hub"
)
TEXTS = ["A wonderful, moving film.", "Dull and far too long.", "not bad at all"]


def on_cuda(tensor) -> bool:
    return isinstance(tensor, torch.Tensor) and tensor.device.type == "cuda"


def metrics(run_dir) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def pretrained(preset, *extra, freeze=True):
    """A frozen (or fine-tuned) pretrained input on a few hundred reviews of the shipped sample."""
    return [
        f"inputs.0.encoder={{type: pretrained, preset: {preset}, pooling: mean, freeze: {str(freeze).lower()}}}",
        "inputs.0.max_length=64",
        "train.epochs=2",
        "data.limit=300",
        "head.units=[16]",
        *extra,
    ]


# ---------------------------------------------------------------- device placement
def test_training_keeps_the_model_and_its_optimizer_on_the_gpu():
    cfg = kerasclf.load_config(overrides=QUICK)
    data = kerasclf.load_data(cfg, progress=False)
    model = kerasclf.build_model(cfg, data)
    model.fit(data.train, epochs=1, verbose=0)
    assert model.weights and all(on_cuda(v.value) for v in model.weights)
    assert model.optimizer.variables and all(on_cuda(v.value) for v in model.optimizer.variables)
    x = {name: ids[:8] for name, ids in data.arrays["test"].items()}
    out = model(x, training=False)
    assert on_cuda(out) and out.shape == (8, data.num_classes)


def test_a_reloaded_run_predicts_on_the_gpu(sample_run):
    run = kerasclf.load_run(sample_run)
    assert all(on_cuda(v.value) for v in run.model.weights)
    out = run.model(run.encode(TEXTS), training=False)
    assert on_cuda(out)
    probs = run.predict_proba(TEXTS)
    np.testing.assert_allclose(probs, keras.ops.convert_to_numpy(keras.ops.softmax(out)), atol=1e-4)
    assert run.predict(TEXTS[:1])[0]["label"] in run.class_names


# ---------------------------------------------------------------- mixed bfloat16
def test_mixed_bfloat16_trains_saves_and_predicts(tmp_path):
    run_dir = train(kerasclf.load_config(overrides=[*QUICK, "train.precision=mixed_bfloat16"]), tmp_path)
    with open(run_dir / "history.csv") as f:
        loss = [float(r["loss"]) for r in csv.DictReader(f)]
    assert len(loss) == 2 and np.all(np.isfinite(loss)) and loss[1] < loss[0]  # it learns
    assert metrics(run_dir)["test"]["roc_auc"] > 0.5
    keras.config.set_dtype_policy("float32")  # the reloaded model keeps its layers' own policies
    run = kerasclf.load_run(run_dir)
    policies = {layer.name: layer.dtype_policy.name for layer in run.model.layers if layer.weights}
    assert policies.pop("logits") == "float32"  # the head's last layer: float32 logits
    assert policies and set(policies.values()) == {"mixed_bfloat16"}, policies
    assert all(v.dtype == "float32" and on_cuda(v.value) for v in run.model.weights)  # float32 master weights
    probs = run.predict_proba(TEXTS)
    assert np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    # the reloaded model predicts what training wrote, within bfloat16's precision
    with open(run_dir / "predictions.csv") as f:
        rows = list(csv.DictReader(f))[:50]
    again = run.predict_proba([r["text"] for r in rows])[:, 1]
    np.testing.assert_allclose(again, [float(r["p_pos"]) for r in rows], atol=2e-2)


@needs_keras_hub
def test_auto_precision_fine_tunes_a_backbone_in_mixed_bfloat16(tiny_bert, tmp_path):
    from kerasclf.models.build import set_precision

    assert set_precision(kerasclf.load_config(overrides=pretrained(tiny_bert))) == "float32"  # frozen
    cfg = kerasclf.load_config(overrides=pretrained(tiny_bert, freeze=False))
    assert set_precision(cfg) == "mixed_bfloat16"  # auto, fine-tuned, on a GPU
    run_dir = train(cfg, tmp_path)
    assert np.isfinite(metrics(run_dir)["test"]["roc_auc"])
    backbone = kerasclf.load_run(run_dir).model.get_layer("review_backbone")
    assert all(v.dtype == "float32" for v in backbone.weights)
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in backbone.layers if layer.weights)


# ---------------------------------------------------------------- fused attention
def attention_inputs(dtype, length=256, batch=3, heads=4, dim=32, seed=0):
    """q, k, v (batch, heads, length, dim) and a key mask with 1.0 at real tokens, on the GPU."""
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, heads, length, dim, generator=g).to("cuda", dtype) for _ in range(3))
    mask = torch.zeros(batch, length)
    for i, n in enumerate([length, length - 37, length // 3][:batch]):
        mask[i, :n] = 1
    return q, k, v, mask.to("cuda", dtype)


ATTENTION = {
    "full": lambda q, k, v, m, fast: full_attention(q, k, v, m, fast=fast),
    "window": lambda q, k, v, m, fast: window_attention(q, k, v, m, 64, overlap=True, fast=fast),
    "sliding": lambda q, k, v, m, fast: sliding_attention(q, k, v, m, 64, [0, 9], fast=fast),
}


def sdpa_ops(fn) -> set[str]:
    """The scaled_dot_product_attention implementations (aten ops) that `fn()` ran."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
        torch.cuda.synchronize()
    return {e.key for e in prof.key_averages() if "scaled_dot_product" in e.key}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
@pytest.mark.parametrize("kind", list(ATTENTION))
def test_fast_attention_runs_a_fused_kernel_and_matches_the_portable_path(kind, dtype):
    q, k, v, mask = attention_inputs(dtype)
    attend = ATTENTION[kind]
    ran = sdpa_ops(lambda: attend(q, k, v, mask, True))
    fused = {op for op in ran if any(f"_scaled_dot_product_{x}" in op for x in ("flash", "efficient", "cudnn"))}
    assert fused and not any("math" in op for op in ran), f"{kind} attention in {dtype} ran {sorted(ran)}"
    # and the flash / memory-efficient kernels alone can run it (torch raises if neither can)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]):
        fast = attend(q, k, v, mask, True)
    portable = attend(q, k, v, mask, False)
    assert on_cuda(fast) and fast.dtype == dtype and fast.shape == q.shape
    real = mask[:, None, :, None] > 0.5  # the rows of real tokens (padding rows are never used)
    tol = 1e-4 if dtype == torch.float32 else 3e-2
    zero = torch.zeros((), device="cuda")
    torch.testing.assert_close(
        torch.where(real, fast.float(), zero), torch.where(real, portable.float(), zero), atol=tol, rtol=tol
    )


def test_fast_attention_trains_in_mixed_bfloat16_without_the_math_kernel():
    """A transformer's training step under mixed_bfloat16 (no attention dropout): the fused kernel, forward and back."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    _, model = make("{type: transformer, embedding_dim: 64, heads: 2, ff_dim: 64, layers: 1, dropout: 0.0}")
    x = {"review": batch(n=8, length=24)}
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    y = np.array([0, 1] * 4)
    model.train_on_batch(x, y)  # the first step also traces shapes (on the meta device, torch's math kernel)
    ran = sdpa_ops(lambda: model.train_on_batch(x, y))
    assert any("_scaled_dot_product_" in op for op in ran) and not any("math" in op for op in ran), sorted(ran)


# ---------------------------------------------------------------- the feature cache
@needs_keras_hub
def test_frozen_backbone_features_are_cached_once_and_give_the_live_run(tiny_bert, tmp_path, monkeypatch):
    from kerasclf.features import cache_dir

    monkeypatch.setenv("KERASCLF_CACHE", str(tmp_path / "cache"))
    first = train(kerasclf.load_config(overrides=pretrained(tiny_bert)), tmp_path / "a")
    files = sorted(cache_dir().glob("review-*.npy"))
    assert metrics(first)["cached_features"] == ["review"]
    assert {f.name.split("-")[1] for f in files} == {"train", "validation", "test"}
    stamps = {f: f.stat().st_mtime_ns for f in files}
    second = train(kerasclf.load_config(overrides=pretrained(tiny_bert)), tmp_path / "b")
    assert sorted(cache_dir().glob("review-*.npy")) == files  # read back, not computed again
    assert {f: f.stat().st_mtime_ns for f in files} == stamps
    live = train(kerasclf.load_config(overrides=pretrained(tiny_bert, "train.cache_features=false")), tmp_path / "c")
    assert metrics(live)["cached_features"] == []
    for other in (second, live):  # GPU kernels may differ in the last bits between runs: not bit for bit
        for split in ("validation", "test"):
            assert metrics(other)[split]["accuracy"] == pytest.approx(metrics(first)[split]["accuracy"], abs=0.01)
            assert metrics(other)[split]["roc_auc"] == pytest.approx(metrics(first)[split]["roc_auc"], abs=1e-3)
    # the cached vectors are the saved backbone's own output, run on the GPU
    cfg = kerasclf.load_config(overrides=pretrained(tiny_bert))
    test = kerasclf.load_data(cfg, progress=False).arrays["test"]
    backbone = kerasclf.load_run(first).model.get_layer("review_backbone")
    assert all(on_cuda(v.value) for v in backbone.weights)
    out = backbone({name: ids[:16] for name, ids in test.items()}, training=False)
    assert on_cuda(out)
    cached = np.load(next(f for f in files if f.name.startswith("review-test-")))
    assert cached.dtype == np.float32 and len(cached) == len(test["review"])
    np.testing.assert_allclose(cached[:16], keras.ops.convert_to_numpy(out), rtol=1e-4, atol=1e-4)
