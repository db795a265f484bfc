"""A tiny random BERT checkpoint in Hugging Face's format (config.json, model.safetensors, vocab.txt),
written to a folder so that tests load it through the same code as a real one."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def vocabulary(texts: list[str], size: int = 1500) -> list[str]:
    """Specials, single characters and their ## continuations (so every word splits), frequent words."""
    words = collections.Counter(w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower()))
    chars = sorted({c for w in words for c in w})
    vocab = SPECIALS + chars + [f"##{c}" for c in chars]
    vocab += [w for w, _ in words.most_common(size) if w not in vocab]
    return vocab


def write_tiny_bert(
    folder: Path,
    texts: list[str],
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    positions: int = 128,
    seed: int = 0,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary(texts)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["BertModel"],
                "model_type": "bert",
                "vocab_size": len(vocab),
                "hidden_size": hidden,
                "num_hidden_layers": layers,
                "num_attention_heads": heads,
                "intermediate_size": intermediate,
                "max_position_embeddings": positions,
                "type_vocab_size": 2,
                "hidden_act": "gelu",
                "hidden_dropout_prob": 0.1,
                "attention_probs_dropout_prob": 0.1,
                "layer_norm_eps": 1e-12,
                "pad_token_id": 0,
                "initializer_range": 0.02,
            }
        )
    )
    rng = np.random.default_rng(seed)

    def w(*shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    t = {
        "embeddings.word_embeddings.weight": w(len(vocab), hidden),
        "embeddings.position_embeddings.weight": w(positions, hidden),
        "embeddings.token_type_embeddings.weight": w(2, hidden),
        "embeddings.LayerNorm.weight": 1 + w(hidden),
        "embeddings.LayerNorm.bias": w(hidden),
        "pooler.dense.weight": w(hidden, hidden),
        "pooler.dense.bias": w(hidden),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            t[f"{p}attention.self.{name}.weight"] = w(hidden, hidden)
            t[f"{p}attention.self.{name}.bias"] = w(hidden)
        t[f"{p}attention.output.dense.weight"] = w(hidden, hidden)
        t[f"{p}attention.output.dense.bias"] = w(hidden)
        t[f"{p}intermediate.dense.weight"] = w(intermediate, hidden)
        t[f"{p}intermediate.dense.bias"] = w(intermediate)
        t[f"{p}output.dense.weight"] = w(hidden, intermediate)
        t[f"{p}output.dense.bias"] = w(hidden)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[f"{p}{ln}.weight"] = 1 + w(hidden)
            t[f"{p}{ln}.bias"] = w(hidden)
    save_file(t, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder
