"""One value check per encoder `type` (ENCODER_VALIDATORS, keyed as encoder_configs.ENCODER_CONFIGS is),
each given the built input (`inp` an InputConfig) and its path (`where`, inputs.N); validation.py runs the
one an input's encoder picks, after the checks every input shares.
"""

from __future__ import annotations

from collections.abc import Callable

from kerasclf.errors import UserError

NGRAM_MAX_VOCAB = 46340  # ngram_buckets: pair ids `previous * vocab + word` stay within int32 (46340**2 < 2**31)


def _at_least(enc, where: str, keys: tuple[str, ...], least: int = 1) -> None:
    for key in keys:
        if getattr(enc, key) < least:
            raise UserError(f"{where}.encoder.{key}: expected an integer >= {least}, got {getattr(enc, key)}")


def validate_cnn(inp, where: str) -> None:
    """Sizes of at least 1 and at least one kernel, each at least 1 wide."""
    enc = inp.encoder
    _at_least(enc, where, ("embedding_dim", "filters"))
    if not enc.kernel_sizes or min(enc.kernel_sizes) < 1:
        raise UserError(f"{where}.encoder.kernel_sizes: expected a non-empty list of integers >= 1")
    if enc.ngram_vocab and enc.ngram_buckets:
        raise UserError(
            f"{where}.encoder.ngram_vocab: counted n-gram rows replace hashed ones; expected ngram_buckets 0 "
            f"beside it, got {enc.ngram_buckets}"
        )
    for key, gram in (("ngram_buckets", "a hashed n-gram"), ("ngram_vocab", "an n-gram")):  # n-gram rows
        if getattr(enc, key) and not enc.one_hot:
            raise UserError(
                f"{where}.encoder.{key}: n-gram rows are added to one-hot windows; expected 0 "
                f"with one_hot: false, got {getattr(enc, key)}"
            )
        if getattr(enc, key) and not {2, 3} & set(enc.kernel_sizes):
            raise UserError(
                f"{where}.encoder.{key}: only windows of 2 or 3 words read {gram}; expected "
                f"kernel_sizes with 2 or 3, got {enc.kernel_sizes}"
            )
    if enc.ngram_vocab:  # the vocabulary's own size (validation.validate_ngrams checks the words')
        _validate_ngram_vocab(inp, where)


def _validate_ngram_vocab(inp, where: str) -> None:
    """Counted n-gram rows: triples keyed within int32."""
    enc, key = inp.encoder, f"{where}.encoder.ngram_vocab"
    most = (2**31 - 1) // inp.tokenizer.max_tokens
    if not 1 <= enc.ngram_vocab <= most:
        raise UserError(
            f"{key}: expected 0 (off) or 1..{most} n-grams (triples are keyed in int32), got {enc.ngram_vocab}"
        )


def validate_bow(inp, where: str) -> None:
    """A size of at least 1 and a positive rate of its own, if any (the n-grams: validate_ngrams)."""
    _at_least(inp.encoder, where, ("embedding_dim",))
    if inp.encoder.learning_rate is not None and inp.encoder.learning_rate <= 0:
        raise UserError(f"{where}.encoder.learning_rate: expected a positive number, got {inp.encoder.learning_rate}")


def validate_nbsvm(inp, where: str) -> None:
    """A positive smoothing and a positive rate of its own, if any (the n-grams: validate_ngrams)."""
    if inp.encoder.alpha <= 0:
        raise UserError(
            f"{where}.encoder.alpha: expected a positive number (naive-Bayes smoothing), got {inp.encoder.alpha}"
        )
    if inp.encoder.folds == 1 or inp.encoder.folds < 0:
        raise UserError(f"{where}.encoder.folds: expected 0 (off) or at least 2 folds, got {inp.encoder.folds}")
    if inp.encoder.learning_rate is not None and inp.encoder.learning_rate <= 0:
        raise UserError(f"{where}.encoder.learning_rate: expected a positive number, got {inp.encoder.learning_rate}")


def validate_rnn(inp, where: str) -> None:
    """Sizes and the number of stacked layers of at least 1."""
    _at_least(inp.encoder, where, ("embedding_dim", "units", "layers"))


def validate_transformer(inp, where: str) -> None:
    """Sizes of at least 1 and heads dividing embedding_dim; layers 0 (the embeddings alone, pooled, as
    fastText) only with the input's own vocabulary and a pooling that does not need [CLS] to read the text."""
    enc = inp.encoder
    _at_least(enc, where, ("embedding_dim",))
    _at_least(enc, where, ("layers",), least=0)
    if enc.layers == 0 and inp.wordpiece:
        raise UserError(
            f"{where}.encoder.layers: with init_from the blocks come from the checkpoint; expected the default, got 0"
        )
    if enc.layers == 0 and enc.pooling == "cls":
        raise UserError(
            f"{where}.encoder.layers: 0 blocks never let [CLS] read the text; expected "
            "at least 1 with pooling cls, or pooling avg, max or max_mean"
        )
    _at_least(enc, where, ("heads", "ff_dim"))
    if enc.layers and enc.embedding_dim % enc.heads:
        raise UserError(
            f"{where}.encoder.heads: embedding_dim {enc.embedding_dim} must be a multiple of heads, got {enc.heads}"
        )


def validate_local_transformer(inp, where: str) -> None:
    """A transformer's checks, and windows of at least 2 tokens (even with overlap: they overlap by half)."""
    validate_transformer(inp, where)
    enc = inp.encoder
    if enc.window_size < 2 or (enc.overlap and enc.window_size % 2):
        raise UserError(
            f"{where}.encoder.window_size: expected an integer >= 2 (even with overlap), got {enc.window_size}"
        )


def validate_longformer(inp, where: str) -> None:
    """A transformer's checks, an even attention window of at least 2, global positions that exist."""
    validate_transformer(inp, where)
    enc = inp.encoder
    if enc.attention_window < 2 or enc.attention_window % 2:
        raise UserError(f"{where}.encoder.attention_window: expected an even integer >= 2, got {enc.attention_window}")
    if any(p < 0 for p in enc.global_tokens):
        raise UserError(f"{where}.encoder.global_tokens: expected positions >= 0, got {enc.global_tokens}")


def validate_pretrained(inp, where: str) -> None:
    """Nothing of its own: the backbone's sizes come from the checkpoint; its length budget is checked by
    validate_truncation, its dropout by validate_rates."""


ENCODER_VALIDATORS: dict[str, Callable[..., None]] = {
    "bow": validate_bow,
    "nbsvm": validate_nbsvm,
    "cnn": validate_cnn,
    "rnn": validate_rnn,
    "transformer": validate_transformer,
    "local_transformer": validate_local_transformer,
    "longformer": validate_longformer,
    "pretrained": validate_pretrained,
}
