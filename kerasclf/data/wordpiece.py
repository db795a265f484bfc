"""BERT's WordPiece tokenizer for pretrained inputs, on Hugging Face `tokenizers` (Rust, no TensorFlow).

    tok = WordPieceTokenizer.from_vocab("ckpt/vocab.txt", lowercase=True, max_length=512, truncation="head_tail")
    ids, segments = tok.encode(["A fine film."])                  # [CLS] a fine film . [SEP] [PAD] ...
    ids, segments = tok.encode([("The premise.", "The hypothesis.")])  # [CLS] a [SEP] b [SEP], segments 0.. 1..

It splits text as keras-hub's BertTokenizer does (a test compares the ids on IMDB reviews), and
strips accents when it lowercases, as BERT's uncased checkpoints were trained (keras-hub's
BertTokenizer does that with strip_accents=True; Hugging Face's does it by default).
Specials and truncation are added here rather than by `tokenizers`, so that a review can keep its
head, its tail, or both (`head_tail`: the first `head_tokens` and the last ones, Sun et al. 2019),
and a pair is cut round-robin, one token from each text in turn, as keras-hub's packer does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers

from kerasclf.data.text import CHUNK, PAD_ID, TextTokenizer, cut, html_normalizer, read_tokenizer

__all__ = ["CHUNK", "WordPieceTokenizer"]


class WordPieceTokenizer(TextTokenizer):
    specials = 2  # [CLS] text [SEP]

    def __init__(self, tokenizer: Tokenizer, max_length: int, truncation: str = "head", head_tokens: int = 128):
        self.tokenizer = tokenizer
        self.max_length, self.truncation, self.head_tokens = max_length, truncation, head_tokens
        vocab = tokenizer.get_vocab()
        missing = [t for t in ("[CLS]", "[SEP]", "[PAD]") if t not in vocab]
        if missing:
            raise ValueError(f"the vocabulary has no {', '.join(missing)}: not a BERT WordPiece vocabulary")
        self.cls_id, self.sep_id, self.pad_id = vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]
        if self.pad_id != PAD_ID:
            raise ValueError(f"[PAD] has id {self.pad_id}; kerasclf expects BERT's 0")
        self._uncut = None  # the tokenizer itself: it neither truncates nor pads

    @classmethod
    def from_vocab(
        cls,
        vocab_file: str | Path,
        lowercase: bool = True,
        strip_html: bool = True,
        max_length: int = 512,
        truncation: str = "head",
        head_tokens: int = 128,
    ) -> WordPieceTokenizer:
        vocab = {}
        with open(vocab_file, encoding="utf-8") as f:
            for i, line in enumerate(f):
                vocab.setdefault(line.rstrip("\n"), i)
        tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        norm = [html_normalizer()] if strip_html else []
        # C1 control characters are dashes and quotes mis-decoded from Windows-1252 (IMDB has many
        # U+0097): a space, as keras-hub's tokenizer takes them, rather than deleted (words would join)
        norm.append(normalizers.Replace(Regex("[\u0080-\u009f]"), " "))
        norm.append(
            normalizers.BertNormalizer(
                clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lowercase
            )
        )
        tok.normalizer = normalizers.Sequence(norm)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        return cls(tok, max_length, truncation, head_tokens)

    def encode(
        self, texts: Sequence[str] | Sequence[tuple[str, str]], progress: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, segment ids), both int32 of shape (len(texts), max_length), padded with 0."""
        n, length = len(texts), self.max_length
        ids = np.zeros((n, length), dtype=np.int32)
        segments = np.zeros((n, length), dtype=np.int32)
        pairs = n > 0 and not isinstance(texts[0], str)
        for start, chunk in self._chunks(texts, progress):
            if pairs:
                a_all = self._pieces([a for a, _ in chunk])
                b_all = self._pieces([b for _, b in chunk])
                for i, (a, b) in enumerate(zip(a_all, b_all), start):
                    a, b = self._round_robin(a, b, length - 3)
                    row = [self.cls_id, *a, self.sep_id, *b, self.sep_id]
                    ids[i, : len(row)] = row
                    segments[i, len(a) + 2 : len(row)] = 1
            else:
                for i, a in enumerate(self._pieces(chunk), start):
                    row = [self.cls_id, *cut(a, length - 2, self.truncation, self.head_tokens), self.sep_id]
                    ids[i, : len(row)] = row
        return ids, segments

    def lengths(self, texts: Sequence[str] | Sequence[tuple[str, str]]) -> np.ndarray:
        """Wordpieces in each text (with [CLS] and [SEP]) before truncation."""
        if len(texts) and not isinstance(texts[0], str):
            a, b = self._pieces([a for a, _ in texts]), self._pieces([b for _, b in texts])
            return np.asarray([len(x) + len(y) + 3 for x, y in zip(a, b)], dtype=np.int64)
        return super().lengths(texts)

    @staticmethod
    def _round_robin(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
        """Take tokens from a and b in turn (a first) until `budget` is spent or both run out."""
        if len(a) + len(b) <= budget:
            return a, b
        na = min(len(a), max(budget - len(b), (budget + 1) // 2))
        return a[:na], b[: min(len(b), budget - na)]

    @classmethod
    def load(cls, path: str | Path, max_length: int, truncation: str = "head", head_tokens: int = 128):
        return cls(read_tokenizer(path), max_length, truncation, head_tokens)
