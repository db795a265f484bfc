"""Classify new text with a trained run: the run's own tokenizer, labels and model.

    python -m kerasclf.predict --run runs/imdb_cnn-... --text "A wonderful film."
    python -m kerasclf.predict --run DIR --input reviews.txt      # one text per line (.txt)
    python -m kerasclf.predict --run DIR --input reviews.csv      # .csv/.tsv/.jsonl with the run's columns
    python -m kerasclf.predict --run DIR --text title="..." --text body="..."   # several inputs

Prints one JSON object per text: {"label": ..., "probabilities": {class: p, ...}}; with --input each
line starts with "row" (and "id" when the file has an id column). A text cut to max_length carries a
"note"; a text with no words gets {"label": null, "probabilities": {}, "message": ...}.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kerasclf.cli import Parser, entry_point
from kerasclf.data.sources import decode, read_table
from kerasclf.errors import UserError
from kerasclf.run import Run
from kerasclf.texts import from_assignments


def _from_file(run: Run, path: Path) -> tuple[list, list[dict]]:
    """The texts of a file, and for each its place in the file: {"row": n} (the line of a .txt, the
    data row of a table, counted from 1), with the row's `id` when the file has an id column."""
    if not path.is_file():
        raise UserError(f"--input {path}: no such file")
    if path.suffix.lower() == ".txt":
        lines = decode(path.read_bytes(), str(path)).split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the file's final newline ends the last line; it starts no row
        return [line.rstrip("\r") for line in lines], [{"row": n} for n in range(1, len(lines) + 1)]
    rows = read_table(path)
    needed = {c for inp in run.config.inputs for c in inp.text_columns}
    if rows and not needed <= set(rows[0]):
        raise UserError(f"--input {path}: expected column(s) {sorted(needed)}, found {sorted(rows[0])}")
    texts = [{c: "" if row.get(c) is None else str(row[c]) for c in needed} for row in rows]
    where = [{"row": n, **({"id": row["id"]} if "id" in row else {})} for n, row in enumerate(rows, 1)]
    return texts, where


@entry_point
def main(argv=None) -> int:
    p = Parser(prog="python -m kerasclf.predict", description="Classify text with a trained run folder.")
    p.add_argument("--run", required=True, help="run folder written by kerasclf.train")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--text",
        action="append",
        help="a text to classify (repeatable); NAME=TEXT for each input where the inputs read different columns",
    )
    src.add_argument("--input", help=".txt (one text a line) or .csv/.tsv/.jsonl with the run's text columns")
    args = p.parse_args(argv)
    run = Run.load(args.run)
    if args.text:
        texts = from_assignments(run.config, args.text)
        where = [{} for _ in texts]
    else:
        texts, where = _from_file(run, Path(args.input))
    for place, result in zip(where, run.predict(texts)):
        print(json.dumps({**place, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
