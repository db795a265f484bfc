"""Pretrained BERT-architecture encoders from keras-hub: a preset name, an `hf://` id, or a local folder.

    encoder: {type: pretrained, preset: /path/to/all-MiniLM-L6-v2, freeze: true, pooling: mean}

keras-hub reads the checkpoint (its own preset format, or Hugging Face's config.json +
model.safetensors + vocab.txt, converted on load). kerasclf then builds the same network inside a
sub-model `<input>_backbone` and copies the weights over, for three reasons: mixup goes between
the embeddings and the first transformer layer; the feed-forward activation is the exact GELU
that BERT was trained with (keras-hub's BertBackbone uses the tanh approximation, about 1e-2 away
from Hugging Face's outputs; ours matches within 1e-4, tested); and attention is faster
(bench/RESULTS.md: fine-tuning against transformers' Trainer).

The transformer layers are kerasclf's TransformerBlock (post-norm, exact GELU, attention dropout),
whose full attention takes torch's fused kernel where it can (models/attention.py); the weights
are keras-hub's, copied layer by layer (`copy_bert_layer`).
A frozen backbone runs without dropout, so its outputs are fixed and can be cached (train.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerasclf import tf_guard
from kerasclf.config import InputConfig, PretrainedConfig
from kerasclf.data.load import SEGMENTS  # the second model input of a pretrained input: its segment ids
from kerasclf.errors import UserError
from kerasclf.models.blocks import TakeFirst, TransformerBlock
from kerasclf.models.layers import MaskedPool, PaddingMask
from kerasclf.models.mixup import EmbeddingMixup

log = logging.getLogger("kerasclf")

with tf_guard.blocked():
    import keras_hub  # noqa: E402  (keras-hub imports TensorFlow when it can; nothing here needs it)


@dataclass
class Checkpoint:
    preset: str
    backbone: keras.Model  # keras-hub's BertBackbone, weights loaded
    vocab_file: Path
    lowercase: bool
    fingerprint: str  # a hash of the weights: part of the feature-cache key

    @property
    def hidden_dim(self) -> int:
        return self.backbone.hidden_dim


_LOADED: dict[str, Checkpoint] = {}


def is_pretrained(inp: InputConfig) -> bool:
    return isinstance(inp.encoder, PretrainedConfig)


def feature_dim(inp: InputConfig) -> int:
    return load_checkpoint(inp.encoder.preset, "").hidden_dim


def _where(inp: InputConfig, cfg=None) -> str:
    if cfg is not None:
        for i, other in enumerate(cfg.inputs):
            if other is inp:
                return f"inputs.{i}.encoder.preset"
    return f"encoder.preset of input {inp.name!r}"  # load_all(cfg) names the --set path first


def _host(preset: str) -> str:
    return "huggingface.co" if preset.startswith("hf://") else "www.kaggle.com"


def _reachable(host: str, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _fetch(preset: str, name: str) -> Path | None:
    """A file of the preset, as a local path (downloaded when the preset is remote); None if absent."""
    local = Path(preset).expanduser()
    if local.is_dir():
        return local / name if (local / name).is_file() else None
    from keras_hub.src.utils.preset_utils import get_file

    try:
        with tf_guard.blocked():
            return Path(get_file(preset, name))
    except (FileNotFoundError, ValueError, OSError):
        return None


def load_checkpoint(preset: str, where: str) -> Checkpoint:
    """Load (once per process) the backbone and the tokenizer files of `preset`."""
    if preset in _LOADED:
        return _LOADED[preset]
    if not preset:
        raise UserError(
            f"{where}: not set; expected a keras-hub preset name, an hf:// id or a local checkpoint "
            f"folder (e.g. --set {where}=/path/to/folder)"
        )
    local = Path(preset).expanduser()
    if local.exists():
        if not (local.is_dir() and (local / "config.json").is_file()):
            raise UserError(
                f"{where}: {preset} is not a checkpoint folder (expected a folder with config.json, "
                f"model.safetensors and vocab.txt, or a keras-hub preset folder)"
            )
    elif "/" in preset.removeprefix("hf://").removeprefix("kaggle://") and "://" not in preset:
        raise UserError(
            f"{where}: no such folder {preset} (expected a checkpoint folder, a keras-hub preset name or an hf:// id)"
        )
    else:
        if "://" not in preset and preset not in keras_hub.models.BertBackbone.presets:
            import difflib

            close = difflib.get_close_matches(preset, list(keras_hub.models.BertBackbone.presets), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise UserError(f"{where}: {preset!r} is not a keras-hub BERT preset, an hf:// id or a folder{hint}")
        host = _host(preset)
        if not _reachable(host):
            raise UserError(
                f"{where}: could not download {preset!r} ({host} is unreachable: offline?); "
                f"pass a local checkpoint folder instead, e.g. --set {where}=/path/to/folder "
                f"(config.json, model.safetensors, vocab.txt)"
            )
    config_file = _fetch(preset, "config.json")
    if config_file is None:
        raise UserError(f"{where}: could not read config.json of {preset!r}")
    config = json.loads(config_file.read_text(encoding="utf-8"))
    kind = config.get("model_type") or config.get("class_name")
    if kind not in ("bert", "BertBackbone"):
        raise UserError(
            f"{where}: {preset!r} is a {kind or 'unknown'} checkpoint; kerasclf's pretrained "
            f"encoder takes the BERT architecture (BERT, MiniLM, ...)"
        )
    vocab = _fetch(preset, "vocab.txt") or _fetch(preset, "assets/tokenizer/vocabulary.txt")
    if vocab is None:
        raise UserError(f"{where}: {preset!r} has no vocab.txt (nor a keras-hub tokenizer vocabulary)")
    lowercase = True
    for name, key in (("tokenizer_config.json", "do_lower_case"), ("tokenizer.json", "lowercase")):
        f = _fetch(preset, name)
        if f is not None:
            settings = json.loads(f.read_text(encoding="utf-8"))
            settings = settings.get("config", settings)
            if isinstance(settings, dict) and key in settings:
                lowercase = bool(settings[key])
                break
    log.info("loading %s", preset)
    try:
        with tf_guard.blocked():
            backbone = keras_hub.models.BertBackbone.from_preset(str(local) if local.is_dir() else preset)
    except Exception as e:  # keras-hub raises many kinds; one line for the user, the detail in the log
        log.debug("loading %s failed", preset, exc_info=True)
        raise UserError(
            f"{where}: could not load {preset!r} ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None
    digest = hashlib.sha256(preset.encode())
    for w in backbone.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(w)).tobytes())
    ckpt = Checkpoint(preset, backbone, vocab, lowercase, digest.hexdigest()[:16])
    _LOADED[preset] = ckpt
    return ckpt


def load_all(cfg) -> None:
    """Load every pretrained input's checkpoint now: a bad preset fails before any data is read."""
    for i, inp in enumerate(cfg.inputs):
        if is_pretrained(inp):
            hub = load_checkpoint(inp.encoder.preset, f"inputs.{i}.encoder.preset").backbone
            if inp.max_length > hub.max_sequence_length:
                raise UserError(
                    f"inputs.{i}.max_length: {inp.max_length} is more than the "
                    f"{hub.max_sequence_length} positions {inp.encoder.preset} was trained with"
                )
        elif getattr(inp.encoder, "init_from", None) is not None:
            load_checkpoint(inp.encoder.init_from, f"inputs.{i}.encoder.init_from")


