"""Word-level tokenizer learned from the training split, built on Hugging Face `tokenizers`.

    tok = WordTokenizer.fit(texts, TokenizerConfig(max_tokens=20000), max_length=256)
    ids = tok.encode(["A fine film.<br />Loved it."])   # int32 (1, 256), 0 = [PAD], 1 = [UNK]

Normalisation: HTML tags become spaces (IMDB's `<br />`), optionally Unicode NFKC, then lowercase.
Words are runs of letters/digits, and each run of punctuation is a token of its own.
Truncation keeps the `head` of a long text, its `tail`, or both (`head_tail`: the first `head_tokens`
and the last `max_length - head_tokens`, as Sun et al. 2019 found best for IMDB with BERT; a review's
verdict is often in its last lines).
Saved as one `tokenizer.json` that holds vocabulary, normalisation, padding and (head or tail)
truncation; `head_tail` is done here, so it is passed again at load time (from the run's config).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

from kerasclf.config import TokenizerConfig
from kerasclf.data.text import CHUNK, TextTokenizer, cut, encode_batch, html_normalizer, read_tokenizer

__all__ = ["CHUNK", "PAD", "UNK", "WordTokenizer"]

PAD, UNK = "[PAD]", "[UNK]"


class WordTokenizer(TextTokenizer):
    unknown = UNK

    def __init__(self, tokenizer: Tokenizer, head_tokens: int | None = None):
        """`head_tokens`: cut long texts head-and-tail, keeping this many tokens from the start."""
        self.tokenizer = tokenizer
        pad, trunc = tokenizer.padding, tokenizer.truncation
        if not pad or not pad.get("length") or (head_tokens is None) != bool(trunc):
            raise ValueError(
                "a WordTokenizer needs fixed-length padding, and truncation set unless head_tokens is given"
            )
        self.max_length = pad["length"]
        self.head_tokens = None if head_tokens is None else min(head_tokens, self.max_length)
        # head and tail are cut by `tokenizers` itself (direction "left" keeps the last tokens)
        self.truncation = "head_tail" if trunc is None else "tail" if trunc["direction"] == "left" else "head"
        self._uncut = None  # a copy without truncation or padding, made when lengths() is first asked

    @classmethod
    def fit(cls, texts: list[str], cfg: TokenizerConfig, max_length: int) -> WordTokenizer:
        norm = []
        if cfg.strip_html:
            norm.append(html_normalizer())
        if cfg.nfkc:
            norm.append(normalizers.NFKC())
        if cfg.lowercase:
            norm.append(normalizers.Lowercase())
        tok = Tokenizer(models.WordLevel(unk_token=UNK))
        tok.normalizer = normalizers.Sequence(norm)
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(
            vocab_size=cfg.max_tokens, min_frequency=cfg.min_freq, special_tokens=[PAD, UNK], show_progress=False
        )
        tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
        if cfg.truncation != "head_tail":
            tok.enable_truncation(max_length, direction="left" if cfg.truncation == "tail" else "right")
        tok.enable_padding(direction="right", pad_id=0, pad_token=PAD, length=max_length)
        return cls(tok, cfg.head_tokens if cfg.truncation == "head_tail" else None)

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Token ids, int32 of shape (len(texts), max_length), padded with 0 on the right."""
        out = np.zeros((len(texts), self.max_length), dtype=np.int32)
        for start, chunk in self._chunks(texts, progress):
            rows = [e.ids for e in encode_batch(self.tokenizer, chunk)]  # padded, and cut unless head_tail
            if self.head_tokens is not None:
                rows = [cut(r, self.max_length, "head_tail", self.head_tokens) for r in rows]
            out[start : start + len(rows)] = rows
        return out

    @classmethod
    def load(cls, path: str | Path, head_tokens: int | None = None) -> WordTokenizer:
        """`head_tokens` as given to fit (the config's, when its truncation is head_tail)."""
        return cls(read_tokenizer(path), head_tokens)
