"""A Gradio demo and HTTP API for a run folder: classify, show class probabilities and which words mattered.

    python -m kerasclf.demo                      # the newest run under runs/, on http://127.0.0.1:7860
    python -m kerasclf.demo --run runs/imdb_cnn-20261121-101500 --port 8000

API (usable with gradio_client, or plain HTTP):
    /classify        one text (or {input name: text} for several inputs) -> {"label", "probabilities"}
    /classify_batch  a list of texts -> a list of such results

A text with no words (empty, only punctuation or markup) gets {"label": null, "probabilities": {},
"message": ...}, from the demo's own check or from `Run.predict`; the page shows the message.

It classifies through `kerasclf.load_run` (the run's own tokenizers, labels and model), as
`python -m kerasclf.predict` does. Word attributions are integrated gradients on the token
embeddings (kerasclf/attributions.py) on the torch backend, which gives the model's gradients;
elsewhere, occlusion: each word (or span of words, for long texts) is removed in turn and the drop
in the predicted class's probability is its weight. The page says which, and why. It shows the
TOP_WORDS words of largest weight in text order (a checkbox shows every word); the notes come
above the results. Gradio colours positive weights red and negative ones purple.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerasclf import attributions
from kerasclf.cli import Parser, entry_point
from kerasclf.errors import UserError
from kerasclf.run import INCOMPLETE, Run, load_run

log = logging.getLogger("kerasclf")

MAX_CHARS = 5000  # longer inputs are cut, with a visible note
SPANS = 60  # at most this many occlusion variants per text: long texts are occluded a span of words at a time
EMPTY = "Type or paste a text to classify."
TOP_WORDS = 100  # longer attributions show these many words of largest weight, unless "Show every word"
GAP = ("… ", None)  # stands for the words left out between the strongest ones
# HighlightedText's own colours for scores (gradio/templates: rgba(239, 68, 60) above 0, rgba(128, 90, 213) below)
COLOURS = "red pushed towards **{label}**, purple against it; the deeper the colour, the larger the weight"


def newest_run(runs_dir: str | Path = "runs") -> Path:
    """The most recently finished run folder under `runs_dir`."""
    runs = [p for p in Path(runs_dir).glob("*/model.keras") if not p.parent.name.endswith(INCOMPLETE)]
    if not runs:
        raise UserError(
            f"--runs-dir {runs_dir}: no finished run folder there; train one first with "
            f"`make train` (or python -m kerasclf.train), or pass --run DIR"
        )
    return max(runs, key=lambda p: p.stat().st_mtime).parent


def box_labels(inputs) -> list[str]:
    """One label per textbox (input, column): the column it reads, or "input · column" where the column
    alone would not tell the boxes apart (several inputs read it, or a pair input reads two columns)."""
    fields = [(inp, column) for inp in inputs for column in inp.text_columns]
    readers = Counter(column for _, column in fields)
    return [column if readers[column] == 1 and not inp.columns else f"{inp.name} · {column}" for inp, column in fields]


def used_keys(enc) -> list[str]:
    """The settings of a from-scratch encoder config that shape its model (a one-hot CNN has no
    embedding_dim; a checkpoint's sizes come with init_from; a transformer of 0 blocks has no heads)."""
    if enc.type == "cnn":
        return (["one_hot"] if enc.one_hot else ["embedding_dim"]) + ["kernel_sizes", "filters"]
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


def strongest(pairs: list, top: int = TOP_WORDS) -> list:
    """The `top` (token, weight) pairs of largest |weight|, in text order, GAP where words are left out;
    all of them when there are no more than `top`."""
    if len(pairs) <= top:
        return list(pairs)
    keep = sorted(np.argsort([-abs(w) for _, w in pairs], kind="stable")[:top].tolist())
    out, last = [], -1
    for i in keep:
        if i > last + 1:
            out.append(GAP)
        out.append(pairs[i])
        last = i
    return out + ([GAP] if last < len(pairs) - 1 else [])


def render(view: dict | None, show_all: bool = False, top: int = TOP_WORDS) -> tuple[list, str]:
    """(HighlightedText chips, the note shown above the results) for a view from `Service.view`: every
    word with `show_all`, else the `top` strongest of each input in text order."""
    if not view:
        return [], ""
    chips, notes, spans = [], list(view["notes"]), view["spans"]
    for label, pairs in spans.items():
        if len(spans) > 1:
            chips.append((f"[{label}] ", None))
        chips.extend(pairs if show_all else strongest(pairs, top))
    total = sum(len(pairs) for pairs in spans.values())
    if not show_all and any(len(pairs) > top for pairs in spans.values()):
        each = " of each input" if len(spans) > 1 else ""
        notes.append(
            f"Showing the {top} words of largest weight{each} (of {total:,}) in text order; "
            f"“…” marks words left out. Tick **Show every word** to see them all."
        )
    if view.get("caption"):
        notes.append(view["caption"])
    return chips, "\n\n".join(notes)


class Service:
    """What the demo and the API call: input checks, classification and attributions for one run."""

    def __init__(self, run: Run, max_chars: int = MAX_CHARS):
        self.run, self.max_chars = run, max_chars
        # Gradio runs handlers in threads; attributions swap a layer's call on the shared model
        self.lock = threading.Lock()
        self.inputs = run.config.inputs
        self.fields = [(inp.name, c) for inp in self.inputs for c in inp.text_columns]  # (input, column)
        self.labels = box_labels(self.inputs)

    # ---------------------------------------------------------------- inputs
    def item(self, values: list[str]) -> tuple[dict | str | None, list[str]]:
        """Textbox values (one per field) -> what Run.predict takes, and notes for the user."""
        notes, cleaned = [], []
        for label, value in zip(self.labels, values):
            value = (value or "").strip()
            if len(value) > self.max_chars:
                which = f"{label}: the text" if len(self.labels) > 1 else "The text"
                notes.append(f"{which} was cut to its first {self.max_chars:,} characters (of {len(value):,}).")
                value = value[: self.max_chars]
            cleaned.append(value)
        if not any(cleaned):
            return None, [EMPTY]
        if len(self.fields) == 1:
            return cleaned[0], notes
        # an empty box takes the text of another input that reads the same column
        by_column = {}
        for (_, column), value in zip(self.fields, cleaned):
            if value:
                by_column.setdefault(column, value)
        cleaned = [value or by_column.get(column, "") for (_, column), value in zip(self.fields, cleaned)]
        item: dict[str, Any] = {}
        for (name, column), label, value in zip(self.fields, self.labels, cleaned):
            if not value:
                return None, [f"Give a text for {label!r} (column {column!r})."]
            inp = next(i for i in self.inputs if i.name == name)
            if inp.columns:
                item.setdefault(name, [None, None])[inp.columns.index(column)] = value
            else:
                item[name] = value
        return item, notes

    def item_from_api(self, text: str | dict) -> tuple[dict | str | None, list[str]]:
        if isinstance(text, dict):
            values = []
            for name, column in self.fields:
                v = text.get(name, text.get(column, ""))
                if isinstance(v, (list, tuple)):  # a pair input given as [a, b]
                    inp = next(i for i in self.inputs if i.name == name)
                    v = v[inp.columns.index(column)] if len(v) == 2 else ""
                values.append(str(v))
            return self.item(values)
        pair = next((inp for inp in self.inputs if inp.columns), None)
        if pair is not None:
            return None, [
                f"input {pair.name!r} reads a pair of texts; send a dict with its two columns "
                + f"{pair.columns} (or {pair.name!r}: [a, b])"
            ]
        return self.item([str(text)] * len(self.fields))

    def view(self, values: list[str]) -> dict:
        """What the page shows for textbox values: {"probabilities" (None when not classified), "notes",
        "spans" (word weights per input), "caption"}; `render` turns it into chips and a note."""
        item, notes = self.item(values)
        if item is None:
            return {"probabilities": None, "notes": notes, "spans": {}, "caption": ""}
        result = self.classify([item])[0]
        if result.get("note"):  # Run.predict's: the text was cut to max_length
            notes.append(self.sentence(result["note"]))
        if result["label"] is None:  # Run.predict's: no words to classify
            return {
                "probabilities": None,
                "notes": notes + [self.sentence(result["message"])],
                "spans": {},
                "caption": "",
            }
        _, spans = self.attributions(item, self.run.class_names.index(result["label"]))
        name, why = weight_method()
        caption = f"Word weights by {name} ({why}): {COLOURS.format(label=result['label'])}."
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
        for (name, column), label in zip(self.fields, self.labels):
            text = self._get(item, name, column)
            words = re.findall(r"\S+\s*", text)
            if not words:
                continue
            size = -(-len(words) // SPANS)
            spans = ["".join(words[i : i + size]) for i in range(0, len(words), size)]
            variants = [
                self._set(item, name, column, "".join(spans[:i] + spans[i + 1 :]) or " ") for i in range(len(spans))
            ]
            with self.lock:
                drops = base - self.run.predict_proba(variants)[:, predicted]
            scale = float(np.abs(drops).max()) or 1.0
            out[label] = [(span, round(float(d / scale), 4)) for span, d in zip(spans, drops)]
        return out

    def _get(self, item, name: str, column: str) -> str:
        if isinstance(item, str):
            return item
        v = item[name]
        if isinstance(v, list):
            inp = next(i for i in self.inputs if i.name == name)
            return v[inp.columns.index(column)]
        return v

    def _set(self, item, name: str, column: str, text: str):
        if isinstance(item, str):
            return text
        new = {k: (list(v) if isinstance(v, list) else v) for k, v in item.items()}
        if isinstance(new[name], list):
            inp = next(i for i in self.inputs if i.name == name)
            new[name][inp.columns.index(column)] = text
        else:
            new[name] = text
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
        metrics_file = self.run.path / "metrics.json"
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
        path = self.run.path / "predictions.csv"
        none: dict[str, list[list[str]]] = {"right": [], "wrong": []}
        if not path.is_file():
            return none
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        cols = [c for _, c in self.fields]
        if not rows or not set(cols) <= set(rows[0]):
            return none
        first = {cols.index(c) for c in dict.fromkeys(cols)}  # inputs reading one column: fill its first box only

        def confidence(r):
            return max(float(v) for k, v in r.items() if k.startswith("p_"))

        def pick(correct: str, n: int) -> list[list[str]]:
            chosen = sorted((r for r in rows if r["correct"] == correct), key=confidence, reverse=True)[:n]
            return [[r[c][: self.max_chars] if i in first else "" for i, c in enumerate(cols)] for r in chosen]

        return {"right": pick("1", right), "wrong": pick("0", wrong)}


def build_app(run: Run, max_chars: int = MAX_CHARS, concurrency: int = 2):
    """The Gradio Blocks app for `run`, its queue set up (call .launch())."""
    import gradio as gr

    service = Service(run, max_chars)
    title = f"kerasclf · {run.config.name}"
    with gr.Blocks(title=title) as app:
        gr.Markdown(f"# {title}\nClassify a text with the model of `{run.path.name}`.")
        with gr.Row():
            with gr.Column():
                boxes = [
                    gr.Textbox(
                        label=label, lines=6, max_lines=20, placeholder="A text to classify", elem_id=f"text-{i}"
                    )
                    for i, label in enumerate(service.labels)
                ]
                submit = gr.Button("Classify", variant="primary", elem_id="classify")
            with gr.Column():
                results = _results(gr)
        _examples(gr, service, boxes)
        _about(gr, service)
        _wire(gr, service, boxes, submit, results)
    app.queue(default_concurrency_limit=concurrency)
    return app


def _results(gr) -> dict:
    """The results column, top down: the notes (cuts, hints, the weights' method), the class
    probabilities, "Show every word" and the words; and the State that keeps a classified text's view."""
    note = gr.Markdown(elem_id="note")
    probabilities = gr.Label(label="Class probabilities", elem_id="probabilities")
    show_all = gr.Checkbox(
        label="Show every word",
        value=False,
        elem_id="show-all",
        info=f"otherwise the {TOP_WORDS} words of largest weight, in text order",
    )
    words = gr.HighlightedText(
        label=f"Which words mattered ({weight_method()[0]})", combine_adjacent=False, show_legend=False, elem_id="words"
    )
    return {"note": note, "probabilities": probabilities, "show_all": show_all, "words": words, "view": gr.State()}


def _examples(gr, service: Service, boxes) -> None:
    """Examples from the run's test split, in one block the model got right and one it got wrong."""
    found = service.examples()
    for key, heading in (("right", "The model got these right"), ("wrong", "The model got these wrong")):
        if found[key]:
            gr.Examples(
                examples=found[key],
                inputs=boxes,
                label=f"{heading} (from the run's test split)",
                elem_id=f"examples-{key}",
            )


def _about(gr, service: Service) -> None:
    with gr.Accordion("About this run", open=False):
        gr.Markdown(service.facts(), elem_id="facts")
        curves = service.run.path / "training_curves.png"
        if curves.is_file():
            gr.Image(str(curves), label="Training curves", show_label=True)


def _wire(gr, service: Service, boxes, submit, r: dict) -> None:
    """The page's events and the API (/classify, /classify_batch). /classify_ui takes one text per box
    and shows the strongest words; the page then renders every word if "Show every word" is ticked."""

    def ui_classify(*values):
        view = service.view(list(values))
        words, note = render(view)
        return view["probabilities"], words, note, view

    def show_words(view, show_all):
        return render(view, show_all)

    words_and_note = [r["words"], r["note"]]
    submit.click(
        ui_classify,
        boxes,
        [r["probabilities"], *words_and_note, r["view"]],
        api_name="classify_ui",
        api_visibility="undocumented",
    ).then(show_words, [r["view"], r["show_all"]], words_and_note, api_visibility="private")
    r["show_all"].change(
        show_words, [r["view"], r["show_all"]], words_and_note, api_name="show_words", api_visibility="undocumented"
    )
    classify, classify_batch = _api(service)
    gr.api(classify, api_name="classify")
    gr.api(classify_batch, api_name="classify_batch")


def _api(service: Service):
    def classify(text: str | dict) -> dict:
        """Classify one text (a dict of input name -> text for runs with several inputs).
        Returns {"label", "probabilities"}, plus "note" when the text was cut; a text with no words
        gets {"label": null, "probabilities": {}, "message": ...}."""
        item, notes = service.item_from_api(text)
        if item is None:
            return {"label": None, "probabilities": {}, "message": notes[0]}
        return service.with_notes(service.classify([item])[0], notes)

    def classify_batch(texts: list) -> list:
        """Classify a list of texts; each result as from /classify."""
        prepared = [service.item_from_api(t) for t in texts]
        valid = [item for item, _ in prepared if item is not None]
        results = iter(service.classify(valid)) if valid else iter(())
        return [
            {"label": None, "probabilities": {}, "message": notes[0]}
            if item is None
            else service.with_notes(next(results), notes)
            for item, notes in prepared
        ]

    return classify, classify_batch


@entry_point
def main(argv=None) -> int:
    p = Parser(prog="python -m kerasclf.demo", description="Serve a run folder as a Gradio demo and API.")
    p.add_argument("--run", help="run folder (default: the newest finished one under --runs-dir)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--max-chars", type=int, default=MAX_CHARS, help="longer texts are cut, with a note")
    p.add_argument("--concurrency", type=int, default=2, help="requests handled at once (Gradio's queue)")
    args = p.parse_args(argv)
    run = load_run(args.run or newest_run(args.runs_dir))
    app = build_app(run, args.max_chars, args.concurrency)
    print(f"serving {run.path} on http://{args.host}:{args.port}", file=sys.stderr)
    app.launch(server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
