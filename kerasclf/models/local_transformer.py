"""Local-window transformer (EIR's windowed model): attention only inside windows of
`window_size` tokens, so a 2,048-token review costs what 32 windows of 64 cost, not 2,048².

    encoder: {type: local_transformer, window_size: 64, overlap: true, layers: 2, heads: 4}

With `overlap`, each window also sees half a window on either side, so information crosses
window edges in every layer.
"""

from __future__ import annotations

from kerasclf.config import InputConfig
from kerasclf.models.transformer import embed, encode_with

__all__ = ["embed", "encode"]


def encode(x, mask, inp: InputConfig):
    cfg = inp.encoder
    return encode_with(x, mask, inp, {"kind": "window", "window": cfg.window_size, "overlap": cfg.overlap})
