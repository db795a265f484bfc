"""Longformer-style encoder (Beltagy et al. 2020): each token attends to its neighbours within
`attention_window // 2` positions on either side; a few global tokens (the first by default)
attend to every token and every token attends to them, with their own query/key/value
projections. Memory and time grow linearly with length for a fixed window.

    encoder: {type: longformer, attention_window: 128, global_tokens: [0], layers: 2, heads: 4}

With `init_from: <BERT checkpoint>` it starts from a BERT-architecture model, as the Longformer
paper started from RoBERTa: the checkpoint's WordPiece vocabulary, sizes and weights (post-norm
blocks, exact GELU); its 512 learned positions repeated up to max_length; the global
query/key/value projections copied from the local ones; [CLS] (position 0) as the global token.

    encoder: {type: longformer, init_from: /path/to/minilm, attention_window: 256, pooling: cls}
"""

from __future__ import annotations

from dataclasses import replace

from kerasclf.checkpoints import config_key, load_checkpoint
from kerasclf.config import InputConfig
from kerasclf.models import transformer
from kerasclf.models.blocks import TransformerBlock
from kerasclf.models.embedding import front_end

__all__ = ["embed", "encode"]


def _options(cfg) -> dict:
    return {"kind": "sliding", "window": cfg.attention_window, "global_positions": cfg.global_tokens}


def embed(ids, inp: InputConfig, vocab_size: int):
    spec = transformer.front_end_spec(inp)
    if inp.checkpoint is None:
        return front_end(ids, inp.name, vocab_size, spec)[:2]
    from kerasclf.models.pretrained import copy_bert  # keras-hub: only when starting from a checkpoint

    hub = _hub(inp)  # its sizes, learned positions (as many as max_length) and BERT's embedding norm
    spec = replace(spec, dim=hub.hidden_dim, positions="learned", norm_epsilon=1e-12, word_dropout=0.0, ngram_buckets=0)
    x, mask, layers = front_end(ids, inp.name, hub.vocabulary_size, spec)
    copy_bert(hub, **layers)  # tokens, positions (repeated, with segment 0 added) and the norm
    return x, mask


def encode(x, mask, inp: InputConfig):
    cfg = inp.encoder
    if inp.checkpoint is None:
        return transformer.encode_with(x, mask, inp, _options(cfg))
    from kerasclf.models.pretrained import copy_bert

    hub, name, blocks = _hub(inp), inp.name, []
    for i in range(hub.num_layers):
        blocks.append(
            TransformerBlock(
                hub.num_heads,
                hub.intermediate_dim,
                cfg.dropout,
                "post",
                norm_epsilon=1e-12,
                name=f"{name}_block{i}",
                **_options(cfg),
            )
        )
        x = blocks[-1](x, mask)
    copy_bert(hub, blocks=blocks)
    return transformer.pool(x, mask, inp)  # cls: the checkpoint's own [CLS], at position 0


def _hub(inp: InputConfig):
    return load_checkpoint(inp.checkpoint, config_key(inp)).backbone
