"""Data-parallel training (`train.distribute: data_parallel`), through the engines that exist.

- **torch**: launched by torchrun (`torchrun --nproc_per_node=N -m kerasclf.train ...`), each
  process is one rank of a `torch.distributed` group (NCCL on GPUs, gloo on CPU), each on its own
  GPU (`LOCAL_RANK`, chosen before Keras creates a tensor: kerasclf/device.py), and the model trains through torch's
  DistributedDataParallel, whose hooks all-reduce the gradients (backend_fast.torch_data_parallel).
- **jax**: `keras.distribution.DataParallel` over every device of one host. Several jax processes
  (hosts) are refused for now: the run folder, the final evaluation and the feature cache would
  need every process to take part in each computation (see docs/scaling.md).

What kerasclf adds is the bookkeeping of a run: which rank reads which rows (`Split`, in
data/batching.py: the global batch is `train.batch_size`, each rank one part of it), one writer of
the run folder (rank 0), the frozen backbones' features computed once (rank 0, then broadcast),
validation metrics summed over the ranks each epoch (so every rank sees the same value and early
stopping stops them together), and the final evaluation on rank 0 over every row, once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from datetime import timedelta

import keras

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

    if os.environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES") or os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):
        raise UserError(
            "train.distribute: data_parallel on jax uses the devices of one host; several jax processes "
            "(KERAS_DISTRIBUTION_* set) are not supported yet: use torchrun across hosts"
        )
    devices = keras.distribution.list_devices()
    if len(devices) == 1:
        log.info("train.distribute: data_parallel on one device (jax sees only %s)", devices[0])
        return World()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return World("jax", jax.process_index(), jax.process_count(), jax.local_device_count())


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


# ---------------------------------------------------------------- what the ranks share (torch)
def broadcast(value):
    """Rank 0's `value` (any picklable object), on every rank."""
    if _world.engine != "torch":
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(value) -> list:
    """Every rank's `value`, in rank order, on every rank."""
    if _world.engine != "torch":
        return [value]
    import torch.distributed as dist

    out = [None] * _world.size
    dist.all_gather_object(out, value)
    return out


def computed_once(compute):
    """`compute()` run on rank 0 alone and its result broadcast (frozen features: once, not once per rank)."""
    if _world.engine != "torch":
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
    return re.sub(r"^\[[^\]]*\]\s*", "", first).split(". ")[0][:200]


def lost_peer(error: BaseException) -> bool:
    """An error raised because another process of the group stopped (killed, crashed, timed out)."""
    if _world.engine != "torch":
        return False
    import torch.distributed as dist

    closed = ("Connection closed", "Connection reset", "Broken pipe", "Connection refused")
    return isinstance(error, (dist.DistNetworkError, RuntimeError)) and any(s in str(error) for s in closed)
