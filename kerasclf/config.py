"""The config schema (dataclasses with defaults), YAML loading, merging and `--set` overrides.

    cfg = load_config("configs/imdb_cnn.yaml", overrides=["train.epochs=1"])

Several files merge left to right: later values win, and `inputs` lists concatenate, so a
combined model is made from single-input configs. Every error is a `UserError` naming the key.
The dataclasses are the documented schema, a comment for every key; kerasclf/validation.py builds
them from a YAML tree (types) and checks what types alone cannot express (values).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from kerasclf import validation
from kerasclf.encoder_configs import (  # noqa: F401  (the encoders' schemas, importable from here too)
    ENCODER_CONFIGS,
    BagOfNgramsConfig,
    CNNConfig,
    LocalTransformerConfig,
    LongformerConfig,
    NBSVMConfig,
    PretrainedConfig,
    RNNConfig,
    TransformerConfig,
)
from kerasclf.errors import UserError


@dataclass
class DataConfig:
    source: str = "sample"  # sample | tfds:NAME | aclImdb folder or .tar.gz | .csv/.tsv/.jsonl
    test: str | float | None = None  # a second file, or a fraction carved from train
    validation: float | str = 0.1  # a fraction carved from train (seeded), or a file
    # how test and validation fractions are carved from train: random (seeded, per class) or last (the last
    # fraction of each class in source order, as Keras' validation_split takes the tail): keeps rows that come in
    # groups, such as aclImdb's reviews of one film, on one side (bench/imdb_film_order.py)
    carve: Literal["random", "last"] = "random"
    label_column: str = "label"  # the column holding the labels (integers or strings)
    # task: multilabel: several 0/1 columns, one per class (Jigsaw's toxic, insult, ...), instead of label_column
    label_columns: list[str] | None = None
    label_delimiter: str = ","  # task: multilabel: separates the labels of a row in label_column ("3,12")
    class_names: list[str] | None = None  # display names for integer labels 0..n-1
    drop_empty: bool = False  # drop rows whose text is empty instead of stopping
    limit: int | None = None  # use at most this many training rows (quick runs)
    # balanced: each epoch draws its training rows with replacement so that every class is as frequent
    # (rare classes oversampled; multiclass tasks), the alternative to train.class_weight
    sampling: Literal["none", "balanced"] = "none"


@dataclass
class TokenizerConfig:
    """Word-level vocabulary learned from the training split."""

    max_tokens: int = 20000  # vocabulary size, [PAD] and [UNK] included
    min_freq: int = 1  # a word is kept only if it occurs at least this often in train
    lowercase: bool = True  # lowercase the text before splitting it into words
    strip_html: bool = True  # HTML tags (IMDB's <br />) become spaces
    nfkc: bool = False  # Unicode NFKC first (no-break spaces, ellipses, full-width forms, ligatures); ~40% slower
    truncation: Literal["head", "tail", "head_tail"] = "head"  # past max_length keep the start, the end, or both
    head_tokens: int = 128  # with head_tail: keep this many tokens from the start, the rest from the end


NGRAM_MAX_VOCAB = validation.NGRAM_MAX_VOCAB  # ngram_buckets: at most this many words (pair ids stay within int32)


@dataclass
class InputConfig:
    name: str = "text"  # the input's own name (its model input and layer names); unique among the inputs
    column: str = "text"  # the column holding its text
    columns: list[str] | None = None  # two text columns read as a pair, [CLS] a [SEP] b [SEP] (pretrained only)
    max_length: int = 256  # tokens per text after truncation (wordpieces, [CLS] and [SEP] included, if pretrained)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)  # its word vocabulary and truncation
    # one of ENCODER_CONFIGS, chosen by its own `type` (the builder reads the choices from the metadata)
    encoder: Any = field(default_factory=CNNConfig, metadata={"by_type": ENCODER_CONFIGS})

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
    (layer norm, dense of that size, activation, dropout, dense back) per entry of `units`. With several
    inputs, `input_dropout` zeroes one input's whole features for an example while training (ModDrop), so
    no input leans on another."""

    kind: Literal["mlp", "residual_mlp"] = "mlp"  # plain dense layers, or residual blocks
    units: list[int] = field(default_factory=lambda: [64])  # one dense layer (or block) per entry, of this width
    activation: str = "relu"  # a Keras activation name for the dense layers
    dropout: float = 0.3  # after each hidden dense layer's activation
    input_dropout: float = 0.0  # while training, each input's features are dropped for an example with this chance
    path_loss: float = 0.0  # with a wide input (nbsvm): weight of the deep and the wide logits' own losses
    input_loss: float = 0.0  # with several inputs: weight of each input's own logits' loss (while training)


@dataclass
class EarlyStoppingConfig:
    # the metric that picks the best epoch ([val_]loss, accuracy, f1_macro, ...; mcc, balanced_accuracy and the
    # multilabel ones as val_ only); auto: val_accuracy, or val_f1_macro for task: multilabel
    monitor: str = "auto"
    patience: int = 2  # stop after this many epochs without a better monitor
    mode: Literal["auto", "min", "max"] = "auto"  # auto: min for a loss, max for the rest


