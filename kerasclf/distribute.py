"""Data-parallel training (`train.distribute: data_parallel`), through the engines that exist.

- **torch**: launched by torchrun (`torchrun --nproc_per_node=N -m kerasclf.train ...`), each
  process is one rank of a `torch.distributed` group (NCCL on GPUs, gloo on CPU), each on its own
  GPU (`LOCAL_RANK`, chosen before Keras creates a tensor: kerasclf/device.py), and the model trains through torch's
  DistributedDataParallel, whose hooks all-reduce the gradients (backend_fast.torch_data_parallel).
- **jax**: `keras.distribution.DataParallel` over every device of one host, or across hosts: one
  process per host, joined by `keras.distribution.initialize()` (which calls
  `jax.distributed.initialize`) from the `KERAS_DISTRIBUTION_JOB_ADDRESSES`,
  `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID` variables. Each process
  then feeds its part of every batch (the dataset is sharded here, so Keras' auto-sharding, which
  wants a tf.data pipeline, is off). The model's weights are then arrays over the devices of every
  process; what a computation over them returns lives on all of them, so predictions that one
  process makes alone (validation each epoch, frozen features, the final evaluation) run on a copy
  of the model on its own devices (`on_this_process`).

What kerasclf adds is the bookkeeping of a run: which rank reads which rows (`Split`, in
data/batching.py: the global batch is `train.batch_size`, each rank one part of it), one writer of
the run folder (rank 0), the frozen backbones' features computed once (rank 0, then broadcast),
validation metrics summed over the ranks each epoch (so every rank sees the same value and early
stopping stops them together), and the final evaluation on rank 0 over every row, once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import re
import weakref
from datetime import timedelta

import keras
import numpy as np

from kerasclf.data.batching import Split
from kerasclf.errors import UserError

log = logging.getLogger("kerasclf")

# a collective that waits longer than this (a peer that died without its socket closing, on another
# host) ends with an error, not a hang; a step, a validation pass or rank 0's feature computation fit in it
TIMEOUT = timedelta(minutes=int(os.environ.get("KERASCLF_DIST_TIMEOUT_MIN", "30")))


@dataclasses.dataclass(frozen=True)
class World:
    """The processes and devices one run trains on."""

    engine: str = "none"  # none | torch (torchrun, DDP) | jax (keras.distribution.DataParallel)
    rank: int = 0  # this process
    size: int = 1  # processes
    devices: int = 1  # devices per process that its part of each batch is split over (jax)

    @property
    def main(self) -> bool:
        """The process that writes the run folder, the log and the progress bar."""
        return self.rank == 0

    @property
    def jax_processes(self) -> bool:
        """jax across processes (hosts): the weights live on the devices of all of them."""
        return self.engine == "jax" and self.size > 1

    def split(self, batch_size: int) -> Split:
        """How `fit`'s batches are shared: one part per process. On jax, which compiles a step per
        input shape, every batch is padded to the whole `batch_size` (rows of weight 0), so the last,
        smaller one compiles no step of its own, and every device gets as many rows. (TensorFlow's
        traced steps already take the last batch without a second trace that costs much: measured,
        its default run's first epoch is 2.3-2.8x a later one either way.)"""
        pad = batch_size if compiles_per_shape() else 1
        if self.engine == "none":
            return Split(pad_to=pad)
        return Split(self.rank, self.size, pad)

    def prediction_split(self, batch_size: int) -> Split:
        """`predict` in one process (rank 0's evaluation, the feature cache), padded as `split` pads."""
        return Split(pad_to=batch_size if compiles_per_shape() else 1)


def compiles_per_shape() -> bool:
    """jax compiles an XLA program for each input shape (a second or more on a CPU); torch runs eagerly."""
    return keras.backend.backend() == "jax"


_world = World()


def world() -> World:
    return _world


def torchrun_size() -> int:
    """The number of processes torchrun started (1 when it did not start this one)."""
    return int(os.environ.get("WORLD_SIZE", "1")) if "RANK" in os.environ else 1


def start(distribute: str, batch_size: int) -> World:
    """Join the processes and devices `train.distribute` asks for (before any model exists); the World."""
    global _world
    backend = keras.backend.backend()
    if distribute == "none":
        if torchrun_size() > 1:
            raise UserError(
                f"train.distribute: none, but torchrun started {torchrun_size()} processes: "
                "add --set train.distribute=data_parallel, or run one process"
            )
        _world = World()
    elif backend == "torch":
        _world = _start_torch()
    elif backend == "jax":
        if torchrun_size() > 1:
            raise UserError(
                "train.distribute: data_parallel on jax runs in one process over its devices; not under torchrun"
            )
        _world = _start_jax()
    else:
        raise UserError(
            f"train.distribute: data_parallel runs on KERAS_BACKEND=torch (with torchrun) or jax, not {backend}"
        )
    parts = _world.size * _world.devices
    if batch_size % parts:
        raise UserError(
            f"train.batch_size: {batch_size} does not split evenly over {parts} "
            f"{'processes' if _world.engine == 'torch' else 'devices'} (expected a multiple of {parts})"
        )
    return _world


def describe(world: World, batch_size: int) -> str:
    """One line for the log: the processes and devices, and each one's share of a batch."""
    share = batch_size // (world.size * world.devices)
    return (
        f"data parallel ({world.engine}): {world.size} process(es) x {world.devices} device(s), "
        f"{share} texts of each batch of {batch_size} per device"
    )


def _start_torch() -> World:
    import torch
    import torch.distributed as dist

    if torchrun_size() <= 1:
        log.info("train.distribute: data_parallel in one process (torchrun --nproc_per_node=N starts N)")
        return World()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available() and local >= torch.cuda.device_count():
        raise UserError(
            f"torchrun: LOCAL_RANK {local} but this host has {torch.cuda.device_count()} GPU(s): "
            "expected --nproc_per_node at most the number of GPUs"
        )
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=TIMEOUT)
    if not torch.cuda.is_available() and "OMP_NUM_THREADS" not in os.environ:
        # ranks on one CPU share its cores (torchrun sets OMP_NUM_THREADS=1; other launchers do not,
        # and N ranks of all-core thread pools run many times slower than one process)
        local = int(os.environ.get("LOCAL_WORLD_SIZE", dist.get_world_size()))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
    return World("torch", dist.get_rank(), dist.get_world_size(), 1)


def _start_jax() -> World:
    import jax

    if jax_processes() > 1:
        _join_jax_processes()
    devices = keras.distribution.list_devices()  # every process's devices
    if len(devices) == 1:
        log.info("train.distribute: data_parallel on one device (jax sees only %s)", devices[0])
        return World()
    # each process feeds its own part of every batch (Split), so Keras' auto-sharding (tf.data only) is off
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False))
    return World("jax", jax.process_index(), jax.process_count(), jax.local_device_count())


JAX_ENV = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")


def jax_processes() -> int:
    """The number of jax processes KERAS_DISTRIBUTION_* asks for (1 when none is set)."""
    if not any(os.environ.get(k) for k in JAX_ENV):
        return 1
    missing = [k for k in JAX_ENV if not os.environ.get(k)]
    if missing:
        raise UserError(f"{missing[0]}: not set; jax across processes needs all of {', '.join(JAX_ENV)}")
    values = {k: os.environ[k] for k in JAX_ENV[1:]}
    if not all(v.isdigit() for v in values.values()) or int(values[JAX_ENV[2]]) >= int(values[JAX_ENV[1]]):
        raise UserError(
            f"{JAX_ENV[1]}={values[JAX_ENV[1]]}, {JAX_ENV[2]}={values[JAX_ENV[2]]}: expected a number of "
            "processes and this process's index below it"
        )
    return int(values[JAX_ENV[1]])


def _join_jax_processes() -> None:
    """keras.distribution.initialize() (jax.distributed.initialize, from KERAS_DISTRIBUTION_*), once."""
    import jax

    if jax.distributed.is_initialized():  # (jax.process_count() would start the XLA backend: too early)
        return
    try:
        keras.distribution.initialize()
    except Exception as e:  # the coordinator unreachable, a port taken: one line, not jax's traceback
        raise UserError(
            f"{JAX_ENV[0]}={os.environ[JAX_ENV[0]]}: could not join the jax processes ({peer_error(e)})"
        ) from None


