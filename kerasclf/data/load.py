"""`load_data(cfg)`: source -> splits -> one tokenizer per input -> batches ready for `model.fit`.

    data = load_data(cfg)
    model.fit(data.train, validation_data=data.validation, epochs=2)
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from kerasclf.config import Config
from kerasclf.data.batching import Batches
from kerasclf.data.sources import RawData, Split, load_raw
from kerasclf.data.tokenize import WordTokenizer

log = logging.getLogger("kerasclf")


@dataclass
class Data:
    raw: RawData
    tokenizers: dict[str, WordTokenizer]
    arrays: dict[str, dict[str, np.ndarray]]  # split -> input name -> int32 ids
    train: Batches
    validation: Batches
    test: Batches
    tokenize_seconds: float

    @property
    def class_names(self) -> list[str]:
        return self.raw.class_names

    @property
    def num_classes(self) -> int:
        return len(self.raw.class_names)


def fit_tokenizers(cfg: Config, train: Split) -> dict[str, WordTokenizer]:
    return {inp.name: WordTokenizer.fit(train.columns[inp.column], inp.tokenizer, inp.max_length)
            for inp in cfg.inputs}


def encode_split(cfg: Config, tokenizers: dict, split: Split, progress: bool = False) -> dict[str, np.ndarray]:
    return {inp.name: tokenizers[inp.name].encode(split.columns[inp.column], progress=progress)
            for inp in cfg.inputs}


def load_data(cfg: Config, tokenizers: dict[str, WordTokenizer] | None = None, progress: bool = True) -> Data:
    """Read the configured source and tokenize it; pass `tokenizers` to reuse a run's vocabulary."""
    raw = load_raw(cfg)
    log.info("data: %d train, %d validation, %d test; classes %s",
             len(raw.train), len(raw.validation), len(raw.test), raw.class_names)
    start = time.perf_counter()
    if tokenizers is None:
        tokenizers = fit_tokenizers(cfg, raw.train)
    arrays = {s: encode_split(cfg, tokenizers, getattr(raw, s), progress=progress)
              for s in ("train", "validation", "test")}
    seconds = time.perf_counter() - start
    log.info("tokenized in %.1f s (vocabulary: %s)", seconds,
             ", ".join(f"{k} {t.vocab_size}" for k, t in tokenizers.items()))
    t = cfg.train
    return Data(
        raw=raw, tokenizers=tokenizers, arrays=arrays,
        train=Batches(arrays["train"], raw.train.labels, t.batch_size, shuffle=True, bucket=True, seed=t.seed),
        validation=Batches(arrays["validation"], raw.validation.labels, t.batch_size),
        test=Batches(arrays["test"], raw.test.labels, t.batch_size),
        tokenize_seconds=seconds,
    )
