"""A trained run, loaded: `load_run(dir)` reads a run folder (its layout: kerasclf/run_folder.py)
and classifies new texts with the run's own tokenizers, labels and model; `text_model` does the
same as an array-in, array-out classifier.

    run = kerasclf.load_run("runs/sample_cnn-20261201-212105")
    run.predict(["A wonderful, moving film."])   # [{"label": "pos", "probabilities": {...}}]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np

from kerasclf.config import Config, from_dict, read_yaml
from kerasclf.data.batching import Batches, Split, token_counts
from kerasclf.data.load import encode_texts, load_tokenizer, require_keras_hub
from kerasclf.decision_rule import DecisionRule
from kerasclf.run_folder import RunFolder
from kerasclf.texts import texts_per_input


def predict_logits(
    model: keras.Model, x: dict[str, np.ndarray], batch_size: int = 64, split: Split | None = None
) -> np.ndarray:
    """The model's logits, in the order of x. Texts are batched by length (less padding to run);
    `split` pads the batches (training's evaluation on jax: one compiled shape per length)."""
    n = len(next(iter(x.values())))
    if n == 0:
        return np.zeros((0, model.output_shape[-1]))
    order = np.argsort(token_counts(x), kind="stable")
    batches = Batches({k: v[order] for k, v in x.items()}, None, batch_size, split=split or Split())
    logits = np.asarray(model.predict(batches, verbose=0))[:n]  # jax on several devices: padding rows last
    out = np.empty_like(logits, dtype=np.float64)
    out[order] = logits
    return out


def predict_probs(
    model: keras.Model,
    x: dict[str, np.ndarray],
    batch_size: int = 64,
    split: Split | None = None,
    rule: DecisionRule | None = None,
) -> np.ndarray:
    """Probabilities, in the order of x: softmax (multiclass) or a sigmoid per class (multilabel) of
    the logits divided by the run's temperature (`rule`, decision.json; none: the raw ones)."""
    return (rule or DecisionRule()).probabilities(predict_logits(model, x, batch_size, split))


class Run:
    """A finished run folder, loaded: its config, model, tokenizers and class names.

    `predict(texts)` gives labelled dicts (and screens out texts with no words), `predict_proba(texts)`
    an array of probabilities, `encode(texts)` the model's input arrays. A text is a string, or a
    dict keyed by input name or column for runs with several inputs (kerasclf/texts.py).

    Example:
        >>> run = Run.load("runs/sample_cnn-20261201-212105")  # doctest: +SKIP
        >>> run.predict(["A wonderful, moving film."])[0]["label"]  # doctest: +SKIP
        'pos'
    """

    def __init__(
        self,
        path: Path,
        config: Config,
        model: keras.Model,
        tokenizers: dict,
        class_names: list[str],
        rule: DecisionRule | None = None,
    ):
        self.path, self.config, self.model = path, config, model
        self.tokenizers, self.class_names = tokenizers, class_names
        self.rule = rule or DecisionRule(config.task)  # temperature and thresholds (decision.json)

    @classmethod
    def load(cls, path: str | Path) -> Run:
        folder = RunFolder.finished(path)
        config = from_dict(read_yaml(folder.config))
        require_keras_hub(config)
        tokenizers = {inp.name: load_tokenizer(inp, folder.tokenizer(inp.name)) for inp in config.inputs}
        if any(inp.pretrained for inp in config.inputs):
            from kerasclf.models import pretrained  # noqa: F401  (registers keras-hub's layers)
        model = keras.saving.load_model(folder.model, compile=False, safe_mode=True)
        rule = DecisionRule.load(folder.decision, config.task)
        return cls(folder.path, config, model, tokenizers, folder.class_names(), rule)

    @property
    def folder(self) -> RunFolder:
        """The run folder's files (metrics.json, predictions.csv, ...)."""
        return RunFolder(self.path)

    def encode(self, texts: Sequence[str | Mapping[str, str]]) -> dict[str, np.ndarray]:
        return encode_texts(self.config, self.tokenizers, texts_per_input(self.config, texts))

    def predict_proba(self, texts: Sequence[str | Mapping[str, str]]) -> np.ndarray:
        """Class probabilities, shape (len(texts), classes), for every text as given (no checks for
        empty texts: `predict` makes those)."""
        return predict_probs(self.model, self.encode(texts), self.config.train.batch_size, rule=self.rule)

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
            x = encode_texts(self.config, self.tokenizers, kept)
            probs = predict_probs(self.model, x, self.config.train.batch_size, rule=self.rule)
            chosen = self.rule.chosen(probs)
            notes = self._truncation_notes(kept, x)
            for j, (i, p) in enumerate(zip(keep, probs)):
                results[i] = self._result(p, chosen[j])
                if notes[j]:
                    results[i]["note"] = notes[j]
        return results

    def _result(self, p: np.ndarray, chosen) -> dict:
        """One text's result: its label (multilabel: "labels", every one over its threshold, most
        probable first, and "label" the first of them or None) and every class's probability."""
        out = {"label": None, "probabilities": {c: round(float(v), 6) for c, v in zip(self.class_names, p)}}
        if self.rule.multilabel:
            picked = sorted(np.flatnonzero(chosen), key=lambda j: -p[j])
            out["labels"] = [self.class_names[j] for j in picked]
            out["label"] = out["labels"][0] if picked else None
        else:
            out["label"] = self.class_names[int(chosen)]
        return out

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

    def _truncation_notes(self, per_input: dict[str, list], x: dict[str, np.ndarray]) -> list[str]:
        """Per text, "" or a note naming each input whose text was cut to its max_length. Only a text
        whose ids fill max_length can have been cut: only those are counted again, untruncated."""
        notes = [[] for _ in next(iter(per_input.values()))]
        for inp in self.config.inputs:
            full = np.flatnonzero(x[inp.name][:, -1] != 0)
            if not len(full):
                continue
            lengths = self.tokenizers[inp.name].lengths([per_input[inp.name][j] for j in full])
            unit = "wordpieces" if inp.wordpiece else "tokens"
            for j, n in zip(full, lengths):
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
        batch_size = batch_size or self.run.config.train.batch_size
        return predict_probs(self.model, self.run.encode(texts), batch_size, rule=self.run.rule)

    __call__ = predict


def text_model(run: str | Path | Run | keras.Model, data=None) -> TextModel:
    """A classifier that takes raw strings: from a run folder, or from a model fitted in a notebook.

    Args:
        run: a run folder (path or loaded `Run`), or a `keras.Model` built by `build_model`.
        data: with a model, the `Data` it was trained on (from `load_data`): its config,
            tokenizers and class names.

    Example:
        >>> import kerasclf
        >>> clf = kerasclf.text_model("runs/sample_cnn-20261201-212105")  # doctest: +SKIP
        >>> clf.predict(["A wonderful, moving film."]).shape  # doctest: +SKIP
        (1, 2)
    """
    if isinstance(run, keras.Model):
        if data is None:
            raise TypeError("text_model(model, data): give the Data the model was trained on (from load_data)")
        return TextModel(Run(None, data.config, run, data.tokenizers, data.class_names))
    return TextModel(run if isinstance(run, Run) else Run.load(run))


def load_run(path: str | Path) -> Run:
    """Load a run folder written by `python -m kerasclf.train`: its config, tokenizers, labels and model.

    Args:
        path: the run folder (`runs/<name>-<time>`); a stopped `.incomplete` one, or a folder without
            model.keras, is refused with one line naming what to do.

    Example:
        >>> import kerasclf
        >>> run = kerasclf.load_run("runs/sample_cnn-20261201-212105")  # doctest: +SKIP
        >>> run.predict(["A wonderful, moving film.", ""])  # doctest: +SKIP
        [{'label': 'pos', 'probabilities': {...}}, {'label': None, 'probabilities': {}, 'message': '...'}]
    """
    return Run.load(path)
