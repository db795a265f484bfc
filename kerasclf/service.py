"""What the demo and its API do for one run, without Gradio: check the textboxes' values, classify
through `Run.predict`, weigh the words, and describe the run (kerasclf/demo.py draws the page).

Word weights are integrated gradients on the token embeddings (kerasclf/attributions.py) on the
torch backend, which gives the model's gradients; elsewhere occlusion: each word (or span of words,
for long texts) is removed in turn and the drop in the predicted class's probability is its weight.
"""

from __future__ import annotations

import csv
import json
import re
import threading

import keras
import numpy as np

from kerasclf import attributions
from kerasclf.run import Run
from kerasclf.texts import field_values, fields

MAX_CHARS = 5000  # longer inputs are cut, with a visible note
SPANS = 60  # at most this many occlusion variants per text: long texts are occluded a span of words at a time
EMPTY = "Type or paste a text to classify."
# HighlightedText's own colours for scores (gradio/templates: rgba(239, 68, 60) above 0, rgba(128, 90, 213) below)
COLOURS = "red pushed towards **{label}**, purple against it; the deeper the colour, the larger the weight"


def box_labels(inputs) -> list[str]:
    """One textbox per column the inputs read, in config order, labelled with the column: inputs that
    read the same column (readers of one review fused into one model) share its box."""
    return list(dict.fromkeys(column for inp in inputs for column in inp.text_columns))


def used_keys(enc) -> list[str]:
    """The settings of a from-scratch encoder config that shape its model (a one-hot CNN has no
    embedding_dim; a checkpoint's sizes come with init_from; a transformer of 0 blocks has no heads)."""
    if enc.type == "cnn":
        keys = (["one_hot"] if enc.one_hot else ["embedding_dim"]) + ["kernel_sizes", "filters"]
        return keys + [k for k in ("ngram_buckets", "ngram_vocab") if getattr(enc, k)]
    if enc.type == "rnn":
        return ["cell", "embedding_dim", "units", "layers", "bidirectional"]
    if getattr(enc, "init_from", None) is not None:
        keys = ["init_from"]
    else:
        keys = ["embedding_dim", "layers"] + (["heads", "ff_dim"] if enc.layers else [])
        keys += ["ngram_buckets", "ngram_order"] if enc.ngram_buckets else []
    blocks = enc.layers or getattr(enc, "init_from", None) is not None
    return keys + (
        {"local_transformer": ["window_size"], "longformer": ["attention_window"]}.get(enc.type, []) if blocks else []
    )


def encoder_details(enc) -> str:
    """ "key value, ..." for the settings the encoder uses (the facts panel)."""
    if enc.type == "pretrained":
        return f"{enc.preset}, pooling {enc.pooling}" + (", frozen" if enc.freeze else "")
    return ", ".join(f"{k} {getattr(enc, k)}" for k in used_keys(enc))


def weight_method() -> tuple[str, str]:
    """(name, why) of the word-weight method on this backend."""
    if attributions.available():
        return "integrated gradients", ("on the token embeddings, since the torch backend gives the model's gradients")
    return "occlusion", (
        f"each word, or span of words, removed in turn, since integrated gradients need the "
        f"torch backend's gradients and this is {keras.backend.backend()}"
    )


