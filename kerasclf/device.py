"""Backend set-up done before Keras is imported (so no Keras import here): torch's CPU memory reused
between steps and subnormal floats flushed, the GPU of a torchrun rank, jax's persistent compilation
cache, and whether the CPU multiplies bfloat16 matrices natively."""

from __future__ import annotations

import os
import sys

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MMAP_THRESHOLD = 32 << 20  # the most glibc takes on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20


def glibc() -> bool:
    """Whether this process runs on glibc (asked of the C library itself, not read from the executable)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr (Windows) or no such name (macOS, musl)
        return False


def reuse_cpu_memory() -> bool:
    """On torch on Linux (glibc), keep the CPU memory a training step frees for the next step. By default glibc
    hands a freed block of some 128 KiB to 32 MiB back to the kernel, and the next step faults it in again
    page by page, each page zeroed by the kernel (a one-hot seq-CNN step at 600 words took 24,000-25,000
    page faults on the bench VM). Here glibc keeps freed blocks up to 32 MiB in its heap and returns the
    heap's top to the kernel only past 1 GiB (mallopt, this process only): 700-2,500 faults and 1.2-1.4x a
    step (`python bench/cpu_memory.py`, bench/RESULTS.md); up to 1 GiB of freed heap may stay with the
    process. Blocks over 32 MiB (an n-gram table's gradient) are still mapped afresh: torch's transparent
    huge pages for them (THP_MEM_ALLOC_ENABLE) cut the faults but not the time there, so they are not set.

    KERASCLF_REUSE_MEMORY=0, or any MALLOC_* variable or GLIBC_TUNABLES in the environment (the user tunes
    glibc), leaves glibc's settings alone. Returns whether they were set."""
    if (
        os.environ.get("KERAS_BACKEND") != "torch"
        or not sys.platform.startswith("linux")
        or os.environ.get("KERASCLF_REUSE_MEMORY") == "0"
        or not glibc()
        or any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ)
    ):
        return False
    import ctypes

    libc = ctypes.CDLL(None)  # the C library this process already runs on
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD), (M_TOP_PAD, TOP_PAD))
    return all(libc.mallopt(param, value) == 1 for param, value in settings)


def flush_denormals() -> bool:
    """On torch on a CPU, compute values under float32's normal range (about 1e-38) as zero. AdamW's first
    moment of a row that no batch touches shrinks by beta1 each step and turns subnormal within some 800
    steps, and x86 CPUs compute subnormal floats many times slower: the one-hot seq-CNN's third epoch (its
    11.5M-weight table) took 37.6 s against 24.7-24.9 s for the first two, and 23.7-25.2 s for all three with
    flushing (bench/RESULTS.md). TensorFlow and XLA (jax) flush them already (a 1e-40 product is 0 on both);
    torch does not. Set once here, before torch starts its worker threads (they inherit the setting).
    KERASCLF_FLUSH_DENORMAL=0 keeps torch's default. Returns whether it was set."""
    if os.environ.get("KERAS_BACKEND") != "torch" or os.environ.get("KERASCLF_FLUSH_DENORMAL") == "0":
        return False
    import torch

    return bool(torch.set_flush_denormal(True))  # False where the CPU cannot (no SSE3)


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
