"""Every use of a private API in kerasclf, in one place, each with the public alternative and why
it is not enough. Nothing else in the package may import `keras.src`, `keras_hub.src`, or call
a torch function whose name starts with an underscore.

The versions these are tested with are pinned in pyproject.toml (keras, keras-hub): a new
release may move what is used here, and this module is where to look first.
"""

from __future__ import annotations


# ---------------------------------------------------------------- keras-hub
def bert_layer_parts(layer) -> dict:
    """The sub-layers of a keras-hub `TransformerEncoder` (one BERT layer), by role:
    query, key, value, output (EinsumDense), attention_norm, ff1, ff2, ff_norm.

    Public alternative: `layer.get_weights()` gives the same weights as one flat list, in an order
    keras-hub does not document; these attribute names are the layer's own (keras-hub 0.20-0.32)."""
    attention = layer._self_attention_layer
    return {
        "query": attention.query_dense,
        "key": attention.key_dense,
        "value": attention.value_dense,
        "output": attention.output_dense,
        "attention_norm": layer._self_attention_layer_norm,
        "ff1": layer._feedforward_intermediate_dense,
        "ff2": layer._feedforward_output_dense,
        "ff_norm": layer._feedforward_layer_norm,
    }


def preset_file(preset: str, name: str) -> str:
    """The local path of file `name` of a keras-hub preset (a preset name, hf:// or kaggle:// id),
    downloaded when needed; raises FileNotFoundError, ValueError or OSError when it is not there.

    Public alternative: `keras_hub.models.BertBackbone.from_preset` reads the weights, but there is
    no public call for the other files of a preset (vocab.txt, tokenizer_config.json), which
    kerasclf reads to build its own WordPiece tokenizer."""
    from keras_hub.src.utils.preset_utils import get_file

    return get_file(preset, name)
