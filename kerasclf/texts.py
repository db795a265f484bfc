"""Texts as users give them, turned into what the model's inputs read: shared by Run.predict,
Data.encode, the predict CLI and the demo.

A text for a model is one of:
- a string: every input that reads one column gets it;
- a dict keyed by input name or by column: `{"review": "..."}`, `{"text": "..."}`; a pair input
  (`columns: [a, b]`) takes its two columns as keys, or `{name: [a, b]}`.

Its *fields* are the (input, column) pairs of the config; the demo shows one textbox per column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kerasclf.config import Config, InputConfig
from kerasclf.errors import UserError


def fields(cfg: Config) -> list[tuple[InputConfig, str]]:
    """(input, column) for every column every input reads, in config order."""
    return [(inp, column) for inp in cfg.inputs for column in inp.text_columns]


def field_values(cfg: Config, item: str | Mapping) -> list[str | None]:
    """The text of each field in `item`, None where the item has none."""
    values: list[str | None] = []
    for inp, column in fields(cfg):
        if isinstance(item, str):
            values.append(None if inp.columns else item)
            continue
        value = item.get(inp.name, item.get(column))
        if isinstance(value, (list, tuple)):  # a pair input given as [a, b]
            value = value[inp.columns.index(column)] if inp.columns and len(value) == 2 else None
        values.append(None if value is None else str(value))
    return values


def texts_per_input(cfg: Config, texts: Sequence[str | Mapping[str, str]]) -> dict[str, list]:
    """One list per input: its text of each item, or (a, b) for a pair input. One line of error for
    an item that has no text for an input."""
    out: dict[str, list] = {inp.name: [] for inp in cfg.inputs}
    for i, item in enumerate(texts):
        values = iter(field_values(cfg, item))
        for inp in cfg.inputs:
            mine = [next(values) for _ in inp.text_columns]
            if any(v is None for v in mine):
                raise UserError(_missing(cfg, inp, i))
            out[inp.name].append(tuple(mine) if inp.columns else mine[0])
    return out


def _missing(cfg: Config, inp: InputConfig, i: int) -> str:
    if inp.columns:
        a, b = inp.columns
        return (
            f"text {i + 1}: input {inp.name!r} reads a pair of texts; expected a dict with "
            f"keys {a!r} and {b!r} (or {inp.name!r}: [a, b])"
        )
    names = ", ".join(x.name for x in cfg.inputs)
    return f"text {i + 1}: no text for input {inp.name!r} (expected a string, or a dict with keys {names})"


def from_assignments(cfg: Config, items: list[str]) -> list[str | dict]:
    """`--text` arguments: plain texts for a one-input model (`NAME=` before one is dropped) and for inputs
    that all read the same one column (a fused model of one text: each plain `--text` is a text for every
    input, while `NAME=TEXT` and `COLUMN=TEXT` make one text per input, as a dict does in Python), else one
    text made of `NAME=TEXT` for each input."""
    names = {inp.name for inp in cfg.inputs}
    if len(names) == 1:
        name = next(iter(names))
        return [item.split("=", 1)[1] if item.startswith(f"{name}=") else item for item in items]
    columns = {column for _, column in fields(cfg)}
    if len(columns) == 1 and not any(inp.columns for inp in cfg.inputs):
        keys = names | columns
        assigned = [item.partition("=")[0] in keys and "=" in item for item in items]
        if not any(assigned):
            return list(items)
        if not all(assigned):
            plain = items[assigned.index(False)]
            raise UserError(
                f"--text {plain[:40]!r} is a plain text among NAME=TEXT ones; give either plain texts (each read "
                f"by every input) or NAME=TEXT for inputs {sorted(names)} ({next(iter(columns))}=TEXT for the rest)"
            )
        names = keys
    one = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in names:
            raise UserError(
                f"--text {item[:40]!r}: this run has inputs {sorted(names)}; give --text NAME=TEXT for each"
            )
        if key in one:
            raise UserError(f"--text {item[:40]!r}: a second text for {key!r}; give each NAME=TEXT once")
        one[key] = value
    return [one]
