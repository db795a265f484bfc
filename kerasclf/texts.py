"""Texts as users give them (a string, a dict keyed by input name or column, a pair), turned into one
list of texts per model input: what Run.predict, Data.encode, the predict CLI and the demo share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kerasclf.config import Config
from kerasclf.errors import UserError


def texts_per_input(cfg: Config, texts: Sequence[str | Mapping[str, str]]) -> dict[str, list]:
    """One list of texts per input. Each item is a string (given to every input) or a dict keyed by
    input name (or by column, for every input reading that column). A pair input (two columns)
    takes a dict with both columns, or a [a, b] pair under its name."""
    out: dict[str, list] = {inp.name: [] for inp in cfg.inputs}
    for i, item in enumerate(texts):
        for inp in cfg.inputs:
            if inp.columns:
                a, b = inp.columns
                if (
                    isinstance(item, Mapping)
                    and isinstance(item.get(inp.name), (list, tuple))
                    and len(item[inp.name]) == 2
                ):
                    value = tuple(map(str, item[inp.name]))
                elif isinstance(item, Mapping) and a in item and b in item:
                    value = (str(item[a]), str(item[b]))
                else:
                    raise UserError(
                        f"text {i + 1}: input {inp.name!r} reads a pair of texts; expected a dict with "
                        f"keys {a!r} and {b!r} (or {inp.name!r}: [a, b])"
                    )
            elif isinstance(item, str):
                value = item
            elif isinstance(item, Mapping) and (inp.name in item or inp.column in item):
                value = str(item.get(inp.name, item.get(inp.column)))
            else:
                names = ", ".join(i.name for i in cfg.inputs)
                raise UserError(
                    f"text {i + 1}: no text for input {inp.name!r} (expected a string, or a dict with keys {names})"
                )
            out[inp.name].append(value)
    return out