class Service:
    """What the demo and the API call: input checks, classification and attributions for one run."""

    def __init__(self, run: Run, max_chars: int = MAX_CHARS):
        self.run, self.max_chars = run, max_chars
        # Gradio runs handlers in threads; attributions swap a layer's call on the shared model
        self.lock = threading.Lock()
        self.inputs = run.config.inputs
        self.labels = box_labels(self.inputs)  # one box per column

    # ---------------------------------------------------------------- inputs
    def item(self, values: list[str]) -> tuple[dict | str | None, list[str]]:
        """Textbox values (one per column) -> what Run.predict takes, and notes for the user."""
        by_column = dict(zip(self.labels, values))
        return self.from_fields([by_column.get(column) for _, column in fields(self.run.config)])

    def item_from_api(self, text: str | dict) -> tuple[dict | str | None, list[str]]:
        """An API request -> (item, notes). A dict is keyed by input name or column, as Run.predict takes it:
        inputs that read one column may each get a text of their own. Unlike Run.predict, which refuses
        it, an input left out (with no key for its column either) borrows the text given to the first
        input of the config that reads its column, as the page's one box per column gives it."""
        cfg = self.run.config
        if isinstance(text, dict):
            values = field_values(cfg, text)
            given: dict[str, str] = {}
            for (_, column), value in zip(fields(cfg), values):
                if value is not None:
                    given.setdefault(column, value)
            return self.from_fields([v if v is not None else given.get(c) for (_, c), v in zip(fields(cfg), values)])
        pair = next((inp for inp in self.inputs if inp.columns), None)
        if pair is not None:
            return None, [
                f"input {pair.name!r} reads a pair of texts; send a dict with its two columns "
                + f"{pair.columns} (or {pair.name!r}: [a, b])"
            ]
        return self.from_fields([str(text)] * len(fields(cfg)))

    def from_fields(self, values: list[str | None]) -> tuple[dict | str | None, list[str]]:
        """One text per (input, column) of `texts.fields`, None where none was given -> (item, notes):
        each text stripped and cut to max_chars; None and a note when a text is missing. Notes name the
        column, or the input where inputs that share a column were given different texts."""
        pairs = list(zip(fields(self.run.config), ((v or "").strip() for v in values)))
        texts_of: dict[str, set[str]] = {}
        for (_, column), value in pairs:
            texts_of.setdefault(column, set()).add(value)

        def own(column: str) -> bool:  # inputs that read `column` were given different texts
            return len(texts_of[column]) > 1

        notes: list[str] = []
        cleaned: list[tuple[str, str]] = []  # (whose text, for a note on a missing one; text)
        for (inp, column), value in pairs:
            if len(value) > self.max_chars:
                which = (
                    f"{inp.name if own(column) else column}: the text"
                    if len(self.labels) > 1 or own(column)
                    else "The text"
                )
                notes.append(f"{which} was cut to its first {self.max_chars:,} characters (of {len(value):,}).")
                value = value[: self.max_chars]
            cleaned.append((f"input {inp.name!r}" if own(column) else repr(column), value))
        notes = list(dict.fromkeys(notes))  # inputs that share a column and its text: one note
        if not any(text for _, text in cleaned):
            return None, [EMPTY]
        missing = next((name for name, text in cleaned if not text), None)
        if missing is not None:
            return None, [f"Give a text for {missing}."]
        texts = iter(text for _, text in cleaned)
        per_input = {inp.name: [next(texts) for _ in inp.text_columns] for inp in self.inputs}
        if len(self.inputs) == 1 and not self.inputs[0].columns:
            return per_input[self.inputs[0].name][0], notes
        return {inp.name: per_input[inp.name] if inp.columns else per_input[inp.name][0] for inp in self.inputs}, notes

    def view(self, values: list[str]) -> dict:
        """What the page shows for textbox values: {"probabilities" (None when not classified), "notes",
        "spans" (word weights per input), "caption"}; `render` turns it into chips and a note."""
        item, notes = self.item(values)
        if item is None:
            return {"probabilities": None, "notes": notes, "spans": {}, "caption": ""}
        result = self.classify([item])[0]
        if result.get("note"):  # Run.predict's: the text was cut to max_length
            notes.append(self.sentence(result["note"]))
        if "message" in result:  # Run.predict's: no words to classify
            return {
                "probabilities": None,
                "notes": notes + [self.sentence(result["message"])],
                "spans": {},
                "caption": "",
            }
        label = result["label"] or max(result["probabilities"], key=result["probabilities"].get)
        if "labels" in result:  # multilabel: the labels over their own thresholds (decision.json)
            chosen = ", ".join(result["labels"]) or "none"
            notes.append(f"Chosen labels (each over its own threshold, tuned on validation): {chosen}.")
        _, spans = self.attributions(item, self.run.class_names.index(label))
        name, why = weight_method()
        caption = f"Word weights by {name} ({why}): {COLOURS.format(label=label)}."
        return {"probabilities": result["probabilities"], "notes": notes, "spans": spans, "caption": caption}

    def sentence(self, text: str) -> str:
        """A message of Run.predict as a sentence of the page (capitalised unless it starts with an input name)."""
        text = text.rstrip(".") + "."
        starts_with_name = any(text.startswith(f"{inp.name}:") for inp in self.inputs)
        return text if starts_with_name else text[:1].upper() + text[1:]

    def with_notes(self, result: dict, notes: list[str]) -> dict:
        """An API result of Run.predict with the demo's notes (a text cut to --max-chars) before its own."""
        if not notes:
            return result
        return {**result, "note": " ".join(notes + ([self.sentence(result["note"])] if result.get("note") else []))}

    # ---------------------------------------------------------------- outputs
    def classify(self, items: list) -> list[dict]:
        with self.lock:
            return self.run.predict(items)

    def attributions(self, item, predicted: int) -> tuple[str, dict[str, list[tuple[str, float]]]]:
        """(method's name, {input or field: [(token or words, weight in [-1, 1])]}); positive = pushed towards
        `predicted`. Integrated gradients on the token embeddings where the backend gives gradients
        (torch), occlusion of words otherwise."""
        if attributions.available():
            with self.lock:
                raw = attributions.integrated_gradients(self.run, item, predicted)
            out = {}
            for name, pairs in raw.items():
                scale = max((abs(s) for _, s in pairs), default=0.0) or 1.0
                out[name] = [(f"{t} ", round(s / scale, 4)) for t, s in pairs]
            return "integrated gradients", out
        return "occlusion", self.occlusion(item, predicted)

    def occlusion(self, item, predicted: int) -> dict[str, list[tuple[str, float]]]:
        """Per field: (word or span, weight in [-1, 1]): the drop in the predicted class's probability
        when it is removed."""
        out = {}
        with self.lock:
            base = self.run.predict_proba([item])[0, predicted]
        for column in self.labels:
            text = self._get(item, column)
            words = re.findall(r"\S+\s*", text)
            if not words:
                continue
            size = -(-len(words) // SPANS)
            spans = ["".join(words[i : i + size]) for i in range(0, len(words), size)]
            variants = [self._set(item, column, "".join(spans[:i] + spans[i + 1 :]) or " ") for i in range(len(spans))]
            with self.lock:
                drops = base - self.run.predict_proba(variants)[:, predicted]
            scale = float(np.abs(drops).max()) or 1.0
            out[column] = [(span, round(float(d / scale), 4)) for span, d in zip(spans, drops)]
        return out

    def _get(self, item, column: str) -> str:
        """The text of `column` in an item from `item` (every input that reads it has the same)."""
        if isinstance(item, str):
            return item
        inp = next(i for i in self.inputs if column in i.text_columns)
        return item[inp.name][inp.columns.index(column)] if inp.columns else item[inp.name]

    def _set(self, item, column: str, text: str):
        """`item` with `text` in place of `column`'s text, for every input that reads it."""
        if isinstance(item, str):
            return text
        new = {k: (list(v) if isinstance(v, list) else v) for k, v in item.items()}
        for inp in self.inputs:
            if inp.columns and column in inp.columns:
                new[inp.name][inp.columns.index(column)] = text
            elif inp.column == column:
                new[inp.name] = text
        return new

    # ---------------------------------------------------------------- the facts panel
    def facts(self) -> str:
        cfg = self.run.config
        lines = [f"**Run** `{self.run.path.name}` · classes: {', '.join(self.run.class_names)}", ""]
        for inp in cfg.inputs:
            lines.append(
                f"- input **{inp.name}** ({', '.join(inp.text_columns)}): `{inp.encoder.type}` "
                f"{encoder_details(inp.encoder)}, max_length {inp.max_length}"
            )
        t = cfg.train
        lines.append(
            f"- head {cfg.head.kind} {cfg.head.units}; trained {t.epochs} epochs, batch {t.batch_size}, "
            f"lr {t.learning_rate} ({t.schedule}), mixup {t.mixup_alpha}"
        )
        metrics_file = self.run.folder.metrics
        if metrics_file.is_file():
            m = json.loads(metrics_file.read_text())
            lines += ["", "| split | accuracy | macro F1 | ROC-AUC |", "|---|---|---|---|"]
            for split in ("validation", "test"):
                s = m.get(split, {})
                auc = f"{s['roc_auc']:.4f}" if "roc_auc" in s else "—"
                lines.append(f"| {split} | {s.get('accuracy', 0):.4f} | {s.get('f1_macro', 0):.4f} | {auc} |")
        return "\n".join(lines)

    def examples(self, right: int = 3, wrong: int = 3) -> dict[str, list[list[str]]]:
        """Texts from the run's test predictions, the most confident first, as the model got them:
        {"right": rows, "wrong": rows}, a row holding one value per textbox."""
        path = self.run.folder.predictions
        none: dict[str, list[list[str]]] = {"right": [], "wrong": []}
        if not path.is_file():
            return none
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        cols = self.labels
        if not rows or not set(cols) <= set(rows[0]):
            return none

        def confidence(r):
            return max(float(v) for k, v in r.items() if k.startswith("p_"))

        def pick(correct: str, n: int) -> list[list[str]]:
            chosen = sorted((r for r in rows if r["correct"] == correct), key=confidence, reverse=True)[:n]
            return [[r[c][: self.max_chars] for c in cols] for r in chosen]

        return {"right": pick("1", right), "wrong": pick("0", wrong)}
