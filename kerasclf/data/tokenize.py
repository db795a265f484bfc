"""Word-level tokenizer learned from the training split, built on Hugging Face `tokenizers`.

    tok = WordTokenizer.fit(texts, TokenizerConfig(max_tokens=20000), max_length=256)
    ids = tok.encode(["A fine film.<br />Loved it."])   # int32 (1, 256), 0 = [PAD], 1 = [UNK]

Normalisation: HTML tags become spaces (IMDB's `<br />`), optionally Unicode NFKC, then lowercase.
Words are runs of letters/digits, and each run of punctuation is a token of its own.
Saved as one `tokenizer.json` that holds vocabulary, normalisation, truncation and padding.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, trainers

from kerasclf.config import TokenizerConfig

PAD, UNK = "[PAD]", "[UNK]"
CHUNK = 2048  # texts per progress-bar step


class WordTokenizer:
    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        trunc = tokenizer.truncation
        if not trunc or not tokenizer.padding:
            raise ValueError("a WordTokenizer needs truncation and padding set")
        self.max_length = trunc["max_length"]

    @classmethod
    def fit(cls, texts: list[str], cfg: TokenizerConfig, max_length: int) -> "WordTokenizer":
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
        trainer = trainers.WordLevelTrainer(vocab_size=cfg.max_tokens, min_frequency=cfg.min_freq,
                                            special_tokens=[PAD, UNK], show_progress=False)
        tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
        tok.enable_truncation(max_length, direction="left" if cfg.truncation == "tail" else "right")
        tok.enable_padding(direction="right", pad_id=0, pad_token=PAD, length=max_length)
        return cls(tok)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Token ids, int32 of shape (len(texts), max_length), padded with 0 on the right."""
        out = np.zeros((len(texts), self.max_length), dtype=np.int32)
        bar = None
        if progress and len(texts) > CHUNK:
            import keras

            bar = keras.utils.Progbar(len(texts), unit_name="text")
        # encode_batch_fast skips character offsets, which ids do not need
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        for start in range(0, len(texts), CHUNK):
            chunk = encode(texts[start:start + CHUNK], add_special_tokens=False)
            out[start:start + len(chunk)] = [e.ids for e in chunk]
            if bar is not None:
                bar.update(start + len(chunk))
        return out

    def decode(self, ids) -> list[str]:
        vocab = {i: t for t, i in self.tokenizer.get_vocab().items()}
        return [vocab.get(int(i), UNK) for i in ids if int(i) != 0]

    def save(self, path: str | Path) -> None:
        self.tokenizer.save(str(path))

    @classmethod
    def load(cls, path: str | Path) -> "WordTokenizer":
        return cls(Tokenizer.from_file(str(path)))
