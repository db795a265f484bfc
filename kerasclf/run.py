"""The run folder: what training writes, and `load_run` to read it back and classify.

    runs/<name>-<YYYYmmdd-HHMMSS>/
      config.yaml             the resolved config (reloads to the same model)
      model.keras             the best weights, no optimizer state (Keras native format, safe_mode=True)
      tokenizers/<input>.json the vocabulary and settings each input was trained with
      labels.json             class names, index order
      history.csv             per-epoch train and validation loss/accuracy/f1_macro
      metrics.json            {"validation": {...}, "test": {...}}
      training_curves.png, confusion_matrix.png, predictions.csv (the test split)

While training, the folder is `<name>-<time>.incomplete`; it is renamed when every file is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from kerasclf.config import Config, from_dict, read_yaml
from kerasclf.data.batching import Batches, token_counts
from kerasclf.data.load import encode_input, load_tokenizer, require_keras_hub, uses_wordpiece
from kerasclf.errors import UserError
from kerasclf.texts import texts_per_input

INCOMPLETE = ".incomplete"


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict_probs(model: keras.Model, x: dict[str, np.ndarray], batch_size: int = 64) -> np.ndarray:
    """Class probabilities, in the order of x. Texts are batched by length (less padding to run)."""
    n = len(next(iter(x.values())))
    if n == 0:
        return np.zeros((0, model.output_shape[-1]))
    order = np.argsort(token_counts(x), kind="stable")
    logits = np.asarray(model.predict(Batches({k: v[order] for k, v in x.items()}, None, batch_size), verbose=0))
    out = np.empty_like(logits, dtype=np.float64)
    out[order] = logits
    return softmax(out)


class Run:
    """A finished run folder, loaded: `Run.load(dir).predict(["a text", ...])`."""

    def __init__(self, path: Path, config: Config, model: keras.Model, tokenizers: dict, class_names: list[str]):
        self.path, self.config, self.model = path, config, model
        self.tokenizers, self.class_names = tokenizers, class_names

    @classmethod
    def load(cls, path: str | Path) -> Run:
        path = Path(path)
        if not (path / "model.keras").is_file():
            hint = " (training did not finish; resume it with --resume)" if path.name.endswith(INCOMPLETE) else ""
            raise UserError(
                f"--run {path}: no model.keras there; expected a run folder written by kerasclf.train{hint}"
            )
        config = from_dict(read_yaml(path / "config.yaml"))
        require_keras_hub(config)
        tokenizers = {inp.name: load_tokenizer(inp, path / "tokenizers" / f"{inp.name}.json") for inp in config.inputs}
        class_names = json.loads((path / "labels.json").read_text())
        if any(inp.encoder.type == "pretrained" for inp in config.inputs):
            from kerasclf.models import pretrained  # noqa: F401  (registers keras-hub's layers)
        model = keras.saving.load_model(path / "model.keras", compile=False, safe_mode=True)
        return cls(path, config, model, tokenizers, class_names)

    def encode(self, texts: Sequence[str | Mapping[str, str]]) -> dict[str, np.ndarray]:
        per_input = texts_per_input(self.config, texts)
        out = {}
        for inp in self.config.inputs:
            out.update(encode_input(inp, self.tokenizers[inp.name], per_input[inp.name]))
        return out

    def predict_proba(self, texts: Sequence[str | Mapping[str, str]]) -> np.ndarray:
        """Class probabilities, shape (len(texts), classes), for every text as given (no checks for
        empty texts: `predict` makes those)."""
        return predict_probs(self.model, self.encode(texts), self.config.train.batch_size)

    def predict(self, texts: Sequence[str | Mapping[str, str]]) -> list[dict]:
        """One result per text: {"label": name, "probabilities": {class: p}}, plus "note" when a text
        was cut to its input's max_length. A text with no words to read (empty, or only punctuation or
        HTML tags) is not classified: {"label": None, "probabilities": {}, "message": why}."""
        if isinstance(texts, (str, Mapping)):
            texts = [texts]
        per_input = texts_per_input(self.config, texts)
        results: list[dict | None] = [None] * len(texts)
        for i in range(len(texts)):
            message = self._nothing_to_read(per_input, i)
            if message:
                results[i] = {"label": None, "probabilities": {}, "message": message}
        keep = [i for i, r in enumerate(results) if r is None]
        if keep:
            kept = {name: [values[i] for i in keep] for name, values in per_input.items()}
            x = {}
            for inp in self.config.inputs:
                x.update(encode_input(inp, self.tokenizers[inp.name], kept[inp.name]))
            probs = predict_probs(self.model, x, self.config.train.batch_size)
            notes = self._truncation_notes(kept)
            for j, (i, p) in enumerate(zip(keep, probs)):
                results[i] = {
                    "label": self.class_names[int(p.argmax())],
                    "probabilities": {c: round(float(v), 6) for c, v in zip(self.class_names, p)},
                }
                if notes[j]:
                    results[i]["note"] = notes[j]
        return results

    def _nothing_to_read(self, per_input: dict[str, list], i: int) -> str | None:
        """Why text i cannot be classified (an input with no words), or None."""
        for inp in self.config.inputs:
            value = per_input[inp.name][i]
            parts = value if isinstance(value, tuple) else (value,)
            if not all(has_words(p, inp.tokenizer.strip_html) for p in parts):
                which = f" for input {inp.name!r}" if len(self.config.inputs) > 1 else ""
                return (
                    f"no words to classify{which}: the text is empty or holds only punctuation or "
                    "markup; give a text with words in it"
                )
        return None

    def _truncation_notes(self, per_input: dict[str, list]) -> list[str]:
        """Per text, "" or a note naming each input whose text was cut to its max_length."""
        notes = [[] for _ in next(iter(per_input.values()))]
        for inp in self.config.inputs:
            lengths = self.tokenizers[inp.name].lengths(per_input[inp.name])
            unit = "wordpieces" if uses_wordpiece(inp) else "tokens"
            for j, n in enumerate(lengths):
                if n > inp.max_length:
                    which = f"{inp.name}: " if len(self.config.inputs) > 1 else ""
                    notes[j].append(
                        f"{which}the text was cut to {inp.max_length:,} {unit} of {int(n):,} "
                        f"(truncation: {inp.tokenizer.truncation}); the rest was not read"
                    )
        return ["; ".join(n) for n in notes]


def has_words(text: str, strip_html: bool = True) -> bool:
    """Whether `text` holds a letter or digit outside HTML tags (what the tokenizers can read)."""
    if strip_html:
        text = _TAG.sub(" ", text)
    return _WORD.search(text) is not None


_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"[^\W_]")


class TextModel:
    """A trained classifier that takes raw strings, as a keras.Model takes arrays:

        clf = kerasclf.text_model("runs/sample_cnn-...")       # or text_model(model, data) in a notebook
        clf.predict(["A wonderful, moving film."])              # array (texts, classes) of probabilities
        clf.class_names                                         # ['neg', 'pos']

    It tokenizes with the run's own tokenizers and batches by length; `Run.predict` gives labelled
    dicts (and screens out texts with no words) instead of an array.
    """

    def __init__(self, run: Run):
        self.run = run
        self.model, self.class_names = run.model, run.class_names

    def predict(self, texts: Sequence[str | Mapping[str, str]], batch_size: int | None = None) -> np.ndarray:
        if isinstance(texts, (str, Mapping)):
            texts = [texts]
        return predict_probs(self.model, self.run.encode(texts), batch_size or self.run.config.train.batch_size)

    __call__ = predict


def text_model(run: str | Path | Run | keras.Model, data=None) -> TextModel:
    """`text_model(run_dir)`, or `text_model(model, data)` for a model built and fitted in a notebook
    (`data` from `load_data`: its config, tokenizers and class names)."""
    if isinstance(run, keras.Model):
        if data is None:
            raise TypeError("text_model(model, data): give the Data the model was trained on (from load_data)")
        return TextModel(Run(None, data.config, run, data.tokenizers, data.class_names))
    return TextModel(run if isinstance(run, Run) else Run.load(run))


def load_run(path: str | Path) -> Run:
    """Load a run folder written by `python -m kerasclf.train`."""
    return Run.load(path)
