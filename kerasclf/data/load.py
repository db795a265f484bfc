"""`load_data(cfg)`: source -> splits -> one tokenizer per input -> batches ready for `model.fit`.

data = load_data(cfg)
model.fit(data.train, validation_data=data.validation, epochs=2)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from kerasclf import checkpoints, keys, weights
from kerasclf.config import Config, InputConfig
from kerasclf.data.batching import Batches
from kerasclf.data.sources import RawData, Split, load_raw
from kerasclf.data.tokenize import WordTokenizer
from kerasclf.data.wordpiece import WordPieceTokenizer
from kerasclf.errors import UserError
from kerasclf.texts import texts_per_input

log = logging.getLogger("kerasclf")


@dataclass
class Data:
    raw: RawData
    tokenizers: dict[str, WordTokenizer | WordPieceTokenizer]
    arrays: dict[str, dict[str, np.ndarray]]  # split -> input name -> int32 ids
    train: Batches
    validation: Batches
    test: Batches
    tokenize_seconds: float
    config: Config | None = None
    class_weights: np.ndarray | None = None  # train.class_weight, one per class (kerasclf/weights.py)

    @property
    def pos_weight(self) -> np.ndarray | None:
        """A multilabel task's class weights (of each class's positive cells), for its loss."""
        return self.class_weights if self.raw.train.labels.ndim == 2 else None

    def train_batches(self, arrays: dict | None = None, **batching) -> Batches:
        """The training split's batches for model.fit: shuffled, length-bucketed, class-weighted or
        balanced-sampled as the config asks. train.py passes its own `arrays` (cached features) and
        `batching` (lengths, the ranks' split, train_weights)."""
        t, y = self.config.train, self.raw.train.labels
        return Batches(arrays if arrays is not None else self.arrays["train"], y, t.batch_size, shuffle=True,
                       bucket=True, seed=t.seed, row_weights=weights.row_weights(self.class_weights, y),
                       sample_p=weights.sampling_probabilities(self.config, y), **batching)  # fmt: skip

    def encode(self, texts) -> dict[str, np.ndarray]:
        """The model's inputs for raw texts, tokenized as the training data was:
        `model.predict(data.encode(["A fine film."]))`. Each item is a string, or a dict keyed by
        input name (or column) for models with several inputs."""
        if isinstance(texts, str):
            texts = [texts]
        return encode_texts(self.config, self.tokenizers, texts_per_input(self.config, texts))

    @property
    def class_names(self) -> list[str]:
        return self.raw.class_names

    @property
    def num_classes(self) -> int:
        return len(self.raw.class_names)


def fit_tokenizer(inp: InputConfig, train: Split):
    """A word vocabulary learned from the train split, or a pretrained checkpoint's WordPiece."""
    if inp.wordpiece:
        return checkpoints.tokenizer(inp)
    return WordTokenizer.fit(train.columns[inp.column], inp.tokenizer, inp.max_length)


def require_keras_hub(cfg: Config) -> None:
    """Pretrained checkpoints are read by keras-hub, an optional extra: say so in one line if it is missing."""
    needs = [(i, inp) for i, inp in enumerate(cfg.inputs) if inp.wordpiece]
    if not needs:
        return
    from kerasclf import tf_guard

    try:
        with tf_guard.blocked():  # keras-hub imports TensorFlow when it can; kerasclf never needs it
            import keras_hub  # noqa: F401
    except ImportError:
        i, inp = needs[0]
        key = "preset" if inp.pretrained else "init_from"
        raise UserError(
            f"inputs.{i}.encoder.{key}: a pretrained checkpoint needs keras-hub, which is not "
            "installed; install the extra: pip install 'kerasclf[hub]'"
        ) from None


def load_tokenizer(inp: InputConfig, path):
    t = inp.tokenizer
    if inp.wordpiece:
        return WordPieceTokenizer.load(path, inp.max_length, t.truncation, t.head_tokens)
    return WordTokenizer.load(path, t.head_tokens if t.truncation == "head_tail" else None)


def input_texts(inp: InputConfig, columns) -> list:
    """What `inp` reads from column lists: its texts, or (a, b) pairs for a two-column input."""
    if inp.columns:
        a, b = inp.columns
        return list(zip(columns[a], columns[b]))
    return list(columns[inp.column])


def encode_input(inp: InputConfig, tokenizer, texts: list, progress: bool = False) -> dict[str, np.ndarray]:
    """The model-input arrays of one input: {name: ids} (and {name__segments: ...} for pretrained)."""
    if isinstance(tokenizer, WordPieceTokenizer):
        ids, segments = tokenizer.encode(texts, progress=progress)
        return {inp.name: ids, keys.segments(inp.name): segments} if inp.pretrained else {inp.name: ids}
    return {inp.name: tokenizer.encode(texts, progress=progress)}


def encode_texts(cfg: Config, tokenizers: dict, per_input: dict[str, list], progress: bool = False) -> dict:
    """The model-input arrays of every input, from {input name: its texts} (texts_per_input's shape)."""
    out = {}
    for inp in cfg.inputs:
        out.update(encode_input(inp, tokenizers[inp.name], per_input[inp.name], progress))
    return out


def encode_split(cfg: Config, tokenizers: dict, split: Split, progress: bool = False) -> dict[str, np.ndarray]:
    per_input = {inp.name: input_texts(inp, split.columns) for inp in cfg.inputs}
    return encode_texts(cfg, tokenizers, per_input, progress)


def fit_tokenizers(cfg: Config, train: Split) -> dict:
    return {inp.name: fit_tokenizer(inp, train) for inp in cfg.inputs}


def _log_splits(cfg: Config, raw: RawData) -> None:
    y = raw.train.labels
    counts = y.sum(axis=0).astype(int) if y.ndim == 2 else np.bincount(y, minlength=len(raw.class_names))
    extra = ""
    if y.ndim == 2:  # multilabel: rows with no label are allowed (all zeros), and counted
        none = {s: int((getattr(raw, s).labels.sum(axis=1) == 0).sum()) for s in ("train", "validation", "test")}
        extra = f"; {y.sum(axis=1).mean():.2f} labels per train row; rows with no label: " + ", ".join(
            f"{s} {n}" for s, n in none.items()
        )
    log.info(
        "data: %s: %d train, %d validation, %d test rows; %d classes, in train: %s%s",
        cfg.data.source,
        len(raw.train),
        len(raw.validation),
        len(raw.test),
        len(raw.class_names),
        ", ".join(f"{c} {n}" for c, n in zip(raw.class_names, counts)),
        extra,
    )


def load_data(cfg: Config, tokenizers: dict[str, WordTokenizer] | None = None, progress: bool = True) -> Data:
    """Read the configured source, split it, fit (or reuse) one tokenizer per input and tokenize.

    Args:
        cfg: the config (`load_config`).
        tokenizers: {input name: tokenizer} to reuse (a run's own, to resume or evaluate it);
            none fits them on the train split.
        progress: progress bars while tokenizing large splits.

    Returns:
        `Data`: `train`, `validation`, `test` batches for `model.fit`, `raw` texts and labels,
        `tokenizers`, `class_names`, `encode(texts)`.

    Example:
        >>> import kerasclf
        >>> data = kerasclf.load_data(kerasclf.load_config(), progress=False)
        >>> data.class_names, len(data.raw.test)
        (['neg', 'pos'], 500)
    """
    if any(inp.wordpiece for inp in cfg.inputs):
        require_keras_hub(cfg)
        checkpoints.load_all(cfg)
    raw = load_raw(cfg)
    _log_splits(cfg, raw)
    start = time.perf_counter()
    if tokenizers is None:
        tokenizers = fit_tokenizers(cfg, raw.train)
    arrays = {
        s: encode_split(cfg, tokenizers, getattr(raw, s), progress=progress) for s in ("train", "validation", "test")
    }
    seconds = time.perf_counter() - start
    log.info(
        "tokenized in %.1f s (vocabulary: %s)", seconds, ", ".join(f"{k} {t.vocab_size}" for k, t in tokenizers.items())
    )
    t = cfg.train
    data = Data(
        raw=raw,
        tokenizers=tokenizers,
        arrays=arrays,
        train=None,
        validation=Batches(arrays["validation"], raw.validation.labels, t.batch_size),
        test=Batches(arrays["test"], raw.test.labels, t.batch_size),
        tokenize_seconds=seconds,
        config=cfg,
        class_weights=weights.class_weights(cfg, raw.train.labels, raw.class_names),
    )
    data.train = data.train_batches()
    return data