def tokenizer(inp: InputConfig, where: str = ""):
    from kerasclf.data.wordpiece import WordPieceTokenizer

    preset = inp.encoder.preset if is_pretrained(inp) else inp.encoder.init_from
    ckpt = load_checkpoint(preset, where or _where(inp))
    t = inp.tokenizer
    return WordPieceTokenizer.from_vocab(
        ckpt.vocab_file,
        lowercase=ckpt.lowercase,
        strip_html=t.strip_html,
        max_length=inp.max_length,
        truncation=t.truncation,
        head_tokens=t.head_tokens,
    )


def branch(inp: InputConfig, mixup: bool) -> keras.Model:
    """{name: token ids, name__segments: segment ids} -> one feature vector per text, with the checkpoint's weights."""
    cfg: PretrainedConfig = inp.encoder
    hub = load_checkpoint(cfg.preset, _where(inp)).backbone
    if inp.max_length > hub.max_sequence_length:  # load_all(cfg) refuses this first, naming the --set path
        raise UserError(
            f"max_length of input {inp.name!r}: {inp.max_length} is more than the "
            f"{hub.max_sequence_length} positions {cfg.preset} was trained with"
        )
    dropout = 0.0 if cfg.freeze else (hub.dropout if cfg.dropout is None else cfg.dropout)
    hidden = hub.hidden_dim
    ids = keras.Input(shape=(None,), dtype="int32", name=inp.name)
    segment_ids = keras.Input(shape=(None,), dtype="int32", name=inp.name + SEGMENTS)
    mask = PaddingMask(name="padding_mask")(ids)
    tokens = keras.layers.Embedding(hub.vocabulary_size, hidden, name="token_embedding")(ids)
    positions = keras_hub.layers.PositionEmbedding(hub.max_sequence_length, name="position_embedding")(tokens)
    segments = keras.layers.Embedding(hub.num_segments, hidden, name="segment_embedding")(segment_ids)
    x = keras.layers.Add(name="embeddings_add")([tokens, positions, segments])
    x = keras.layers.LayerNormalization(epsilon=1e-12, name="embeddings_layer_norm")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
    if mixup:
        x, mask = EmbeddingMixup(name="mixup")(x, mask)
    blocks = []
    for i in range(hub.num_layers):
        blocks.append(
            TransformerBlock(
                hub.num_heads,
                hub.intermediate_dim,
                dropout,
                "post",
                norm_epsilon=1e-12,
                attention_dropout=dropout,
                name=f"transformer_layer_{i}",
            )
        )
        x = blocks[-1](x, mask)
    if cfg.pooling == "mean":
        features = MaskedPool("mean", name="pool")(x, mask)
    else:
        features = TakeFirst(name="pool")(x)
        if cfg.pooling == "pooled":
            features = keras.layers.Dense(hidden, activation="tanh", name="pooled_dense")(features)
    model = keras.Model({inp.name: ids, inp.name + SEGMENTS: segment_ids}, features, name=f"{inp.name}_backbone")
    copied = ["token_embedding", "position_embedding", "segment_embedding", "embeddings_layer_norm"]
    if cfg.pooling == "pooled":
        copied.append("pooled_dense")
    for name in copied:
        model.get_layer(name).set_weights(hub.get_layer(name).get_weights())
    for i, block in enumerate(blocks):
        copy_bert_layer(block, hub.get_layer(f"transformer_layer_{i}"), hidden)
    if cfg.freeze:
        model.trainable = False
    return model


