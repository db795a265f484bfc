"""Cached features of frozen pretrained backbones (as Ludwig caches frozen encoders' outputs).

When every pretrained input is frozen and mixup is off, a backbone's output for a text never
changes during training. train.py then runs each backbone once per split (with a progress bar),
keeps the vectors on disk, and trains the model's `core` (the other encoders, fusion and head)
on them: the same model and the same metrics, an epoch many times faster.

Cache files live in $KERASCLF_CACHE (default ~/.cache/kerasclf/features), one .npy per input and
split, named by a hash of the checkpoint's weights, the pooling, the dtype policy and the exact
token and segment ids (so the tokenizer settings and the data are in the key).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import keras
import numpy as np

from kerasclf import checkpoints, distribute, keys, progress
from kerasclf.config import Config, InputConfig
from kerasclf.data.batching import Batches, token_counts

log = logging.getLogger("kerasclf")


def cache_dir() -> Path:
    return Path(os.environ.get("KERASCLF_CACHE", Path.home() / ".cache" / "kerasclf")) / "features"


def cached_inputs(cfg: Config) -> list[InputConfig]:
    """The pretrained inputs whose features can be cached: all of them, or none (with the reason logged)."""
    pretrained = [i for i in cfg.inputs if i.pretrained]
    if not pretrained:
        return []
    thawed = [i.name for i in pretrained if not i.encoder.freeze]
    if thawed:
        return []
    if cfg.train.mixup_alpha > 0:
        log.info(
            "features of the frozen backbone(s) are not cached: train.mixup_alpha > 0 mixes their "
            "embeddings, so each backbone runs on every step"
        )
        return []
    if not cfg.train.cache_features:
        log.info("features of the frozen backbone(s) are not cached (train.cache_features: false)")
        return []
    return pretrained


def _key(model: keras.Model, inp: InputConfig, ids: np.ndarray, segments: np.ndarray) -> str:
    h = hashlib.sha256()
    for part in (
        checkpoints.load_checkpoint(inp.checkpoint, "").fingerprint,
        inp.encoder.pooling,
        keras.config.dtype_policy().name,
        str(ids.shape),
    ):
        h.update(part.encode())
    h.update(np.ascontiguousarray(ids).tobytes())
    h.update(np.ascontiguousarray(segments).tobytes())
    return h.hexdigest()[:24]


def backbone_features(
    model: keras.Model, inp: InputConfig, arrays: dict[str, np.ndarray], split: str, batch_size: int
) -> np.ndarray:
    """The backbone's feature vectors for one split: read from the cache, or computed and stored."""
    ids, segments = arrays[inp.name], arrays[keys.segments(inp.name)]
    path = cache_dir() / f"{inp.name}-{split}-{_key(model, inp, ids, segments)}.npy"
    # data parallel: rank 0 reads or computes the features and every rank gets them (once, not once per rank)
    return distribute.computed_once(lambda: _read_or_compute(model, inp, ids, segments, split, batch_size, path))


def _read_or_compute(model, inp: InputConfig, ids, segments, split: str, batch_size: int, path: Path) -> np.ndarray:
    if path.is_file():
        log.info("%s: %s features from the cache %s", inp.name, split, path)
        return np.load(path)
    branch = model.get_layer(f"{inp.name}_backbone")
    order = np.argsort(token_counts({inp.name: ids}), kind="stable")  # similar lengths batch together: less padding
    log.info("%s: computing %s features of %d texts with the frozen backbone", inp.name, split, len(ids))
    start = time.perf_counter()
    x = {inp.name: ids[order], keys.segments(inp.name): segments[order]}
    batches = Batches(x, None, batch_size, split=distribute.world().prediction_split(batch_size))
    with distribute.on_this_process(branch) as backbone:  # jax across hosts: rank 0 computes alone
        out = backbone.predict(batches, verbose=progress.verbose())
    features = np.empty((len(ids), out.shape[-1]), dtype=np.float32)
    features[order] = np.asarray(out, dtype=np.float32)[: len(ids)]  # jax on several devices: padding rows last
    log.info("%s: %s features in %.1f s", inp.name, split, time.perf_counter() - start)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, features)
    tmp.replace(path)
    return features


def core_arrays(
    model: keras.Model, cached: list[InputConfig], arrays: dict[str, np.ndarray], split: str, batch_size: int
) -> dict[str, np.ndarray]:
    """The inputs of the model's `core` for one split: cached features in place of the backbones' ids."""
    out = {k: v for k, v in arrays.items()}
    for inp in cached:
        out[keys.features(inp.name)] = backbone_features(model, inp, arrays, split, batch_size)
        del out[inp.name], out[keys.segments(inp.name)]
    return out
