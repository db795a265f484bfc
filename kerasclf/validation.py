"""A config tree checked against the schema of kerasclf/config.py, in two steps; every error is a
`UserError` naming the first wrong key.

    cfg = build(Config, tree)  # types: unknown keys (with the closest valid one), wrong types, encoder `type`
    validate(cfg)              # values: what the types alone cannot express, e.g. heads dividing embedding_dim

`validate` runs one small validator per config section and one per encoder type (`ENCODER_VALIDATORS`
of encoder_validation.py, keyed as `ENCODER_CONFIGS` is), each given the built section (`inp` an
InputConfig, `where` its path, inputs.N). When a config has several mistakes the first is reported,
so the order of the checks is part of what the user sees. config.py imports this module, so nothing
here imports config.py: the schema comes in as arguments (the encoder field names its choices in its metadata).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import types
import typing
from typing import Literal, Union

from kerasclf import task_validation
from kerasclf.encoder_validation import ENCODER_VALIDATORS, NGRAM_MAX_VOCAB
from kerasclf.errors import UserError

_RATES = ("word_dropout", "embedding_dropout", "dropout")  # encoder keys that are shares in [0, 1)


# ---------------------------------------------------------------- types: a YAML tree built as the dataclasses
def build(tp, value, path: str = ""):
    """`value` (as read from YAML) built as type `tp` (Config for a whole tree), or a UserError naming the key
    at `path` and what was expected there: unknown keys (with the closest valid one), wrong types."""
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(tp, value, path)
    return _BUILDERS.get(typing.get_origin(tp), _build_scalar)(tp, value, path)


def _build_dataclass(tp, value, path: str):
    """A section: a mapping (null: all defaults) whose keys are the dataclass's fields."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise UserError(f"{_label(path)}: expected a mapping, got {value!r}")
    hints = typing.get_type_hints(tp)
    fields = {f.name: f for f in dataclasses.fields(tp)}
    names = list(fields)
    for key in value:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.5)
            hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(names)}"
            raise UserError(f"{_join(path, key)}: unknown key{hint}")
    return tp(**{k: _build_field(fields[k], hints[k], v, _join(path, k)) for k, v in value.items()})


def _build_field(f: dataclasses.Field, tp, value, path: str):
    """A field as its type, or (the encoder) as the dataclass its `type` picks from metadata["by_type"]."""
    if "by_type" in f.metadata:
        return _build_encoder(value, path, f.metadata["by_type"])
    return build(tp, value, path)


def _build_union(tp, value, path: str):
    """`X | None` is X's or null; `X | Y` the first of them that the value builds as."""
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    real = [a for a in args if a is not type(None)]
    if len(real) == 1:  # Optional[X]: X's own error is the clearer one
        return build(real[0], value, path)
    for arg in real:
        try:
            return build(arg, value, path)
        except UserError:
            continue
    raise UserError(f"{_label(path)}: expected {_typename(tp)}, got {value!r}")


def _build_literal(tp, value, path: str):
    choices = typing.get_args(tp)
    if value not in choices:
        raise UserError(f"{_label(path)}: expected one of {', '.join(map(str, choices))}, got {value!r}")
    return value


def _build_list(tp, value, path: str):
    if not isinstance(value, list):
        raise UserError(f"{_label(path)}: expected {_typename(tp)}, got {value!r}")
    (item,) = typing.get_args(tp)
    return [build(item, v, f"{_label(path)}.{i}") for i, v in enumerate(value)]


