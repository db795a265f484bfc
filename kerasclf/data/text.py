"""What the word and WordPiece tokenizers share, both on Hugging Face `tokenizers`: the HTML-tag
normaliser, truncation of an id list (`cut`), and the `TextTokenizer` base class (chunked batch
encoding with a progress bar, lengths before truncation, decode, save/load of the tokenizer JSON).

Truncation keeps the `head` of a long text, its `tail`, or both (`head_tail`: the first `head_tokens`
and the last ones, as Sun et al. 2019 found best for IMDB with BERT; a review's verdict is often in
its last lines).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Regex, Tokenizer, normalizers

CHUNK = 2048  # texts per progress-bar step
PAD_ID = 0  # [PAD] in both vocabularies: padding, and skipped by decode


def html_normalizer() -> normalizers.Normalizer:
    """HTML tags (IMDB's `<br />`) become spaces, so that the words on either side stay apart."""
    return normalizers.Replace(Regex(r"<[^>]*>"), " ")


def cut(ids: list[int], budget: int, truncation: str = "head", head_tokens: int = 0) -> list[int]:
    """At most `budget` of `ids`: the first (`head`), the last (`tail`), or the first `head_tokens`
    and the last `budget - head_tokens` (`head_tail`)."""
    if len(ids) <= budget:
        return ids
    if truncation == "tail":
        return ids[len(ids) - budget :]
    if truncation == "head_tail":
        head = min(head_tokens, budget)
        return ids[:head] + ids[len(ids) - (budget - head) :]
    return ids[:budget]


def encode_batch(tokenizer: Tokenizer, texts: list[str]) -> list[Encoding]:
    """`tokenizer`'s encodings of `texts`, without special tokens (those are added by the caller)."""
    # encode_batch_fast skips character offsets, which ids do not need
    encode = getattr(tokenizer, "encode_batch_fast", tokenizer.encode_batch)
    return encode(texts, add_special_tokens=False)


def read_tokenizer(path: str | Path) -> Tokenizer:
    return Tokenizer.from_file(str(path))


class TextTokenizer:
    """Base of WordTokenizer and WordPieceTokenizer: `tokenizer` (a `tokenizers.Tokenizer`),
    `max_length`, `truncation` ("head", "tail" or "head_tail") and `head_tokens` are set by each."""

    tokenizer: Tokenizer
    max_length: int
    truncation: str
    head_tokens: int | None
    unknown: str | None = None  # what decode gives for an id outside the vocabulary
    specials: int = 0  # tokens encode adds to one text ([CLS] and [SEP] for WordPiece)
    _uncut: Tokenizer | None = None

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def _chunks(self, texts: Sequence, progress: bool = False) -> Iterator[tuple[int, Sequence]]:
        """(start, texts[start : start + CHUNK]) in turn, with a progress bar when asked for and worth it."""
        bar = None
        if progress and len(texts) > CHUNK:
            from kerasclf.progress import bar as progress_bar

            bar = progress_bar(len(texts))
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            yield start, chunk
            if bar is not None:
                bar.update(start + len(chunk))

    def _pieces(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, neither truncated nor padded, without specials."""
        if self._uncut is None:
            tok = self.tokenizer
            if tok.truncation or tok.padding:  # a copy without them, made once
                tok = Tokenizer.from_str(tok.to_str())
                tok.no_truncation()
                tok.no_padding()
            self._uncut = tok
        return [e.ids for e in encode_batch(self._uncut, list(texts))]

    def lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens in each text before truncation, specials included (to tell the user a text was cut)."""
        return np.asarray([len(x) + self.specials for x in self._pieces(texts)], dtype=np.int64)

    def decode(self, ids) -> list[str | None]:
        """The tokens of `ids`, padding left out."""
        out = []
        for i in ids:
            i = int(i)
            if i != PAD_ID:
                token = self.tokenizer.id_to_token(i) if 0 <= i < 2**32 else None
                out.append(self.unknown if token is None else token)
        return out

    def save(self, path: str | Path) -> None:
        """One JSON file: vocabulary, normalisation (and, for WordTokenizer, padding and truncation)."""
        self.tokenizer.save(str(path))
