"""Labels of a multilabel task (`task: multilabel`): any number of classes per row, in one of three layouts.

    label_column "3,12" or "joy,love"   the labels of a row in one column, split on data.label_delimiter
                                        (names, or integer ids that data.class_names names)
    label_column ["joy", "love"]        a list (JSON lines), names or ids
    label_columns [toxic, insult, ...]  one 0/1 column per class (the Jigsaw toxic-comments shape)

A row's labels become a 0/1 vector over the classes (a row with none is all zeros: allowed, and
counted in the log). The classes come from the train split (sorted names, ids in numeric order), or
from data.class_names; a class that never occurs in train is refused: nothing could learn it.
"""

from __future__ import annotations

import numpy as np

from kerasclf.errors import UserError

TRUE, FALSE = {"1", "1.0", "true", "yes"}, {"0", "0.0", "false", "no", ""}


def _items(value, delimiter: str) -> list[str]:
    """The labels one cell holds, as stripped strings."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(int(v)) if isinstance(v, (int, np.integer)) else str(v).strip() for v in value]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return [str(int(value))]
    return [p.strip() for p in str(value).split(delimiter) if p.strip()]


def class_names(train_rows: list[dict], cfg, source: str) -> list[str]:
    """The classes of a multilabel task, from the train rows (or data.class_names)."""
    d = cfg.data
    if d.label_columns:
        missing = [c for c in d.label_columns if c not in train_rows[0]]
        if missing:
            have = ", ".join(map(str, train_rows[0]))
            raise UserError(
                f"data.label_columns: column {missing[0]!r} is not in the train rows of {source} (it has: {have})"
            )
        return list(d.class_names or d.label_columns)
    if d.label_column not in train_rows[0]:
        have = ", ".join(map(str, train_rows[0]))
        raise UserError(
            f"data.label_column: column {d.label_column!r} is not in the train rows of {source} (it has: {have})"
        )
    cells = [r.get(d.label_column) for r in train_rows]
    split = any(isinstance(c, (list, tuple)) for c in cells) or any(d.label_delimiter in str(c) for c in cells)
    if not split:
        raise UserError(
            f"data.label_delimiter: {d.label_delimiter!r} splits no label of the train split of {source} "
            "(every row holds one label): set data.label_delimiter, or use task: multiclass"
        )
    seen = sorted({x for c in cells for x in _items(c, d.label_delimiter)})
    if seen and all(x.isdigit() for x in seen):
        ids = sorted(int(x) for x in seen)
        if d.class_names:
            if ids[-1] >= len(d.class_names):
                raise UserError(f"data.class_names: {len(d.class_names)} names, but train has label id {ids[-1]}")
            return list(d.class_names)
        return [str(i) for i in ids]
    if d.class_names:
        unknown = sorted(set(seen) - set(d.class_names))
        if unknown:
            raise UserError(f"data.class_names: labels {unknown[:5]} are not among {d.class_names}")
        return list(d.class_names)
    return seen


def targets(rows: list[dict], names: list[str], cfg, split: str) -> np.ndarray:
    """The (rows, classes) 0/1 matrix of one split."""
    d = cfg.data
    out = np.zeros((len(rows), len(names)), dtype=np.float32)
    if d.label_columns:
        for n, row in enumerate(rows):
            for j, c in enumerate(d.label_columns):
                v = str(row.get(c, "")).strip().lower()
                if v not in TRUE | FALSE:
                    raise UserError(
                        f"data.label_columns: row {n + 1} of the {split} split has {c}={row.get(c)!r}, expected 0 or 1"
                    )
                out[n, j] = v in TRUE
        return out
    index = {x: j for j, x in enumerate(names)}
    for n, row in enumerate(rows):
        for x in _items(row.get(d.label_column), d.label_delimiter):
            j = index.get(x)
            if j is None and x.isdigit() and d.class_names and int(x) < len(names):
                j = int(x)  # an integer id, named by data.class_names at that position
            if j is None:
                raise UserError(
                    f"data.label_column: row {n + 1} of the {split} split has label {x!r}, "
                    f"which is not a class (classes: {names[:8]}{'...' if len(names) > 8 else ''})"
                )
            out[n, j] = 1
    return out


def check_train(y: np.ndarray, names: list[str]) -> None:
    """Every class occurs in train."""
    never = [n for n, c in zip(names, y.sum(axis=0)) if c == 0]
    if never:
        raise UserError(
            f"data: class {never[0]!r} never occurs in the train split (nothing can learn it); "
            "drop it from data.class_names / data.label_columns, or add rows that have it"
        )
