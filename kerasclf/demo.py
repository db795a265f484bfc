"""A Gradio demo and HTTP API for a run folder: classify, show class probabilities and which words mattered.

    python -m kerasclf.demo                      # the newest run under runs/, on http://127.0.0.1:7860
    python -m kerasclf.demo --run runs/imdb_cnn-20261121-101500 --port 8000

API (usable with gradio_client, or plain HTTP):
    /classify        one text (or {input name: text} for several inputs) -> {"label", "probabilities"}
    /classify_batch  a list of texts -> a list of such results

It classifies through `kerasclf.load_run` (the run's own tokenizers, labels and model), as
`python -m kerasclf.predict` does. Word attributions are integrated gradients on the token
embeddings (kerasclf/attributions.py) on the torch backend; elsewhere, occlusion: each word (or
span of words, for long texts) is removed in turn and the drop in the predicted class's
probability is its weight. The page says which.
"""
from __future__ import annotations

import csv
import json
import logging
import re
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kerasclf import attributions
from kerasclf.cli import Parser, entry_point
from kerasclf.errors import UserError
from kerasclf.run import INCOMPLETE, Run, load_run

log = logging.getLogger("kerasclf")

MAX_CHARS = 5000  # longer inputs are cut, with a visible note
SPANS = 60  # at most this many occlusion variants per text: long texts are occluded a span of words at a time
EMPTY = "Type or paste a text to classify."


def newest_run(runs_dir: str | Path = "runs") -> Path:
    """The most recently finished run folder under `runs_dir`."""
    runs = [p for p in Path(runs_dir).glob("*/model.keras") if not p.parent.name.endswith(INCOMPLETE)]
    if not runs:
        raise UserError(f"--runs-dir {runs_dir}: no finished run folder there; train one first with "
                        f"`make train` (or python -m kerasclf.train), or pass --run DIR")
    return max(runs, key=lambda p: p.stat().st_mtime).parent


class Service:
    """What the demo and the API call: input checks, classification and attributions for one run."""

    def __init__(self, run: Run, max_chars: int = MAX_CHARS):
        self.run, self.max_chars = run, max_chars
        # Gradio runs handlers in threads; attributions swap a layer's call on the shared model
        self.lock = threading.Lock()
        self.inputs = run.config.inputs
        self.fields = [(inp.name, c) for inp in self.inputs for c in inp.text_columns]  # (input, column)
        self.labels = [inp.name if not inp.columns else f"{inp.name}: {column}"
                       for inp in self.inputs for column in inp.text_columns]

    # ---------------------------------------------------------------- inputs
    def item(self, values: list[str]) -> tuple[dict | str | None, list[str]]:
        """Textbox values (one per field) -> what Run.predict takes, and notes for the user."""
        notes, cleaned = [], []
        for label, value in zip(self.labels, values):
            value = (value or "").strip()
            if len(value) > self.max_chars:
                notes.append(f"{label}: the text was cut to its first {self.max_chars:,} characters "
                             f"(of {len(value):,}).")
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
                return None, [f"Give a text for {label} (column {column!r})."]
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
        pairs = [inp.name for inp in self.inputs if inp.columns]
        if pairs:
            return None, [f"input {pairs[0]!r} reads a pair of texts; send a dict with its two columns "
                          f"{self.inputs[[i.name for i in self.inputs].index(pairs[0])].columns} (or {pairs[0]!r}: [a, b])"]
        return self.item([str(text)] * len(self.fields))

    # ---------------------------------------------------------------- outputs
    def classify(self, items: list) -> list[dict]:
        with self.lock:
            return self.run.predict(items)

    def attributions(self, item, predicted: int) -> tuple[str, dict[str, list[tuple[str, float]]]]:
        """(method, {input or field: [(token or words, weight in [-1, 1])]}); positive = pushed towards
        `predicted`. Integrated gradients on the token embeddings where the backend gives gradients
        (torch), occlusion of words otherwise."""
        if attributions.available():
            with self.lock:
                raw = attributions.integrated_gradients(self.run, item, predicted)
            out = {}
            for name, pairs in raw.items():
                scale = max((abs(s) for _, s in pairs), default=0.0) or 1.0
                out[name] = [(f"{t} ", round(s / scale, 4)) for t, s in pairs]
            return "integrated gradients on the token embeddings", out
        return "occlusion (each word, or span of words, removed in turn)", self.occlusion(item, predicted)

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
            spans = ["".join(words[i:i + size]) for i in range(0, len(words), size)]
            variants = [self._set(item, name, column, "".join(spans[:i] + spans[i + 1:]) or " ")
                        for i in range(len(spans))]
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
            enc = inp.encoder
            detail = enc.preset if enc.type == "pretrained" else ", ".join(
                f"{k} {v}" for k, v in vars(enc).items() if k in ("embedding_dim", "layers", "window_size",
                                                                  "attention_window", "kernel_sizes", "cell"))
            lines.append(f"- input **{inp.name}** ({', '.join(inp.text_columns)}): `{enc.type}` {detail}, "
                         f"max_length {inp.max_length}")
        t = cfg.train
        lines.append(f"- head {cfg.head.kind} {cfg.head.units}; trained {t.epochs} epochs, batch {t.batch_size}, "
                     f"lr {t.learning_rate} ({t.schedule}), mixup {t.mixup_alpha}")
        metrics_file = self.run.path / "metrics.json"
        if metrics_file.is_file():
            m = json.loads(metrics_file.read_text())
            lines += ["", "| split | accuracy | macro F1 | ROC-AUC |", "|---|---|---|---|"]
            for split in ("validation", "test"):
                s = m.get(split, {})
                auc = f"{s['roc_auc']:.4f}" if "roc_auc" in s else "—"
                lines.append(f"| {split} | {s.get('accuracy', 0):.4f} | {s.get('f1_macro', 0):.4f} | {auc} |")
        return "\n".join(lines)

    def examples(self, right: int = 3, wrong: int = 3) -> list[list[str]]:
        """Texts from the run's test predictions: the most confident right ones and wrong ones."""
        path = self.run.path / "predictions.csv"
        if not path.is_file():
            return []
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        cols = [c for _, c in self.fields]
        if not rows or not set(cols) <= set(rows[0]):
            return []
        first = {cols.index(c) for c in dict.fromkeys(cols)}  # inputs reading one column: fill its first box only

        def confidence(r):
            return max(float(v) for k, v in r.items() if k.startswith("p_"))

        good = sorted((r for r in rows if r["correct"] == "1"), key=confidence, reverse=True)[:right]
        bad = sorted((r for r in rows if r["correct"] == "0"), key=confidence, reverse=True)[:wrong]
        return [[r[c][: self.max_chars] if i in first else "" for i, c in enumerate(cols)] for r in good + bad]


