"""Self-attention in three shapes, in keras.ops (torch, jax and tensorflow backends), with a torch fast path.

All functions take q, k, v of shape (batch, heads, length, head_dim) and a key mask (batch, length)
with 1.0 at real tokens, and return (batch, heads, length, head_dim).

- `full_attention`: every token attends to every real token (length x length scores).
- `window_attention`: tokens attend only within their window of `window` tokens (block-diagonal);
  with `overlap`, a window also sees the half window on each side. Scores are
  (length / window) blocks of window x window (x2 with overlap): linear in length.
- `sliding_attention` (Longformer, Beltagy et al. 2020): each token attends to the tokens within
  `window // 2` positions on either side and to the global tokens; the global tokens attend to
  every token, with their own projections. Computed in blocks of window // 2 against the block
  and its two neighbours, so scores take 3 * length * window / 2 numbers, never length x length.

On the torch backend all three take a fast path behind `TORCH_FAST_PATH`: the same blocks go
through torch's fused scaled_dot_product_attention (`_torch_sdpa`), which never materialises the
scores for the backward pass; full attention with attention dropout uses a manual path with a
cheaper mask. The portable keras.ops path is kept and tested against the same references.
"""

from __future__ import annotations

import math

import keras
from keras import ops

NEG = -1e9  # added to the scores of keys that may not be attended


def _pad_length(x, multiple: int, axis: int, length: int):
    """Pad axis `axis` (of static size `length`, taken from q: a traced mask may not know it)."""
    extra = (-length) % multiple
    if extra == 0:
        return x
    widths = [(0, 0)] * len(x.shape)
    widths[axis] = (0, extra)
    return ops.pad(x, widths)


def _tensors(*xs):
    return [None if x is None else ops.convert_to_tensor(x) for x in xs]


TORCH_FAST_PATH = True  # tests turn it off to compare with the portable path


def full_attention(q, k, v, key_mask, dropout: float = 0.0, seed=None):
    """`dropout` > 0 drops attention probabilities (pass 0 outside training); `seed`: a SeedGenerator."""
    q, k, v, key_mask = _tensors(q, k, v, key_mask)
    if TORCH_FAST_PATH and keras.backend.backend() == "torch":
        return _torch_full_attention(q, k, v, key_mask, dropout)
    scale = 1.0 / math.sqrt(q.shape[-1])
    scores = ops.einsum("bhqd,bhkd->bhqk", q, k) * scale
    scores = scores + (1.0 - key_mask[:, None, None, :]) * NEG
    weights = ops.softmax(scores, axis=-1)
    if dropout:
        weights = keras.random.dropout(weights, dropout, seed=seed)
    return ops.einsum("bhqk,bhkd->bhqd", weights, v)


def _torch_full_attention(q, k, v, key_mask, dropout: float):
    """The same as the portable path, in torch: the fused kernel without dropout (about 6x faster
    forward and backward on CPU at 256 tokens), and with dropout a manual path whose keep mask
    comes from random integer bits (torch's dropout draws through bernoulli, slow on CPU)."""
    import torch

    allowed = key_mask[:, None, None, :] > 0.5
    if not dropout:
        return _torch_sdpa(q, k, v, allowed)
    allowed = allowed | ~allowed.any(
        dim=-1, keepdim=True
    )  # no real key at all (an empty text): no NaN; the row is never used
    b, h, length, d = q.shape
    # the mask goes in as the bias of one batched matmul, the scale on q: no extra pass over the scores
    bias = torch.zeros(allowed.shape, dtype=q.dtype, device=q.device).masked_fill_(~allowed, NEG)
    bias = bias.expand(b, h, 1, length).reshape(b * h, 1, length)
    scores = torch.baddbmm(
        bias, (q * (1.0 / math.sqrt(d))).reshape(b * h, length, d), k.reshape(b * h, length, d).transpose(1, 2)
    )
    weights = torch.softmax(scores, dim=-1).masked_fill(~_keep_mask(scores.shape, dropout, q.device), 0.0)
    out = torch.bmm(weights, v.reshape(b * h, length, d)) * (1.0 / (1.0 - dropout))  # rescale the smaller tensor
    return out.reshape(b, h, length, d)


def _torch_sdpa(q, k, v, allowed):
    """torch's fused attention over any leading axes: q (..., Lq, d), k and v (..., Lk, d), `allowed`
    booleans broadcastable to (..., Lq, Lk). CPU's fused kernel takes 4-d tensors: 5-d blocks
    (B, H, n, s, d) are moved to (B * n, H, s, d), with the mask's head axis kept at 1.
    Rows without any allowed key (padding) attend to all keys instead of giving NaN; callers never use them."""
    import torch

    allowed = allowed | ~allowed.any(dim=-1, keepdim=True)
    if q.dim() == 4:
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    b, h, n = q.shape[:3]

    def fold(x):  # (B, H, n, s, d) -> (B * n, H, s, d)
        x = x.expand(b, x.shape[1], n, *x.shape[3:])
        return x.transpose(1, 2).reshape(b * n, x.shape[1], *x.shape[3:])

    out = torch.nn.functional.scaled_dot_product_attention(fold(q), fold(k), fold(v), attn_mask=fold(allowed))
    return out.reshape(b, n, h, *out.shape[2:]).transpose(1, 2)