def stop() -> None:
    """Leave the process group (at the end of a run, or when it failed) and forget the distribution."""
    global _world
    if _world.engine == "torch":
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
    if _world.engine == "jax":
        keras.distribution.set_distribution(None)
    _world = World()


# ---------------------------------------------------------------- what the ranks share (torch, jax across hosts)
def broadcast(value):
    """Rank 0's `value` (any picklable object), on every rank."""
    if _world.jax_processes:
        return _jax_gather(value)[0]
    if _world.engine != "torch":
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value) -> list:
    """Every rank's `value`, in rank order, on every rank."""
    if _world.jax_processes:
        return _jax_gather(value)
    if _world.engine != "torch":
        return [value]
    import torch.distributed as dist

    out = [None] * _world.size
    dist.all_gather_object(out, value)
    return out


def _jax_gather(value) -> list:
    """Every jax process's `value`: pickled, padded to the longest, all-gathered by jax (process_allgather)."""
    from jax.experimental import multihost_utils

    data = np.frombuffer(pickle.dumps(value), dtype=np.uint8)
    sizes = np.asarray(multihost_utils.process_allgather(np.array([len(data)], dtype=np.int64))).reshape(-1)
    buffer = np.zeros(int(sizes.max()), dtype=np.uint8)
    buffer[: len(data)] = data
    rows = np.asarray(multihost_utils.process_allgather(buffer)).reshape(len(sizes), -1)
    return [pickle.loads(rows[i, : sizes[i]].tobytes()) for i in range(len(sizes))]


@contextlib.contextmanager
def alone():
    """jax across processes: the distribution unset for the while, so that what one process does alone
    (rank 0 saving weights: Keras' saving builds a reference optimizer, whose variable would otherwise
    be put on every process's devices, a collective that the other processes never join) stays on its
    own devices. Elsewhere nothing changes."""
    if not _world.jax_processes:
        yield
        return
    distribution = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(distribution)


@contextlib.contextmanager
def on_this_process(model: keras.Model):
    """The model to predict with in this process alone. jax across processes: a copy on this process's
    own devices (built with the distribution unset, the weights copied: every process holds all of
    them), used while the distribution is unset; elsewhere the model itself."""
    if not _world.jax_processes:
        yield model
        return
    with alone():
        copy = _copies.get(model)
        if copy is None:
            copy = _copies[model] = keras.Model.from_config(model.get_config())
        copy.set_weights(model.get_weights())  # the weights are replicated: each process reads its own copy
        yield copy


_copies: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def computed_once(compute):
    """`compute()` run on rank 0 alone and its result broadcast (frozen features: once, not once per rank)."""
    if _world.size == 1:  # one process (jax over the devices of one host included)
        return compute()
    result, error = None, None
    if _world.main:
        try:
            result = compute()
        except Exception as e:  # the other ranks must not wait for a result that will not come
            error = e
    result, error = broadcast((result, error))  # rank 0's error, raised on every rank (one line if a UserError)
    if error is not None:
        raise error
    return result


def peer_error(error: BaseException) -> str:
    """The gist of a collective's error: gloo's and NCCL's start with a source location."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    first = re.sub(r"^(UNKNOWN|INTERNAL): ", "", first)  # jax's status code
    return re.sub(r"^\[[^\]]*\]\s*", "", first).split(". ")[0][:200]


def lost_peer(error: BaseException) -> bool:
    """An error raised because another process of the group stopped (killed, crashed, timed out)."""
    closed = ("Connection closed", "Connection reset", "Broken pipe", "Connection refused")
    if _world.jax_processes:  # jax's CPU collectives run on gloo too (raised as JaxRuntimeError or, from
        # the equality check of a device_put, ValueError)
        return isinstance(error, Exception) and "Gloo" in str(error) and any(s in str(error) for s in closed)
    if _world.engine != "torch":
        return False
    import torch.distributed as dist

    return isinstance(error, (dist.DistNetworkError, RuntimeError)) and any(s in str(error) for s in closed)