def build_app(run: Run, max_chars: int = MAX_CHARS, concurrency: int = 2):
    """The Gradio Blocks app for `run`, its queue set up (call .launch())."""
    import gradio as gr

    service = Service(run, max_chars)

    def ui_classify(*values):
        item, notes = service.item(list(values))
        if item is None:
            return None, [], "\n".join(notes)
        result = service.classify([item])[0]
        predicted = run.class_names.index(result["label"])
        method, spans = service.attributions(item, predicted)
        highlighted = []
        for label, pairs in spans.items():
            if len(spans) > 1:
                highlighted.append((f"[{label}] ", None))
            highlighted.extend(pairs)
        notes.append(f"Word weights by {method}: red pushed towards **{result['label']}**, blue against it.")
        return result["probabilities"], highlighted, "\n\n".join(notes)

    def classify(text: str | dict) -> dict:
        """Classify one text (a dict of input name -> text for runs with several inputs).
        Returns {"label", "probabilities"}, plus "note" when the text was cut; an empty text gets
        {"label": null, "probabilities": {}, "message": ...}."""
        item, notes = service.item_from_api(text)
        if item is None:
            return {"label": None, "probabilities": {}, "message": notes[0]}
        out = service.classify([item])[0]
        return {**out, "note": " ".join(notes)} if notes else out

    def classify_batch(texts: list) -> list:
        """Classify a list of texts; each result as from /classify."""
        prepared = [service.item_from_api(t) for t in texts]
        valid = [item for item, _ in prepared if item is not None]
        results = iter(service.classify(valid)) if valid else iter(())
        out = []
        for item, notes in prepared:
            if item is None:
                out.append({"label": None, "probabilities": {}, "message": notes[0]})
            else:
                r = next(results)
                out.append({**r, "note": " ".join(notes)} if notes else r)
        return out

    title = f"kerasclf · {run.config.name}"
    with gr.Blocks(title=title) as app:
        gr.Markdown(f"# {title}\nClassify a text with the model of `{run.path.name}`.")
        with gr.Row():
            with gr.Column():
                boxes = [gr.Textbox(label=label, lines=6, max_lines=20, placeholder="A text to classify",
                                    elem_id=f"text-{i}") for i, label in enumerate(service.labels)]
                submit = gr.Button("Classify", variant="primary", elem_id="classify")
            with gr.Column():
                probabilities = gr.Label(label="Class probabilities", elem_id="probabilities")
                method = "integrated gradients" if attributions.available() else "occlusion"
                words = gr.HighlightedText(label=f"Which words mattered ({method})", combine_adjacent=False,
                                           show_legend=False, elem_id="words")
                note = gr.Markdown(elem_id="note")
        examples = service.examples()
        if examples:
            gr.Examples(examples=examples, inputs=boxes, label="From the run's test split (right and wrong)")
        with gr.Accordion("About this run", open=False):
            gr.Markdown(service.facts())
            curves = run.path / "training_curves.png"
            if curves.is_file():
                gr.Image(str(curves), label="Training curves", show_label=True)
        submit.click(ui_classify, boxes, [probabilities, words, note], api_name="classify_ui",
                     api_visibility="undocumented")
        gr.api(classify, api_name="classify")
        gr.api(classify_batch, api_name="classify_batch")
    app.queue(default_concurrency_limit=concurrency)
    return app


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