@dataclass
class TrainConfig:
    epochs: int = 3  # passes over the training split (at most, with early stopping)
    batch_size: int = 32  # texts per step
    learning_rate: float = 1e-3  # peak rate of AdamW
    schedule: Literal["constant", "linear", "cosine"] = "constant"  # or decay to 0 (after warm-up), linear or cosine
    warmup_ratio: float = 0.0  # fraction of all steps spent warming up (linear and cosine)
    weight_decay: float = 0.01  # AdamW's decoupled weight decay
    clipnorm: float | None = 1.0  # clip each variable's gradient to this norm; null: no clipping
    early_stopping: EarlyStoppingConfig | None = field(default_factory=EarlyStoppingConfig)  # null: run every epoch
    mixup_alpha: float = 0.0  # > 0: mixup on the embeddings of every input (Zhang et al. 2018)
    ema: float | None = None  # e.g. 0.99: validate, checkpoint and keep an exponential moving average of the weights
    # frozen pretrained inputs, mixup off: run the backbone once per split, train on its outputs
    cache_features: bool = True
    # auto: mixed bfloat16 when a backbone is fine-tuned on a GPU or (torch) on a CPU with AMX or AVX-512 BF16
    precision: Literal["auto", "float32", "mixed_bfloat16"] = "auto"
    # balanced: each class's loss weighted by n / (classes x its count) (multilabel: each class's positive
    # cells by its negatives / positives), or a mapping {class name: weight}; null: every row weighs 1
    class_weight: str | dict[str, float] | None = None
    seed: int = 42  # seeds the carved splits, the weights' initialisation, dropout and the batches' order
    # data_parallel: each batch shared over processes (torchrun) or devices (jax); see "More than one device"
    distribute: Literal["none", "data_parallel"] = "none"


@dataclass
class DecisionConfig:
    """How probabilities become a predicted label (chosen on the validation split, saved in the run folder)."""

    # auto: 0.5 for two classes (argmax for more), best_f1 per class for multilabel; a number (0.5):
    # that threshold on the positive class (class 1) or on every label; best_f1 / best_mcc: the threshold
    # on the validation split that maximises it (two classes; best_f1 per class for multilabel)
    threshold: float | str = "auto"
    # multilabel: a label with fewer positive validation rows than this takes the threshold best for
    # all labels pooled (micro F1) instead of its own, which a handful of rows would decide
    min_positives: int = 10


@dataclass
class Config:
    name: str = "run"  # names the run folder and the model
    # multiclass: one label per text (softmax); multilabel: any number of labels per text (a sigmoid per class)
    task: Literal["multiclass", "multilabel"] = "multiclass"
    data: DataConfig = field(default_factory=DataConfig)  # where the texts and labels come from
    inputs: list[InputConfig] = field(default_factory=lambda: [InputConfig()])  # one encoder per text input
    head: HeadConfig = field(default_factory=HeadConfig)  # fusion of the inputs' features and the classifier
    train: TrainConfig = field(default_factory=TrainConfig)  # optimizer, schedule, epochs, early stopping
    # temperature: one scalar fitted on the validation split after training (Guo et al. 2017) divides the
    # logits at predict time; none: the raw probabilities
    calibration: Literal["temperature", "none"] = "temperature"
    decision: DecisionConfig = field(default_factory=DecisionConfig)  # the decision threshold(s)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


DEFAULT_CONFIG = Path(__file__).parent / "default.yaml"


# ---------------------------------------------------------------- loading and merging
def read_yaml(path: str | Path) -> dict:
    """One config file's mapping of sections ({} for an empty file)."""
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


def load_config(*paths: str | Path, overrides: Sequence[str] = ()) -> Config:
    """Read, merge and validate config files, then apply `--set` overrides.

    Args:
        *paths: YAML files, merged in order (later values win, `inputs` lists concatenate); none
            gives the packaged default (a small CNN on the shipped IMDB sample).
        overrides: `key.path=value` strings, each value read as YAML, as `--set` takes them.

    Returns:
        A validated `Config`; a mistake raises `UserError` naming the file and the key.

    Example:
        >>> import kerasclf
        >>> cfg = kerasclf.load_config(overrides=["train.epochs=2", "inputs.0.max_length=64"])
        >>> cfg.train.epochs, cfg.inputs[0].max_length
        (2, 64)
    """
    paths = paths or (DEFAULT_CONFIG,)
    tree: dict = {}
    for p in paths:
        one = read_yaml(p)
        try:  # a wrong key or value in a file is reported with the file's name
            validation.build(Config, one)
        except UserError as e:
            raise UserError(f"{p}: {e}") from None
        tree = merge(tree, one)
    for assignment in overrides:
        apply_override(tree, assignment)
    return from_dict(tree)


def from_dict(tree: dict) -> Config:
    """A config from a merged tree: built by the types of the dataclasses, then checked across values."""
    cfg = validation.build(Config, tree)
    validation.validate(cfg)
    return cfg


def save_config(cfg: Config, path: str | Path) -> None:
    """Every key, defaults included, so that the file reloads to an equal config."""
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
