"""Which tokens pushed a prediction: integrated gradients on the token embeddings (Sundararajan et al. 2017).

    scores = integrated_gradients(run, "A wonderful film.", target=1)   # {input name: [(token, score), ...]}

For each input, the embedding of every token is scaled from 0 (the baseline) to its value in
`steps` steps; the gradients of the target class's logit along that path, averaged and multiplied
by the embedding, give each token's share of logit(text) - logit(baseline) (completeness; a test
checks it). The embeddings are those after the token lookup: `<input>_embedding` for the
from-scratch encoders (`<input>_token_and_ngram` where n-gram vectors are added, so the vector of a
word pair or triple is scaled too and credited to its last word), a pretrained backbone's `token_embedding`
(positions and segments stay).

Gradients need the torch backend (the default); `available()` says whether they can be had, and
the demo falls back to occlusion where they cannot.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np

from kerasclf.data.batching import trim
from kerasclf.data.wordpiece import WordPieceTokenizer


def available() -> bool:
    return keras.backend.backend() == "torch"


def embedding_layer(model: keras.Model, name: str):
    """The token-lookup layer of input `name` in a model built by kerasclf."""
    for owner in (model, _sub(model, "core"), _sub(model, f"{name}_backbone")):
        if owner is None:
            continue
        for layer_name in (f"{name}_token_and_ngram", f"{name}_embedding", "token_embedding"):
            try:
                return owner.get_layer(layer_name)
            except ValueError:
                continue
    raise ValueError(f"no token embedding layer for input {name!r}")


def _sub(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


@contextlib.contextmanager
def _scaled_embeddings(layers: dict, alphas):
    """While active, each layer's output is alphas[i] * embedding for batch row i (a leaf tensor
    that keeps its gradient); yields {name: (embedding, scaled)} filled by the forward pass.
    It swaps the layers' `call` on the shared model: callers that serve requests in threads must
    hold one lock around this and every other use of the model (the demo's Service does)."""
    seen = {}

    def patch(name, layer):
        original = layer.call

        def call(inputs, *args, **kwargs):
            emb = original(inputs, *args, **kwargs).detach()
            scaled = (alphas.reshape(-1, 1, 1).to(device=emb.device, dtype=emb.dtype) * emb).requires_grad_(True)
            seen[name] = (emb, scaled)
            return scaled

        layer.call = call

    for name, layer in layers.items():
        patch(name, layer)
    try:
        yield seen
    finally:
        for layer in layers.values():
            del layer.call  # back to the class's own call


def integrated_gradients(
    run, item, target: int, steps: int = 16, specials: bool = False
) -> dict[str, list[tuple[str, float]]]:
    """{input name: [(token, attribution), ...]} for one item (a text, or a dict for several inputs).
    WordPiece's [CLS] and [SEP] are left out unless `specials` (they carry a share of the total)."""
    import torch

    x = trim(run.encode([item]))
    names = [inp.name for inp in run.config.inputs]
    layers = {n: embedding_layer(run.model, n) for n in names}
    alphas = torch.tensor((np.arange(steps) + 0.5) / steps, dtype=torch.float32)
    batch = {k: np.repeat(v, steps, axis=0) for k, v in x.items()}
    with _scaled_embeddings(layers, alphas) as seen, torch.enable_grad():
        logits = run.model(batch, training=False)
        grads = torch.autograd.grad(logits[:, target].sum(), [seen[n][1] for n in names])
    out = {}
    for name, grad in zip(names, grads):
        emb = seen[name][0][0]  # the real embeddings (alpha applies per row; row 0's input is the text)
        scores = (emb * grad.mean(dim=0)).float().sum(dim=-1).detach().cpu().numpy()  # float32: numpy has no bfloat16
        out[name] = _tokens(run.tokenizers[name], x[name][0], scores, specials)
    return out


def baseline_gap(run, item, target: int) -> float:
    """logit(text) - logit(all embeddings zero): what the attributions of all inputs add up to."""
    import torch

    x = trim(run.encode([item]))
    layers = {inp.name: embedding_layer(run.model, inp.name) for inp in run.config.inputs}
    with _scaled_embeddings(layers, torch.tensor([1.0, 0.0])):
        logits = run.model({k: np.repeat(v, 2, axis=0) for k, v in x.items()}, training=False)
    logits = keras.ops.convert_to_numpy(logits)
    return float(logits[0, target] - logits[1, target])


def _tokens(tokenizer, ids: np.ndarray, scores: np.ndarray, specials: bool = False) -> list[tuple[str, float]]:
    """(token, score) for the real tokens; WordPiece continuations (##) join their word, specials drop."""
    out: list[tuple[str, float]] = []
    for i, s in zip(ids, scores):
        if int(i) == 0:
            continue
        token = tokenizer.tokenizer.id_to_token(int(i)) or "[UNK]"
        if isinstance(tokenizer, WordPieceTokenizer):
            if token in ("[CLS]", "[SEP]") and not specials:
                continue
            if token.startswith("##") and out:
                out[-1] = (out[-1][0] + token[2:], out[-1][1] + float(s))
                continue
        out.append((token, float(s)))
    return out
