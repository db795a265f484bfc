"""RNN encoder: SimpleRNN, LSTM or GRU, optionally bidirectional and stacked, padding masked.

    encoder: {type: rnn, cell: lstm, units: 64, layers: 1, bidirectional: true, pooling: max}

pooling: `last` (final state; the backward direction's final state is at the first token),
`mean` or `max` over the real tokens of the last layer's sequence.
"""

from __future__ import annotations

import keras

from kerasclf.config import InputConfig
from kerasclf.models.embedding import embed
from kerasclf.models.layers import BoolMask, MaskedPool

__all__ = ["embed", "encode"]

CELLS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}


def encode(x, mask, inp: InputConfig):
    cfg, name = inp.encoder, inp.name
    rnn_mask = BoolMask(name=f"{name}_rnn_mask")(mask)
    h = x
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        seq = not (last and cfg.pooling == "last")
        layer = CELLS[cfg.cell](cfg.units, return_sequences=seq, name=f"{name}_{cfg.cell}{i}")
        if cfg.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"{name}_bi{cfg.cell}{i}")
        h = layer(h, mask=rnn_mask)
    if cfg.pooling != "last":
        h = MaskedPool(cfg.pooling, name=f"{name}_pool")(h, mask)
    return keras.layers.Dropout(cfg.dropout, name=f"{name}_dropout")(h) if cfg.dropout else h
