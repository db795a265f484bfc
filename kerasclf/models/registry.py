"""Encoder `type` -> encoder module. Adding an encoder is one new file and one line here.

An encoder module has two functions, so that mixup can sit between them:
    embed(ids, inp, vocab_size) -> (x, mask)      token ids -> vectors, and the padding mask
    encode(x, mask, inp)        -> features       vectors -> one feature vector per text
(`inp` is the input's InputConfig: its name, max_length and encoder settings.) A module may also have
    PER_CLASS = True                            embed also takes classes=, the number of classes
    adapt(model, inp, ids, labels) -> bool      set weights from the training rows (build_model calls it);
                                                whether this input had any to set
"""

from __future__ import annotations

from types import ModuleType

from kerasclf.models import bow, cnn, local_transformer, longformer, nbsvm, rnn, transformer

ENCODERS: dict[str, ModuleType] = {
    "bow": bow,
    "nbsvm": nbsvm,
    "cnn": cnn,
    "rnn": rnn,
    "transformer": transformer,
    "local_transformer": local_transformer,
    "longformer": longformer,
}


def get(kind: str) -> ModuleType:
    return ENCODERS[kind]