def _fast() -> bool:
    return TORCH_FAST_PATH and keras.backend.backend() == "torch"


def _keep_mask(shape, rate: float, device):
    """A boolean mask keeping each element with probability 1 - rate (to 1/32768), from the global
    torch generator (so keras.utils.set_random_seed makes it repeatable)."""
    import torch

    numel = math.prod(shape)
    words = torch.empty((numel + 1) // 2, dtype=torch.int32, device=device).random_()  # 31 random bits each
    halves = words.view(torch.int16)[:numel].view(shape)  # each half has at least 15 random low bits
    return (halves & 0x7FFF) >= round(rate * 32768)


def _blocks(x, size: int):
    """(B, H, L, d) with L a multiple of size -> (B, H, L // size, size, d)."""
    b, h, length, d = x.shape
    return ops.reshape(x, (-1, h, length // size, size, d))


def _neighbours(blocks, parts: int):
    """Concatenate each block with its neighbours along the token axis.

    blocks: (B, H, n, s, d). parts=3 gives blocks i-1, i, i+1 (3s tokens); the missing
    neighbours at both ends are zeros (and masked by the caller's key mask, which is 0 there).
    """
    padded = ops.pad(blocks, [(0, 0), (0, 0), (1, 1), (0, 0), (0, 0)])
    n = blocks.shape[2]
    return ops.concatenate([padded[:, :, i : i + n] for i in range(parts)], axis=3)


def window_attention(q, k, v, key_mask, window: int, overlap: bool = False):
    q, k, v, key_mask = _tensors(q, k, v, key_mask)
    length = q.shape[2]
    size = window // 2 if overlap else window
    q, k, v = (_pad_length(t, window, 2, length) for t in (q, k, v))
    m = _pad_length(key_mask, window, 1, length)[:, None, :, None]  # (B, 1, Lp, 1): a "head_dim" of 1
    scale = 1.0 / math.sqrt(q.shape[-1])
    qw = _blocks(q, window)
    if overlap:
        # half-windows: window i is half-blocks 2i and 2i+1 and also sees 2i-1 and 2i+2
        kh, vh, mh = _blocks(k, size), _blocks(v, size), _blocks(m, size)
        n = kh.shape[2]

        def widen(x):
            padded = ops.pad(x, [(0, 0), (0, 0), (1, 1), (0, 0), (0, 0)])
            left = ops.reshape(padded[:, :, 0:n], (-1, x.shape[1], n // 2, window, x.shape[-1]))
            right = ops.reshape(padded[:, :, 2 : n + 2], (-1, x.shape[1], n // 2, window, x.shape[-1]))
            return ops.concatenate([left, right], axis=3)

        kw, vw, mw = widen(kh), widen(vh), widen(mh)
    else:
        kw, vw, mw = _blocks(k, window), _blocks(v, window), _blocks(m, window)
    if _fast():
        out = _torch_sdpa(qw, kw, vw, ops.swapaxes(mw, -1, -2) > 0.5)
    else:
        scores = ops.einsum("bhnqd,bhnkd->bhnqk", qw, kw) * scale
        scores = scores + (1.0 - ops.swapaxes(mw, -1, -2)) * NEG  # mw: (B, 1, n, keys, 1) -> (B, 1, n, 1, keys)
        out = ops.einsum("bhnqk,bhnkd->bhnqd", ops.softmax(scores, axis=-1), vw)
    return ops.reshape(out, (-1, out.shape[1], out.shape[2] * window, out.shape[-1]))[:, :, :length]


def sliding_attention(q, k, v, key_mask, window: int, global_positions, qg=None, kg=None, vg=None):
    """Longformer-style attention. `global_positions` is a list of token positions (ints);
    qg, kg, vg are the global projections of the same tokens (default: q, k, v)."""
    q, k, v, key_mask, qg, kg, vg = _tensors(q, k, v, key_mask, qg, kg, vg)
    length = q.shape[2]
    half = max(window // 2, 1)
    scale = 1.0 / math.sqrt(q.shape[-1])
    glob = sorted({int(p) for p in global_positions if 0 <= int(p) < length})

    qp, kp, vp = (_pad_length(t, half, 2, length) for t in (q, k, v))
    padded_length = qp.shape[2]
    mp = _pad_length(key_mask, half, 1, length)
    is_global = ops.zeros((padded_length,), dtype=q.dtype)
    if glob:
        is_global = ops.sum(ops.one_hot(ops.array(glob), padded_length, dtype=q.dtype), axis=0)
    # keys of the band: each block of `half` queries sees its block and both neighbours
    kb = _neighbours(_blocks(kp, half), 3)
    vb = _neighbours(_blocks(vp, half), 3)
    # mask of the band keys: real tokens, not global (those come in through the global part once)
    local_ok = mp * (1.0 - is_global[None, :])
    mb = _neighbours(_blocks(local_ok[:, None, :, None], half), 3)  # (B, 1, n, 3*half, 1)
    # |query - key| <= half, as a fixed (half, 3*half) pattern: key c of block i-1.. is at (c - half) - r
    r = ops.arange(half)[:, None]
    c = ops.arange(3 * half)[None, :]
    band = ops.cast(ops.abs(c - half - r) <= half, q.dtype)  # (half, 3*half)
    allowed = ops.swapaxes(mb, -1, -2) * band  # (B, 1, n, half, 3*half)
    qb = _blocks(qp, half)
    if _fast():
        out = _torch_sliding_blocks(qb, kb, vb, allowed, kp, vp, mp, glob)
    else:
        out = _sliding_blocks(qb, kb, vb, allowed, kp, vp, mp, glob, scale)
    out = ops.reshape(out, (-1, out.shape[1], padded_length, out.shape[-1]))[:, :, :length]
    if not glob:
        return out
    # the global tokens' own rows: attend to every real token with the global projections
    qg, kg, vg = (q if qg is None else qg), (k if kg is None else kg), (v if vg is None else vg)
    idx = ops.array(glob)
    q_glob = ops.take(qg, idx, axis=2)  # (B, H, G, d)
    if _fast():
        g_out = _torch_sdpa(q_glob, kg, vg, key_mask[:, None, None, :] > 0.5)
    else:
        g_rows = ops.einsum("bhgd,bhkd->bhgk", q_glob, kg) * scale + (1.0 - key_mask[:, None, None, :]) * NEG
        g_out = ops.einsum("bhgk,bhkd->bhgd", ops.softmax(g_rows, axis=-1), vg)
    onehot = ops.one_hot(idx, length, dtype=out.dtype)  # (G, L): linear in length
    keep = 1.0 - ops.sum(onehot, axis=0)
    return out * keep[None, None, :, None] + ops.einsum("bhgd,gl->bhld", g_out, onehot)


def _sliding_blocks(qb, kb, vb, allowed, kp, vp, mp, glob, scale):
    """Each block of queries against its band of keys and the global keys (portable path)."""
    scores = ops.einsum("bhnqd,bhnkd->bhnqk", qb, kb) * scale + (1.0 - allowed) * NEG
    if glob:
        idx = ops.array(glob)
        k_glob, v_glob = ops.take(kp, idx, axis=2), ops.take(vp, idx, axis=2)  # (B, H, G, d)
        m_glob = ops.take(mp, idx, axis=1)  # (B, G)
        g_scores = ops.einsum("bhnqd,bhgd->bhnqg", qb, k_glob) * scale
        g_scores = g_scores + (1.0 - m_glob[:, None, None, None, :]) * NEG
        weights = ops.softmax(ops.concatenate([scores, g_scores], axis=-1), axis=-1)
        band_keys = kb.shape[3]
        out = ops.einsum("bhnqk,bhnkd->bhnqd", weights[..., :band_keys], vb)
        return out + ops.einsum("bhnqg,bhgd->bhnqd", weights[..., band_keys:], v_glob)
    return ops.einsum("bhnqk,bhnkd->bhnqd", ops.softmax(scores, axis=-1), vb)


def _torch_sliding_blocks(qb, kb, vb, allowed, kp, vp, mp, glob):
    """The same in one fused call: the global keys are appended to every block's band of keys."""
    import torch

    allowed = allowed > 0.5  # (B, 1, n, half, 3 * half)
    if glob:
        b, h, n, half = qb.shape[:4]
        idx = torch.as_tensor(glob, device=kp.device)
        k_glob, v_glob = kp[:, :, idx], vp[:, :, idx]  # (B, H, G, d)
        kb = torch.cat([kb, k_glob[:, :, None].expand(b, h, n, len(glob), kp.shape[-1])], dim=3)
        vb = torch.cat([vb, v_glob[:, :, None].expand(b, h, n, len(glob), vp.shape[-1])], dim=3)
        m_glob = (mp[:, idx] > 0.5)[:, None, None, None, :].expand(b, 1, n, half, len(glob))
        allowed = torch.cat([allowed, m_glob], dim=-1)
    return _torch_sdpa(qb, kb, vb, allowed)
