"""Self-attention in three shapes, in keras.ops (torch, jax and tensorflow backends), with a fused fast path.

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

Each takes `fast` (default True; production code never sets it). The fast path goes through
`keras.ops.dot_product_attention`, which on torch is the fused scaled_dot_product_attention kernel
(it never materialises the scores for the backward pass); window and sliding blocks are folded into
the batch axis for it, since it takes 4-d inputs only. Full attention with attention dropout, which
that op does not offer, takes a torch path in kerasclf/backend_fast.py on the torch backend (`_attend`
is the one place that calls it). `fast=False` is the portable keras.ops path that materialises the
scores, as the textbook algorithm does: the reference the fast path is tested against.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from kerasclf import backend_fast

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


def _attend(q, k, v, allowed, fast: bool, dropout: float = 0.0, seed=None):
    """softmax(q k^T / sqrt(d), masked to `allowed`) v, with dropout on the probabilities when
    `dropout` > 0 (`seed`: a SeedGenerator). q (..., Lq, d), k and v (..., Lk, d) over 4 or 5 axes;
    `allowed`: booleans broadcastable to (..., Lq, Lk). Rows without any allowed key (padding) give
    finite values that callers never use."""
    if fast and not dropout and keras.backend.backend() != "tensorflow":
        # not on TensorFlow: its CPU build (oneDNN) has no boolean kernels without AVX-512 and warns on
        # every call with a mask; there the portable path runs, as it did before this op was used
        return _dot_product_attention(q, k, v, allowed)
    if fast and keras.backend.backend() == "torch":
        # keras.ops.dot_product_attention has no dropout; see backend_fast for why not torch's own
        return backend_fast.torch_dropout_attention(q, k, v, allowed, dropout)
    return _portable_attend(q, k, v, allowed, dropout, seed)


def _dot_product_attention(q, k, v, allowed):
    """`keras.ops.dot_product_attention` in this module's layout: it takes (batch, length, heads,
    dim), so the head axis is swapped in and out (views on torch: no copy), and 4-d inputs only, so
    5-d blocks (B, H, n, s, d) are folded to (B * n, H, s, d), the mask's head axis kept at 1.
    Its boolean mask becomes a finite large negative bias: rows without any allowed key give no NaN."""
    if len(q.shape) == 5:
        batch, n = ops.shape(q)[0], q.shape[2]
        allowed = ops.broadcast_to(allowed, (batch, allowed.shape[1], n, *allowed.shape[3:]))
        out = _dot_product_attention(*(_fold(x) for x in (q, k, v, allowed)))  # (B * n, H, s, d)
        return ops.swapaxes(ops.reshape(out, (-1, n, *out.shape[1:])), 1, 2)
    q, k, v = (ops.swapaxes(x, 1, 2) for x in (q, k, v))
    return ops.swapaxes(ops.dot_product_attention(q, k, v, mask=allowed), 1, 2)


def _fold(x):
    """(B, H, n, s, d) -> (B * n, H, s, d)."""
    return ops.reshape(ops.swapaxes(x, 1, 2), (-1, x.shape[1], *x.shape[3:]))


def _portable_attend(q, k, v, allowed, dropout: float = 0.0, seed=None):
    """`_attend` in keras.ops einsums: the scores are materialised."""
    lead = "zyx"[: len(q.shape) - 2]
    scores = ops.einsum(f"{lead}qd,{lead}kd->{lead}qk", q, k) * (1.0 / math.sqrt(q.shape[-1]))
    scores = scores + ops.cast(ops.where(allowed, 0.0, NEG), scores.dtype)
    weights = ops.softmax(scores, axis=-1)
    if dropout:
        weights = keras.random.dropout(weights, dropout, seed=seed)
    return ops.einsum(f"{lead}qk,{lead}kd->{lead}qd", weights, v)


def full_attention(q, k, v, key_mask, dropout: float = 0.0, seed=None, fast: bool = True):
    """`dropout` > 0 drops attention probabilities (pass 0 outside training); `seed`: a SeedGenerator."""
    q, k, v, key_mask = _tensors(q, k, v, key_mask)
    return _attend(q, k, v, key_mask[:, None, None, :] > 0.5, fast, dropout, seed)


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


def window_attention(q, k, v, key_mask, window: int, overlap: bool = False, fast: bool = True):
    q, k, v, key_mask = _tensors(q, k, v, key_mask)
    length = q.shape[2]
    size = window // 2 if overlap else window
    q, k, v = (_pad_length(t, window, 2, length) for t in (q, k, v))
    m = _pad_length(key_mask, window, 1, length)[:, None, :, None]  # (B, 1, Lp, 1): a "head_dim" of 1
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
    out = _attend(qw, kw, vw, ops.swapaxes(mw, -1, -2) > 0.5, fast)  # mw: (B, 1, n, keys, 1) -> (B, 1, n, 1, keys)
    return ops.reshape(out, (-1, out.shape[1], out.shape[2] * window, out.shape[-1]))[:, :, :length]


def sliding_attention(q, k, v, key_mask, window: int, global_positions, qg=None, kg=None, vg=None, fast: bool = True):
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
    if fast:
        out = _attend(qb, *_with_global_keys(kb, vb, allowed > 0.5, kp, vp, mp, glob), fast=True)
    else:
        out = _sliding_blocks(qb, kb, vb, allowed, kp, vp, mp, glob, scale)
    out = ops.reshape(out, (-1, out.shape[1], padded_length, out.shape[-1]))[:, :, :length]
    if not glob:
        return out
    # the global tokens' own rows: attend to every real token with the global projections
    qg, kg, vg = (q if qg is None else qg), (k if kg is None else kg), (v if vg is None else vg)
    idx = ops.array(glob)
    q_glob = ops.take(qg, idx, axis=2)  # (B, H, G, d)
    g_out = _attend(q_glob, kg, vg, key_mask[:, None, None, :] > 0.5, fast)
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


def _with_global_keys(kb, vb, allowed, kp, vp, mp, glob):
    """The band keys and values of each block (B, H, n, 3 * half, d) with the global keys appended
    to every block, and the mask to match, for one fused call (fast path)."""
    if not glob:
        return kb, vb, allowed
    b, h, n, half = ops.shape(kb)[0], kb.shape[1], kb.shape[2], allowed.shape[3]
    idx = ops.array(glob)
    k_glob, v_glob = ops.take(kp, idx, axis=2), ops.take(vp, idx, axis=2)  # (B, H, G, d)
    kb = ops.concatenate([kb, ops.broadcast_to(k_glob[:, :, None], (b, h, n, len(glob), kp.shape[-1]))], axis=3)
    vb = ops.concatenate([vb, ops.broadcast_to(v_glob[:, :, None], (b, h, n, len(glob), vp.shape[-1]))], axis=3)
    m_glob = ops.take(mp, idx, axis=1)[:, None, None, None, :] > 0.5  # (B, 1, 1, 1, G)
    allowed = ops.concatenate([allowed, ops.broadcast_to(m_glob, (b, 1, n, half, len(glob)))], axis=-1)
    return kb, vb, allowed
