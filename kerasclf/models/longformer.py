"""Longformer-style encoder (Beltagy et al. 2020): each token attends to its neighbours within
`attention_window // 2` positions on either side; a few global tokens (the first by default)
attend to every token and every token attends to them, with their own query/key/value
projections. Memory and time grow linearly with length for a fixed window.

    encoder: {type: longformer, attention_window: 128, global_tokens: [0], layers: 2, heads: 4}
"""
from __future__ import annotations

from kerasclf.config import InputConfig
from kerasclf.models.transformer import embed, encode_with

__all__ = ["embed", "encode"]


def encode(x, mask, inp: InputConfig):
    cfg = inp.encoder
    return encode_with(x, mask, inp, {"kind": "sliding", "window": cfg.attention_window,
                                      "global_positions": cfg.global_tokens})
