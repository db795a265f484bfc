"""A Gradio demo and HTTP API for a run folder: classify, show class probabilities and which words mattered.

    python -m kerasclf.demo                      # the newest run under runs/, on http://127.0.0.1:7860
    python -m kerasclf.demo --run runs/imdb_cnn-20261121-101500 --port 8000

API (usable with gradio_client, or plain HTTP):
    /classify        one text (or {input name or column: text} for several inputs) -> {"label", "probabilities"}
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

import logging
import sys

import numpy as np

from kerasclf.cli import Parser, entry_point
from kerasclf.run import Run, load_run
from kerasclf.run_folder import RunFolder
from kerasclf.service import MAX_CHARS, Service, weight_method

log = logging.getLogger("kerasclf")

TOP_WORDS = 100  # longer attributions show these many words of largest weight, unless "Show every word"
MULTILABEL_TOP = 8  # a multilabel run's page shows this many labels' probabilities (the API: all of them)
GAP = ("… ", None)  # stands for the words left out between the strongest ones


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
                results = _results(gr, run)
        _examples(gr, service, boxes)
        _about(gr, service)
        _wire(gr, service, boxes, submit, results)
    app.queue(default_concurrency_limit=concurrency)
    return app


def _results(gr, run: Run) -> dict:
    """The results column, top down: the notes (cuts, hints, the weights' method; multilabel: the
    chosen labels), the class probabilities (multilabel: the most probable labels, each a probability
    of its own), "Show every word" and the words; and the State that keeps a classified text's view."""
    note = gr.Markdown(elem_id="note")
    if run.rule.multilabel:
        top = min(MULTILABEL_TOP, len(run.class_names))
        label, shown = f"The {top} most probable labels (each on its own: they need not sum to 1)", top
    else:
        label, shown = "Class probabilities", None
    probabilities = gr.Label(label=label, num_top_classes=shown, elem_id="probabilities")
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
        curves = service.run.folder.curves
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
        """Classify one text (a dict of input name or column -> text for runs with several inputs).
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
    run = load_run(args.run or RunFolder.newest(args.runs_dir).path)
    app = build_app(run, args.max_chars, args.concurrency)
    print(f"serving {run.path} on http://{args.host}:{args.port}", file=sys.stderr)
    app.launch(server_name=args.host, server_port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