def _build_scalar(tp, value, path: str):
    """float (an int too, or a string PyYAML left unread), int, bool or str; a bool is not a number."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is float and number:
        return float(value)
    if tp is float and isinstance(value, str):  # PyYAML (YAML 1.1) reads 3e-4 as a string; take it as the number
        with contextlib.suppress(ValueError):
            return float(value)
    if tp is int and number and isinstance(value, int):
        return value
    if tp in (bool, str) and isinstance(value, tp):
        return value
    raise UserError(f"{_label(path)}: expected {_typename(tp)}, got {value!r}")


def _build_dict(tp, value, path: str):
    """A mapping of names to values (train.class_weight: {class: weight})."""
    if not isinstance(value, dict):
        raise UserError(f"{_label(path)}: expected {_typename(tp)}, got {value!r}")
    _, item = typing.get_args(tp)
    return {str(k): build(item, v, f"{_label(path)}.{k}") for k, v in value.items()}


_BUILDERS = {
    Union: _build_union,
    types.UnionType: _build_union,
    Literal: _build_literal,
    list: _build_list,
    dict: _build_dict,
}


def _build_encoder(value, path: str, encoders: dict[str, type]):
    """An encoder section: the dataclass of `encoders` (ENCODER_CONFIGS) its `type` names (cnn when none)."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a mapping with a 'type', got {value!r}")
    kind = value.get("type", "cnn")
    if kind not in encoders:
        close = difflib.get_close_matches(str(kind), list(encoders), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise UserError(f"{path}.type: unknown encoder {kind!r}, expected one of {', '.join(encoders)}{hint}")
    return build(encoders[kind], value, path)


def _typename(tp) -> str:
    """How an expected type reads in an error message: 'int', "'max' | 'mean'", 'a list of int'."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_typename(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_typename(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of names to {_typename(typing.get_args(tp)[1])}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return getattr(tp, "__name__", str(tp))


def _label(path: str) -> str:
    return path or "config"


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


# ---------------------------------------------------------------- values: one validator per section
def validate(cfg) -> None:
    """Every section of a built config: inputs first, then train, data and head, then the task's keys."""
    validate_inputs(cfg.inputs)
    validate_train(cfg.train)
    validate_data(cfg.data)
    validate_head(cfg.head)
    task_validation.validate_task(cfg)


# ---------------------------------------------------------------- inputs
def validate_inputs(inputs) -> None:
    """At least one input, each with a name of its own, each valid."""
    if not inputs:
        raise UserError("inputs: expected at least one input")
    seen = set()
    for i, inp in enumerate(inputs):
        where = f"inputs.{i}"
        if inp.name in seen:
            raise UserError(f"{where}.name: duplicate input name {inp.name!r}; each input needs its own name")
        seen.add(inp.name)
        validate_input(inp, where)


def validate_input(inp, where: str) -> None:
    """One input (`where` is its path, inputs.N): its lengths, columns, tokenizer and encoder."""
    if inp.max_length < 1:
        raise UserError(f"{where}.max_length: expected an integer >= 1, got {inp.max_length}")
    validate_columns(inp, where)
    validate_truncation(inp, where)
    validate_init_from(inp, where)
    validate_ngrams(inp, where)
    validate_rates(inp, where)
    validate_tokenizer(inp.tokenizer, f"{where}.tokenizer")
    ENCODER_VALIDATORS[inp.encoder.type](inp, where)


def validate_columns(inp, where: str) -> None:
    """`columns` (a pair of texts) is for pretrained encoders only, and names two columns."""
    if inp.columns is not None and (len(inp.columns) != 2 or not inp.pretrained):
        raise UserError(
            f"{where}.columns: expected two text columns [a, b] read as a pair by a pretrained "
            f"encoder, got {inp.columns!r} with encoder type {inp.encoder.type!r}"
        )


def validate_truncation(inp, where: str) -> None:
    """head_tokens fits in max_length; a pretrained input's also holds [CLS] and [SEP] (a second [SEP] for a pair)."""
    tok = inp.tokenizer
    if not inp.pretrained:
        if tok.truncation == "head_tail" and not 0 <= tok.head_tokens <= inp.max_length:
            raise UserError(
                f"{where}.tokenizer.head_tokens: expected 0..{inp.max_length} (max_length), got {tok.head_tokens}"
            )
        return
    if inp.max_length < 3 + (inp.columns is not None):
        raise UserError(
            f"{where}.max_length: expected at least 4 wordpieces for a pair, 3 for one text, got {inp.max_length}"
        )
    if tok.truncation == "head_tail" and not 0 <= tok.head_tokens <= inp.max_length - 2:
        raise UserError(
            f"{where}.tokenizer.head_tokens: expected 0..{inp.max_length - 2} "
            f"(max_length minus [CLS] and [SEP]), got {tok.head_tokens}"
        )


def validate_init_from(inp, where: str) -> None:
    """An input started from a checkpoint has its vocabulary and embeddings: no word dropout, no n-gram rows."""
    if not inp.wordpiece:
        return
    for key in ("word_dropout", "ngram_buckets"):
        if getattr(inp.encoder, key, 0):
            raise UserError(
                f"{where}.encoder.{key}: not available with init_from (a checkpoint's vocabulary "
                f"and embeddings); expected 0, got {getattr(inp.encoder, key)}"
            )


def validate_ngrams(inp, where: str) -> None:
    """Word n-grams, hashed (ngram_buckets: rows to hash into) or counted (the one-hot CNN's ngram_vocab):
    pair ids within int32."""
    buckets, counted = getattr(inp.encoder, "ngram_buckets", 0), getattr(inp.encoder, "ngram_vocab", 0)
    if getattr(inp.encoder, "ngram_order", 2) != 2 and not buckets:
        raise UserError(
            f"{where}.encoder.ngram_order: {inp.encoder.ngram_order} needs ngram_buckets > 0 "
            f"(the rows its n-grams are hashed into), got ngram_buckets {buckets}"
        )
    if not (buckets or counted):
        return
    max_tokens = inp.tokenizer.max_tokens
    if max_tokens > NGRAM_MAX_VOCAB:
        how = "ngram_buckets (word n-grams hashed in int32)" if buckets else "ngram_vocab (word n-grams keyed in int32)"
        raise UserError(
            f"{where}.tokenizer.max_tokens: with {how}, expected at most {NGRAM_MAX_VOCAB}, got {max_tokens}"
        )
    if buckets and not 2 <= buckets <= max_tokens**2:
        raise UserError(
            f"{where}.encoder.ngram_buckets: expected 0 (off) or 2..{max_tokens**2} "
            f"rows (at most max_tokens squared), got {buckets}"
        )


def validate_rates(inp, where: str) -> None:
    """The encoder's dropout rates (those it has; a pretrained one's may be null) are shares in [0, 1)."""
    for key in _RATES:
        rate = getattr(inp.encoder, key, 0) or 0
        if not 0 <= rate < 1:
            raise UserError(f"{where}.encoder.{key}: expected a share in [0, 1), got {rate}")


def validate_tokenizer(tok, where: str) -> None:
    """The word vocabulary holds [PAD], [UNK] and at least one word."""
    if tok.max_tokens < 3:
        raise UserError(f"{where}.max_tokens: expected at least 3, got {tok.max_tokens}")


# ---------------------------------------------------------------- train, data, head
def validate_train(train) -> None:
    """Positive counts and learning rate, a known metric to stop on, rates within their ranges."""
    for key in ("epochs", "batch_size"):
        if getattr(train, key) < 1:
            raise UserError(f"train.{key}: expected an integer >= 1, got {getattr(train, key)}")
    if train.learning_rate <= 0:
        raise UserError(f"train.learning_rate: expected a positive number, got {train.learning_rate}")
    if train.early_stopping is not None:
        task_validation.validate_monitor(train.early_stopping.monitor)
    if train.ema is not None and not 0 < train.ema < 1:
        raise UserError(f"train.ema: expected a momentum between 0 and 1 (e.g. 0.99) or null, got {train.ema}")
    if train.mixup_alpha < 0:
        raise UserError(f"train.mixup_alpha: expected a number >= 0 (0 turns mixup off), got {train.mixup_alpha}")
    if not 0 <= train.warmup_ratio < 1:
        raise UserError(f"train.warmup_ratio: expected a number in [0, 1), got {train.warmup_ratio}")


def validate_data(data) -> None:
    """Fractions carved from train lie strictly between 0 and 1 (a string is a file)."""
    if isinstance(data.validation, float) and not 0 < data.validation < 1:
        raise UserError(f"data.validation: expected a fraction between 0 and 1 or a file, got {data.validation}")
    if isinstance(data.test, float) and not 0 < data.test < 1:
        raise UserError(f"data.test: expected a fraction between 0 and 1 or a file, got {data.test}")


def validate_head(head) -> None:
    """Layer widths of at least 1; residual_mlp needs a first width to project to; dropout rates in [0, 1)."""
    for key in ("dropout", "input_dropout"):
        if not 0 <= getattr(head, key) < 1:
            raise UserError(f"head.{key}: expected a rate from 0 up to (not including) 1, got {getattr(head, key)}")
    for key in ("path_loss", "input_loss"):
        if getattr(head, key) < 0:
            raise UserError(f"head.{key}: expected a weight >= 0, got {getattr(head, key)}")
    for u in head.units:
        if u < 1:
            raise UserError(f"head.units: expected integers >= 1, got {u}")
    if head.kind == "residual_mlp" and not head.units:
        raise UserError("head.units: residual_mlp needs at least one entry (its width is units[0])")
