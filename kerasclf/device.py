"""The GPU of a torchrun rank, chosen before Keras is imported (so no Keras import here)."""

from __future__ import annotations

import os


def choose_for_torchrun() -> None:
    """Under torchrun, put this rank on GPU LOCAL_RANK before Keras picks a device: Keras' torch
    backend reads KERAS_TORCH_DEVICE once, when it is imported, and otherwise takes "cuda", GPU 0
    for every rank (keras #20415: tensors of one rank on two GPUs). A device the user set wins."""
    local = os.environ.get("LOCAL_RANK")
    if local is None or os.environ.get("KERAS_BACKEND") != "torch" or "KERAS_TORCH_DEVICE" in os.environ:
        return
    import torch

    if torch.cuda.is_available() and torch.cuda.device_count() > int(local):
        torch.cuda.set_device(int(local))
        os.environ["KERAS_TORCH_DEVICE"] = f"cuda:{int(local)}"
