"""Backend set-up done before Keras is imported (so no Keras import here): the GPU of a torchrun
rank, jax's persistent compilation cache, and whether the CPU multiplies bfloat16 matrices natively."""

from __future__ import annotations

import os


def choose_for_torchrun() -> None:
    """Under torchrun, put this rank on GPU LOCAL_RANK before Keras picks a device: Keras' torch
    backend reads KERAS_TORCH_DEVICE once, when it is imported, and otherwise takes "cuda", GPU 0
    for every rank (keras #20415: tensors of one rank on two GPUs). A device the user set wins."""
    local = os.environ.get("LOCAL_RANK")
    if local is None or os.environ.get("KERAS_BACKEND") != "torch":
        return
    import torch

    if not torch.cuda.is_available() or torch.cuda.device_count() <= int(local):  # distribute.start says why
        return
    chosen = os.environ.get("KERAS_TORCH_DEVICE", "")
    index = int(chosen.split(":")[1]) if chosen.startswith("cuda:") else int(local)
    torch.cuda.set_device(index)  # torch.distributed's own tensors (broadcast_object_list) go there too
    os.environ["KERAS_TORCH_DEVICE"] = f"cuda:{index}"


def jax_compilation_cache() -> None:
    """On jax, keep compiled XLA programs on disk (jax's own persistent cache), in
    $KERASCLF_CACHE/jax (default ~/.cache/kerasclf/jax) unless JAX_COMPILATION_CACHE_DIR names
    another folder: a second run of a config, or a resumed one, takes its training and prediction
    steps from there instead of compiling them again (a second or more each on a CPU). jax caches
    programs whose compilation took a second or more (jax_persistent_cache_min_compile_time_secs)."""
    if os.environ.get("KERAS_BACKEND") != "jax" or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    from pathlib import Path

    root = Path(os.environ.get("KERASCLF_CACHE", Path.home() / ".cache" / "kerasclf"))
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(root / "jax")


# AMX tiles (Intel Xeon from Sapphire Rapids on); AVX-512 BF16 (AMD from Zen 4 on, Intel Cooper Lake)
BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bfloat16_flag(cpuinfo: str = "/proc/cpuinfo") -> str | None:
    """The flag in /proc/cpuinfo (Linux) by which this CPU multiplies bfloat16 in hardware, None where it has
    none or the flags cannot be read. There torch's oneDNN kernels multiply bfloat16 matrices faster than
    float32, and a MiniLM training step is about twice as fast in mixed bfloat16 on both kinds of the bench
    machines (`python bench/bfloat16_cpu.py`; bench/RESULTS.md)."""
    try:
        with open(cpuinfo, encoding="utf-8") as f:
            flags = next((line.split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    return next((flag for flag in BFLOAT16_FLAGS if flag in flags), None)
