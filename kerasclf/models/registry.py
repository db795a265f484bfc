"""Encoder `type` -> encoder module. Adding an encoder is one new file and one line here.

An encoder module has two functions, so that mixup can sit between them:
    embed(ids, cfg, vocab_size, name) -> (x, mask)      token ids -> vectors, and the padding mask
    encode(x, mask, cfg, name)        -> features       vectors -> one feature vector per text
"""
from __future__ import annotations

from types import ModuleType

from kerasclf.models import cnn, rnn

ENCODERS: dict[str, ModuleType] = {"cnn": cnn, "rnn": rnn}


def get(kind: str) -> ModuleType:
    return ENCODERS[kind]
