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
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from kerasclf.config import TokenizerConfig

PAD, UNK = "[PAD]", "[UNK]"
CHUNK = 2048  # texts per progress-bar step


class WordTokenizer:
    def __init__(self, tokenizer: Tokenizer, head_tokens: int | None = None):
        """`head_tokens`: cut long texts head-and-tail, keeping this many tokens from the start."""
        self.tokenizer = tokenizer
        pad = tokenizer.padding
        if not pad or not pad.get("length") or (head_tokens is None) != bool(tokenizer.truncation):
            raise ValueError(
                "a WordTokenizer needs fixed-length padding, and truncation set unless head_tokens is given"
            )
        self.max_length = pad["length"]
        self.head_tokens = None if head_tokens is None else min(head_tokens, self.max_length)
        self._uncut = None  # a copy without truncation or padding, made when lengths() is first asked

    @classmethod
    def fit(cls, texts: list[str], cfg: TokenizerConfig, max_length: int) -> WordTokenizer:
        norm = []
        if cfg.strip_html:
            norm.append(normalizers.Replace(Regex(r"<[^>]*>"), " "))
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

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Token ids, int32 of shape (len(texts), max_length), padded with 0 on the right."""
        out = np.zeros((len(texts), self.max_length), dtype=np.int32)
        bar = None
        if progress and len(texts) > CHUNK:
            from kerasclf.progress import bar as progress_bar

            bar = progress_bar(len(texts))
        # encode_batch_fast skips character offsets, which ids do not need
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        for start in range(0, len(texts), CHUNK):
            chunk = encode(texts[start : start + CHUNK], add_special_tokens=False)
            if self.head_tokens is None:
                out[start : start + len(chunk)] = [e.ids for e in chunk]
            else:
                out[start : start + len(chunk)] = [self._head_tail(e.ids) for e in chunk]
            if bar is not None:
                bar.update(start + len(chunk))
        return out

    def lengths(self, texts: list[str]) -> np.ndarray:
        """Tokens in each text before truncation (to tell the user a text was cut to max_length)."""
        if self._uncut is None:
            self._uncut = Tokenizer.from_str(self.tokenizer.to_str())
            self._uncut.no_truncation()
            self._uncut.no_padding()
        encode = getattr(self._uncut, "encode_batch_fast", self._uncut.encode_batch)
        return np.asarray([len(e.ids) for e in encode(list(texts), add_special_tokens=False)], dtype=np.int64)

    def _head_tail(self, ids: list[int]) -> list[int]:
        if len(ids) <= self.max_length:
            return ids
        return ids[: self.head_tokens] + ids[len(ids) - (self.max_length - self.head_tokens) :]

    def decode(self, ids) -> list[str]:
        vocab = {i: t for t, i in self.tokenizer.get_vocab().items()}
        return [vocab.get(int(i), UNK) for i in ids if int(i) != 0]

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @classmethod
    def load(cls, path: str | Path, head_tokens: int | None = None) -> WordTokenizer:
        """`head_tokens` as given to fit (the config's, when its truncation is head_tail)."""
        return cls(Tokenizer.from_file(str(path)), head_tokens)
