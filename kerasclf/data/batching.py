"""Batches for `model.fit`: a Keras PyDataset over token-id arrays.

Each batch is cut to its longest real sequence (the encoders mask padding, so the result is the
same as at full length), and with `bucket=True` training batches hold reviews of similar length:
shuffled within chunks of 50 batches sorted by length, then the batches themselves shuffled.

How far a batch is cut depends on the backend. torch runs each shape eagerly: the length is rounded
up to a multiple of 16. jax compiles one XLA program per input shape, so there the length is
rounded up to the next of a few fixed lengths (`fixed_lengths`: powers of two from 32, then the
input's max_length; of those, only the ones that hold at least a quarter of the texts, `used_lengths`:
each costs a compilation, a second or more on a CPU), and the compiled step is reused; every batch
is padded there to the whole batch size (`Split`), so the last, smaller batch compiles no step of
its own. TensorFlow keeps the whole max_length.

In data-parallel training (kerasclf/distribute.py) each batch is `train.batch_size` texts in all,
shared out by a `Split`: on jax (padded to the whole batch, as in one process) each device takes an
equal slice, and under torchrun each rank reads its own part. Every rank of a step
sees the same length (the whole batch's), and the rows are weighted so that the gradient the ranks
average is the one of the whole batch's mean loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from kerasclf import keys

ROUND = 16  # lengths are rounded up to a multiple of this: fewer distinct shapes for the CPU kernels to plan
SMALLEST = 32  # the shortest of the fixed lengths (jax)
MIN_SHARE = 0.25  # a fixed length is used when at least this share of the texts would be cut to it


def fixed_lengths(max_length: int, smallest: int = SMALLEST) -> list[int]:
    """The lengths a batch may take where each shape is compiled: powers of two from `smallest`
    below `max_length`, then `max_length` (for 600: 32, 64, 128, 256, 512, 600)."""
    out, n = [], smallest
    while n < max_length:
        out.append(n)
        n *= 2
    return [*out, max_length]


def used_lengths(ids: np.ndarray, min_share: float = MIN_SHARE) -> list[int]:
    """The fixed lengths worth a compiled step for these rows (n, max_length): each of
    `fixed_lengths(max_length)` that at least `min_share` of the rows would be cut to (a length
    left out sends its rows to the next one kept), and max_length always."""
    nonzero = ids != 0
    lengths = np.where(nonzero.any(axis=1), ids.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)
    kept, below = [], 0
    for n in fixed_lengths(ids.shape[1])[:-1]:
        if len(lengths) and ((lengths > below) & (lengths <= n)).mean() >= min_share:
            kept.append(n)
            below = n
    return [*kept, ids.shape[1]]


def token_counts(x: dict[str, np.ndarray]) -> np.ndarray:
    """Real (non-padding) tokens per row, summed over the inputs' token-id arrays (not segments or features)."""
    ids = [a for k, a in x.items() if not keys.is_companion(k) and np.issubdtype(a.dtype, np.integer)]
    return sum((a != 0).sum(axis=1) for a in ids) if ids else np.zeros(len(next(iter(x.values()))), dtype=int)