def copy_bert_layer(block: TransformerBlock, layer, hidden: int) -> None:
    """keras-hub TransformerEncoder (a BERT layer) weights -> our post-norm TransformerBlock; the
    global projections of a Longformer-style block start as copies of the local ones."""
    mha = layer._self_attention_layer
    for ours, theirs in (("query", mha.query_dense), ("key", mha.key_dense), ("value", mha.value_dense)):
        kernel, bias = theirs.get_weights()  # (hidden, heads, head_dim), (heads, head_dim)
        weights = [kernel.reshape(hidden, hidden), bias.reshape(hidden)]
        for name in (ours, f"global_{ours}"):
            if block.attention.projections.get(name) is not None:
                block.attention.projections[name].set_weights(weights)
    kernel, bias = mha.output_dense.get_weights()  # (heads, head_dim, hidden), (hidden,)
    block.attention.output_dense.set_weights([kernel.reshape(hidden, hidden), bias])
    block.norm1.set_weights(layer._self_attention_layer_norm.get_weights())
    block.ff1.set_weights(layer._feedforward_intermediate_dense.get_weights())
    block.ff2.set_weights(layer._feedforward_output_dense.get_weights())
    block.norm2.set_weights(layer._feedforward_layer_norm.get_weights())


def sequence_model(branch_model: keras.Model) -> keras.Model:
    """The branch up to its last transformer layer: (ids, segments) -> (batch, length, hidden); for checks."""
    last = [layer for layer in branch_model.layers if layer.name.startswith("transformer_layer_")][-1]
    return keras.Model(branch_model.inputs, last.output)


def backbone_learning_rates(model: keras.Model, cfg) -> list[tuple[list, float]]:
    """(variables, multiplier of train.learning_rate) for each fine-tuned backbone with its own rate."""
    out = []
    for inp in cfg.inputs:
        if is_pretrained(inp) and not inp.encoder.freeze and inp.encoder.learning_rate is not None:
            b = model.get_layer(f"{inp.name}_backbone")
            out.append((b.trainable_variables, inp.encoder.learning_rate / cfg.train.learning_rate))
    return out


def on_gpu() -> bool:
    if keras.backend.backend() == "torch":
        import torch

        return torch.cuda.is_available()
    if keras.backend.backend() == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    return bool(sys.modules.get("tensorflow")) and bool(sys.modules["tensorflow"].config.list_physical_devices("GPU"))
