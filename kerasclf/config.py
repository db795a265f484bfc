"""The config schema (dataclasses with defaults), YAML loading, merging and `--set` overrides.

    cfg = load_config("configs/imdb_cnn.yaml", overrides=["train.epochs=1"])

Several files merge left to right: later values win, and `inputs` lists concatenate, so a
combined model is made from single-input configs. Every error is a `UserError` naming the key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from kerasclf.errors import UserError


@dataclass
class DataConfig:
    source: str = "sample"  # sample | tfds:NAME | aclImdb folder or .tar.gz | .csv/.tsv/.jsonl
    test: str | float | None = None  # a second file, or a fraction carved from train
    validation: float | str = 0.1  # a fraction carved from train (seeded), or a file
    label_column: str = "label"
    class_names: list[str] | None = None  # display names for integer labels 0..n-1
    drop_empty: bool = False  # drop rows whose text is empty instead of stopping
    limit: int | None = None  # use at most this many training rows (quick runs)


@dataclass
class TokenizerConfig:
    """Word-level vocabulary learned from the training split."""

    max_tokens: int = 20000  # vocabulary size, [PAD] and [UNK] included
    min_freq: int = 1
    lowercase: bool = True
    strip_html: bool = True
    nfkc: bool = False  # Unicode NFKC first (no-break spaces, ellipses, full-width forms, ligatures); ~40% slower
    truncation: Literal["head", "tail", "head_tail"] = "head"
    head_tokens: int = 128  # with head_tail: keep this many tokens from the start, the rest from the end


@dataclass
class CNNConfig:
    type: Literal["cnn"] = "cnn"
    embedding_dim: int = 128
    embedding_dropout: float = 0.0
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 4, 5])
    filters: int = 128
    pooling: Literal["max", "max_mean"] = "max"
    dropout: float = 0.5
    # convolve one-hot word vectors (Johnson & Zhang 2015's seq-CNN) instead of dense embeddings:
    # each kernel of width k has a vocabulary x (k * filters) table; embedding_dim is then unused and
    # embedding_dropout drops whole words (they read as padding) instead of embedding channels
    one_hot: bool = False


@dataclass
class RNNConfig:
    type: Literal["rnn"] = "rnn"
    cell: Literal["rnn", "lstm", "gru"] = "lstm"
    embedding_dim: int = 128
    embedding_dropout: float = 0.0
    units: int = 64
    layers: int = 1
    bidirectional: bool = True
    pooling: Literal["last", "mean", "max"] = "max"
    dropout: float = 0.3


NGRAM_MAX_VOCAB = 46340  # ngram_buckets: pair ids `previous * vocab + word` stay within int32 (46340**2 < 2**31)


@dataclass
class TransformerConfig:
    """Full self-attention (Vaswani et al. 2017): every token attends to every token."""

    type: Literal["transformer"] = "transformer"
    embedding_dim: int = 128
    embedding_dropout: float = 0.1
    word_dropout: float = 0.0  # while training, replace this share of the words with [UNK]
    # > 0: add a vector for each pair of neighbouring words (ngram_order 3: and each triple), hashed into
    # one table of this many rows (fastText's -wordNgrams and -bucket)
    ngram_buckets: int = 0
    ngram_order: Literal[2, 3] = 2
    positions: Literal["learned", "sinusoidal"] = "learned"
    layers: int = 2  # 0: no attention blocks, the embeddings alone pooled (an ablation, as fastText)
    heads: int = 4
    ff_dim: int = 256
    dropout: float = 0.1
    norm: Literal["pre", "post"] = "pre"
    pooling: Literal["avg", "max", "max_mean", "cls"] = "avg"


@dataclass
class LocalTransformerConfig(TransformerConfig):
    """Attention only within windows of `window_size` tokens (optionally overlapping by half)."""

    type: Literal["local_transformer"] = "local_transformer"
    window_size: int = 64
    overlap: bool = True


@dataclass
class LongformerConfig(TransformerConfig):
    """Sliding-window attention plus global tokens (Beltagy et al. 2020)."""

    type: Literal["longformer"] = "longformer"
    attention_window: int = 128  # each token sees attention_window // 2 tokens on either side
    global_tokens: list[int] = field(default_factory=lambda: [0])  # positions; [CLS] is 0 with cls pooling
    # start from a BERT-architecture checkpoint (as `pretrained`'s preset): its WordPiece vocabulary, its
    # sizes (embedding_dim, layers, heads, ff_dim; post-norm) and weights, positions repeated to max_length
    init_from: str | None = None


@dataclass
class PretrainedConfig:
    """A BERT-architecture backbone: a keras-hub preset name, an hf:// id, or a local folder
    (Hugging Face format: config.json, model.safetensors, vocab.txt; or a keras-hub preset folder)."""

    type: Literal["pretrained"] = "pretrained"
    preset: str = ""
    freeze: bool = False  # keep the backbone's weights fixed (and cache its features when possible)
    pooling: Literal["cls", "pooled", "mean"] = "pooled"  # [CLS] vector, BERT's pooler (dense+tanh on it), or mean
    learning_rate: float | None = None  # the backbone's peak rate when fine-tuning (default: train.learning_rate)
    dropout: float | None = None  # default: the checkpoint's own (0.1 for BERT); a frozen backbone uses none


ENCODER_CONFIGS: dict[str, type] = {
    "cnn": CNNConfig,
    "rnn": RNNConfig,
    "transformer": TransformerConfig,
    "local_transformer": LocalTransformerConfig,
    "longformer": LongformerConfig,
    "pretrained": PretrainedConfig,
}


@dataclass
class InputConfig:
    name: str = "text"
    column: str = "text"
    columns: list[str] | None = None  # two text columns read as a pair, [CLS] a [SEP] b [SEP] (pretrained only)
    max_length: int = 256
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    encoder: Any = field(default_factory=CNNConfig)  # one of ENCODER_CONFIGS, chosen by `type`

    @property
    def text_columns(self) -> list[str]:
        """The columns this input reads: `columns` (a pair) or `column`."""
        return list(self.columns) if self.columns else [self.column]

    @property
    def pretrained(self) -> bool:
        """Whether the encoder is a pretrained backbone (`type: pretrained`)."""
        return isinstance(self.encoder, PretrainedConfig)

    @property
    def wordpiece(self) -> bool:
        """Whether the input reads a checkpoint's WordPiece ids (a pretrained encoder, or a Longformer
        started from a checkpoint with init_from) rather than a word vocabulary learned from train."""
        return self.pretrained or getattr(self.encoder, "init_from", None) is not None

    @property
    def checkpoint(self) -> str | None:
        """The checkpoint the input starts from (a pretrained preset, or a Longformer's init_from), if any:
        such an input reads the checkpoint's WordPiece ids, not a word vocabulary of its own."""
        if self.pretrained:
            return self.encoder.preset
        return getattr(self.encoder, "init_from", None)


@dataclass
class HeadConfig:
    """Fusion and head: every input's features are concatenated, then dense layers (`mlp`), or
    (`residual_mlp`, EIR's default fusion) a projection to units[0] followed by one residual block
    (layer norm, dense of that size, activation, dropout, dense back) per entry of `units`."""

    kind: Literal["mlp", "residual_mlp"] = "mlp"
    units: list[int] = field(default_factory=lambda: [64])
    activation: str = "relu"
    dropout: float = 0.3


@dataclass
class EarlyStoppingConfig:
    monitor: str = "val_accuracy"
    patience: int = 2
    mode: Literal["auto", "min", "max"] = "auto"


@dataclass
class TrainConfig:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-3
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    warmup_ratio: float = 0.0  # fraction of all steps spent warming up (linear and cosine)
    weight_decay: float = 0.01
    clipnorm: float | None = 1.0
    early_stopping: EarlyStoppingConfig | None = field(default_factory=EarlyStoppingConfig)
    mixup_alpha: float = 0.0  # > 0: mixup on the embeddings of every input (Zhang et al. 2018)
    ema: float | None = None  # e.g. 0.99: validate, checkpoint and keep an exponential moving average of the weights
    cache_features: bool = (
        True  # frozen pretrained inputs, mixup off: run the backbone once per split, train on its outputs
    )
    precision: Literal["auto", "float32", "mixed_bfloat16"] = (
        "auto"  # auto: bfloat16 on a GPU when a backbone is fine-tuned
    )
    seed: int = 42


@dataclass
class Config:
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    inputs: list[InputConfig] = field(default_factory=lambda: [InputConfig()])
    head: HeadConfig = field(default_factory=HeadConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DEFAULT_CONFIG = Path(__file__).parent / "default.yaml"


# ---------------------------------------------------------------- loading and merging
def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--config {path}: no such file (expected a YAML config file)")
    try:
        loaded = yaml.safe_load(p.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(f"--config {path}:{where} is not valid YAML ({getattr(e, 'problem', e)})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise UserError(f"--config {path}: expected a mapping of sections at the top, got {type(loaded).__name__}")
    return loaded


def merge(base: dict, extra: dict) -> dict:
    """Deep-merge `extra` into `base`: mappings merge, `inputs` lists concatenate, the rest is replaced."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if key == "inputs" and isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = out[key] + copy.deepcopy(value)
        elif isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def apply_override(tree: dict, assignment: str) -> None:
    """Apply one `a.b.0.c=value` override; the value is parsed as YAML (so 3 is an int, [1, 2] a list)."""
    if "=" not in assignment:
        raise UserError(f"--set {assignment}: expected key.path=value")
    path, raw = assignment.split("=", 1)
    keys = path.strip().split(".")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    node: Any = tree
    for i, key in enumerate(keys):
        last = i == len(keys) - 1
        where = ".".join(keys[: i + 1])
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                raise UserError(
                    f"--set {path}: '{where}' needs an index below {len(node)} (the list has {len(node)} items)"
                )
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
        elif not isinstance(node, dict):
            raise UserError(f"--set {path}: '{'.'.join(keys[:i])}' is a single value, not a section")
        else:
            if last:
                node[key] = value
            else:
                if node.get(key) is None:
                    node[key] = [] if key == "inputs" else {}
                node = node[key]


def load_config(*paths: str | Path, overrides: typing.Sequence[str] = ()) -> Config:
    """Read, merge and validate config files (none: the packaged default), then apply `--set` overrides."""
    paths = paths or (DEFAULT_CONFIG,)
    tree: dict = {}
    for p in paths:
        one = read_yaml(p)
        try:  # a wrong key or value in a file is reported with the file's name
            _build(Config, one, "")
        except UserError as e:
            raise UserError(f"{p}: {e}") from None
        tree = merge(tree, one)
    for assignment in overrides:
        apply_override(tree, assignment)
    return from_dict(tree)


def from_dict(tree: dict) -> Config:
    cfg = _build(Config, tree, "")
    _check(cfg)
    return cfg


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")


# ---------------------------------------------------------------- validation
def _typename(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_typename(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_typename(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _build(tp, value, path: str):
    origin = typing.get_origin(tp)
    label = path or "config"
    if tp is Any:  # the encoder: chosen by its `type`
        return _build_encoder(value, path)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise UserError(f"{label}: expected a mapping, got {value!r}")
        hints = typing.get_type_hints(tp)
        names = [f.name for f in dataclasses.fields(tp)]
        for key in value:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
                hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(names)}"
                raise UserError(f"{_join(path, key)}: unknown key{hint}")
        kwargs = {k: _build(hints[k], v, _join(path, k)) for k, v in value.items()}
        return tp(**kwargs)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        real = [a for a in args if a is not type(None)]
        if len(real) == 1:  # Optional[X]: X's own error is the clearer one
            return _build(real[0], value, path)
        for arg in real:
            try:
                return _build(arg, value, path)
            except UserError:
                continue
        raise UserError(f"{label}: expected {_typename(tp)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise UserError(f"{label}: expected one of {', '.join(map(str, choices))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise UserError(f"{label}: expected {_typename(tp)}, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_build(item, v, f"{label}.{i}") for i, v in enumerate(value)]
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML (YAML 1.1) reads 3e-4 as a string; take it as the number it is
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif (tp is bool or tp is str) and isinstance(value, tp):
        return value
    raise UserError(f"{label}: expected {_typename(tp)}, got {value!r}")


def _build_encoder(value, path: str):
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a mapping with a 'type', got {value!r}")
    kind = value.get("type", "cnn")
    if kind not in ENCODER_CONFIGS:
        close = difflib.get_close_matches(str(kind), list(ENCODER_CONFIGS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(f"{path}.type: unknown encoder {kind!r}, expected one of {', '.join(ENCODER_CONFIGS)}{hint}")
    if "bigram_buckets" in value and "ngram_buckets" not in value:  # its name before ngram_order (old run folders)
        value = {("ngram_buckets" if k == "bigram_buckets" else k): v for k, v in value.items()}
    return _build(ENCODER_CONFIGS[kind], value, path)


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _check(cfg: Config) -> None:
    """Checks between values that types alone cannot express."""
    if not cfg.inputs:
        raise UserError("inputs: expected at least one input")
    seen = set()
    for i, inp in enumerate(cfg.inputs):
        where = f"inputs.{i}"
        if inp.name in seen:
            raise UserError(f"{where}.name: duplicate input name {inp.name!r}; each input needs its own name")
        seen.add(inp.name)
        if inp.max_length < 1:
            raise UserError(f"{where}.max_length: expected an integer >= 1, got {inp.max_length}")
        pretrained = isinstance(inp.encoder, PretrainedConfig)
        if inp.columns is not None and (len(inp.columns) != 2 or not pretrained):
            raise UserError(
                f"{where}.columns: expected two text columns [a, b] read as a pair by a pretrained "
                f"encoder, got {inp.columns!r} with encoder type {inp.encoder.type!r}"
            )
        if (
            inp.tokenizer.truncation == "head_tail"
            and not pretrained
            and not 0 <= inp.tokenizer.head_tokens <= inp.max_length
        ):
            raise UserError(
                f"{where}.tokenizer.head_tokens: expected 0..{inp.max_length} (max_length), "
                f"got {inp.tokenizer.head_tokens}"
            )
        if pretrained:
            if inp.max_length < 3 + (inp.columns is not None):
                raise UserError(
                    f"{where}.max_length: expected at least 4 wordpieces for a pair, 3 for one text, "
                    f"got {inp.max_length}"
                )
            if inp.tokenizer.truncation == "head_tail" and not 0 <= inp.tokenizer.head_tokens <= inp.max_length - 2:
                raise UserError(
                    f"{where}.tokenizer.head_tokens: expected 0..{inp.max_length - 2} "
                    f"(max_length minus [CLS] and [SEP]), got {inp.tokenizer.head_tokens}"
                )
        for key in ("word_dropout", "ngram_buckets"):
            if getattr(inp.encoder, key, 0) and getattr(inp.encoder, "init_from", None) is not None:
                raise UserError(
                    f"{where}.encoder.{key}: not available with init_from (a checkpoint's vocabulary "
                    f"and embeddings); expected 0, got {getattr(inp.encoder, key)}"
                )
        buckets = getattr(inp.encoder, "ngram_buckets", 0)
        if getattr(inp.encoder, "ngram_order", 2) != 2 and not buckets:
            raise UserError(
                f"{where}.encoder.ngram_order: {inp.encoder.ngram_order} needs ngram_buckets > 0 "
                f"(the rows its n-grams are hashed into), got ngram_buckets {buckets}"
            )
        if buckets and inp.tokenizer.max_tokens > NGRAM_MAX_VOCAB:
            raise UserError(
                f"{where}.tokenizer.max_tokens: with ngram_buckets (word n-grams hashed in int32), "
                f"expected at most {NGRAM_MAX_VOCAB}, got {inp.tokenizer.max_tokens}"
            )
        if buckets and not 2 <= buckets <= inp.tokenizer.max_tokens**2:
            raise UserError(
                f"{where}.encoder.ngram_buckets: expected 0 (off) or 2..{inp.tokenizer.max_tokens**2} "
                f"rows (at most max_tokens squared), got {buckets}"
            )
        for key in ("word_dropout", "embedding_dropout", "dropout", "attention_dropout"):
            rate = getattr(inp.encoder, key, 0) or 0
            if not 0 <= rate < 1:
                raise UserError(f"{where}.encoder.{key}: expected a share in [0, 1), got {rate}")
        if inp.tokenizer.max_tokens < 3:
            raise UserError(f"{where}.tokenizer.max_tokens: expected at least 3, got {inp.tokenizer.max_tokens}")
        enc = inp.encoder
        for key in ("embedding_dim", "filters", "units", "layers"):
            # a transformer with no blocks is its own ablation: its embeddings alone, pooled (as fastText)
            least = 0 if key == "layers" and isinstance(enc, TransformerConfig) else 1
            if hasattr(enc, key) and getattr(enc, key) < least:
                raise UserError(f"{where}.encoder.{key}: expected an integer >= {least}, got {getattr(enc, key)}")
        if isinstance(enc, TransformerConfig) and enc.layers == 0:
            if getattr(enc, "init_from", None) is not None:
                raise UserError(
                    f"{where}.encoder.layers: with init_from the blocks come from the checkpoint; "
                    f"expected the default, got 0"
                )
            if enc.pooling == "cls":
                raise UserError(
                    f"{where}.encoder.layers: 0 blocks never let [CLS] read the text; expected "
                    "at least 1 with pooling cls, or pooling avg, max or max_mean"
                )
        if isinstance(enc, CNNConfig) and (not enc.kernel_sizes or min(enc.kernel_sizes) < 1):
            raise UserError(f"{where}.encoder.kernel_sizes: expected a non-empty list of integers >= 1")
        if isinstance(enc, TransformerConfig):
            for key in ("heads", "ff_dim"):
                if getattr(enc, key) < 1:
                    raise UserError(f"{where}.encoder.{key}: expected an integer >= 1, got {getattr(enc, key)}")
            if enc.layers and enc.embedding_dim % enc.heads:
                raise UserError(
                    f"{where}.encoder.heads: embedding_dim {enc.embedding_dim} must be a multiple of "
                    f"heads, got {enc.heads}"
                )
        if isinstance(enc, LocalTransformerConfig) and (enc.window_size < 2 or (enc.overlap and enc.window_size % 2)):
            raise UserError(
                f"{where}.encoder.window_size: expected an integer >= 2 (even with overlap), got {enc.window_size}"
            )
        if isinstance(enc, LongformerConfig):
            if enc.attention_window < 2 or enc.attention_window % 2:
                raise UserError(
                    f"{where}.encoder.attention_window: expected an even integer >= 2, got {enc.attention_window}"
                )
            if any(p < 0 for p in enc.global_tokens):
                raise UserError(f"{where}.encoder.global_tokens: expected positions >= 0, got {enc.global_tokens}")
    t = cfg.train
    for key in ("epochs", "batch_size"):
        if getattr(t, key) < 1:
            raise UserError(f"train.{key}: expected an integer >= 1, got {getattr(t, key)}")
    if t.learning_rate <= 0:
        raise UserError(f"train.learning_rate: expected a positive number, got {t.learning_rate}")
    metrics = ("loss", "accuracy", "f1_macro")
    valid = [*metrics, *(f"val_{m}" for m in metrics)]
    if t.early_stopping and t.early_stopping.monitor not in valid:
        close = difflib.get_close_matches(t.early_stopping.monitor, valid, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(
            f"train.early_stopping.monitor: unknown metric {t.early_stopping.monitor!r}, "
            f"expected one of {', '.join(valid)}{hint}"
        )
    if t.ema is not None and not 0 < t.ema < 1:
        raise UserError(f"train.ema: expected a momentum between 0 and 1 (e.g. 0.99) or null, got {t.ema}")
    if t.mixup_alpha < 0:
        raise UserError(f"train.mixup_alpha: expected a number >= 0 (0 turns mixup off), got {t.mixup_alpha}")
    if not 0 <= t.warmup_ratio < 1:
        raise UserError(f"train.warmup_ratio: expected a number in [0, 1), got {t.warmup_ratio}")
    v = cfg.data.validation
    if isinstance(v, float) and not 0 < v < 1:
        raise UserError(f"data.validation: expected a fraction between 0 and 1 or a file, got {v}")
    if isinstance(cfg.data.test, float) and not 0 < cfg.data.test < 1:
        raise UserError(f"data.test: expected a fraction between 0 and 1 or a file, got {cfg.data.test}")
    for u in cfg.head.units:
        if u < 1:
            raise UserError(f"head.units: expected integers >= 1, got {u}")
    if cfg.head.kind == "residual_mlp" and not cfg.head.units:
        raise UserError("head.units: residual_mlp needs at least one entry (its width is units[0])")