def trim(x: dict[str, np.ndarray], fixed: bool = False, allowed: dict[str, list[int]] | None = None):
    """Cut each input's columns past its longest non-padding token, rounded up to a multiple of ROUND,
    or with `fixed` to the next of `allowed[name]` (default `fixed_lengths(max_length)`)."""
    out, lengths = {}, {}
    for name, ids in x.items():
        if keys.is_companion(name) or not np.issubdtype(ids.dtype, np.integer):
            continue
        nonzero = ids.any(axis=0)
        length = int(np.flatnonzero(nonzero)[-1]) + 1 if nonzero.any() else 1
        if fixed:
            choices = (allowed or {}).get(name) or fixed_lengths(ids.shape[1])
            lengths[name] = next(n for n in choices if n >= length)
        else:
            lengths[name] = min(ids.shape[1], -(-length // ROUND) * ROUND)
        out[name] = ids[:, : lengths[name]]
    for name, arr in x.items():
        if name not in out:
            # "<input>__segments" is cut to the length of "<input>"; float arrays (features) are kept whole
            base = keys.base(name)
            out[name] = arr[:, : lengths[base]] if keys.is_companion(name) and base in lengths else arr
    return out


@dataclass(frozen=True)
class Split:
    """How each batch is shared in data-parallel training: `ranks` processes read one part each (this
    one part `rank`), after the batch is padded to a multiple of `pad_to` rows of weight 0."""

    rank: int = 0
    ranks: int = 1
    pad_to: int = 1

    @property
    def active(self) -> bool:
        return self.ranks > 1 or self.pad_to > 1


class Batches(keras.utils.PyDataset):
    """(inputs, labels) batches. `x` maps input names to int32 (n, max_length) arrays."""

    def __init__(
        self,
        x: dict[str, np.ndarray],
        y: np.ndarray | None,
        batch_size: int,
        shuffle: bool = False,
        bucket: bool = False,
        seed: int = 0,
        lengths: np.ndarray | None = None,
        split: Split = Split(),
        train_weights: bool = False,
        row_weights: np.ndarray | None = None,
        sample_p: np.ndarray | None = None,
    ):
        super().__init__()
        self.x, self.y = x, y
        # train_weights: rows weighted so that the ranks' mean gradient is the whole batch's (training);
        # otherwise a real row weighs 1 and padding 0 (validation: metrics over the real rows)
        self.split, self.train_weights = split, train_weights
        # row_weights: each row's loss weight (train.class_weight); sample_p: each row's chance to be
        # drawn, with replacement, for an epoch of n rows (data.sampling: balanced); both train only
        self.row_weights, self.sample_p = row_weights, sample_p
        self.batch_size = batch_size
        self.shuffle, self.bucket = shuffle, bucket
        self.seed, self.epoch = seed, 0
        self.n = len(next(iter(x.values())))
        # bucketing sorts by the number of real tokens (pass `lengths` when x holds other arrays)
        self._lengths = lengths if lengths is not None else token_counts(x)
        self._order = self._make_order()
        # jax: the fixed lengths these rows use enough to be worth compiling a step for
        self._allowed = None
        if keras.backend.backend() == "jax":
            self._allowed = {
                k: used_lengths(v) for k, v in x.items() if v.ndim == 2 and np.issubdtype(v.dtype, np.integer)
            }

    def _make_order(self) -> list[np.ndarray]:
        idx = np.arange(self.n)
        if not self.shuffle:
            return self._merge_tail([idx[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)])
        rng = np.random.default_rng([self.seed, self.epoch])
        idx = rng.permutation(self.n) if self.sample_p is None else rng.choice(self.n, self.n, p=self.sample_p)
        if self.bucket:
            chunk = self.batch_size * 50
            idx = np.concatenate(
                [
                    c[np.argsort(self._lengths[c], kind="stable")]
                    for c in np.array_split(idx, max(1, -(-self.n // chunk)))
                ]
            )
        batches = [idx[i : i + self.batch_size] for i in range(0, self.n, self.batch_size)]
        return self._merge_tail([batches[i] for i in rng.permutation(len(batches))])

    def _merge_tail(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """Without padding, a batch of fewer rows than ranks would leave a rank with nothing: such a
        batch joins the one before it (every rank runs the same number of steps)."""
        sp = self.split
        if sp.ranks > 1 and sp.pad_to == 1 and len(batches) > 1:
            short = [i for i, b in enumerate(batches) if len(b) < sp.ranks]
            for i in reversed(short):
                j = i - 1 if i > 0 else 1
                batches[j] = np.concatenate([batches[j], batches[i]])
                del batches[i]
        return batches

    def __len__(self) -> int:
        return len(self._order)

    def __getitem__(self, i: int):
        sel = self._order[i]
        n = len(sel)
        if self.split.active:  # padding rows (weight 0) repeat the batch's first row
            padded = -(-n // self.split.pad_to) * self.split.pad_to
            sel = np.concatenate([sel, np.repeat(sel[:1], padded - n)])
        x = {k: v[sel] for k, v in self.x.items()}
        backend = keras.backend.backend()
        if backend != "tensorflow":  # a traced TF step wants one shape, not one per length
            x = trim(x, fixed=backend == "jax", allowed=self._allowed)  # jax compiles a program per shape
        if not self.split.active:
            if self.y is None:
                return (x,)
            return (x, self.y[sel]) if self.row_weights is None else (x, self.y[sel], self.row_weights[sel])
        return self._part(x, sel, n)

    def _part(self, x: dict[str, np.ndarray], sel: np.ndarray, n: int):
        """This rank's rows of a (padded) batch of `n` real rows, with their weights."""
        sp = self.split
        q, r = divmod(len(sel), sp.ranks)  # as np.array_split: the first r parts one row longer
        lo = sp.rank * q + min(sp.rank, r)
        hi = lo + q + (sp.rank < r)
        x = {k: v[lo:hi] for k, v in x.items()}
        if self.y is None:
            return (x,)
        weights = (np.arange(lo, hi) < n).astype("float32")
        if self.train_weights:
            # each rank's loss is its weighted sum over its (hi - lo) rows; DDP averages the ranks'
            # gradients (jax: one mean over the padded batch): both then equal the n real rows' mean
            weights *= sp.ranks * (hi - lo) / n
        if self.row_weights is not None:
            weights *= self.row_weights[sel[lo:hi]]
        return x, self.y[sel[lo:hi]], weights

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """Shuffle as for `epoch` (a resumed run continues with the orders it would have used)."""
        self.epoch = epoch
        self._order = self._make_order()
