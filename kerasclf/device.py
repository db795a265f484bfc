"""Backend set-up done before Keras is imported (so no Keras import here): torch's CPU memory reused
between steps and subnormal floats flushed, the GPU of a torchrun rank, jax's persistent compilation
cache, and whether the CPU multiplies bfloat16 matrices natively."""

from __future__ import annotations

import contextlib
import os
import sys

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4
MMAP_THRESHOLD = 32 << 20  # the most glibc takes on 64-bit (HEAP_MAX_SIZE / 2)
TRIM_THRESHOLD = 1 << 30
TOP_PAD = 64 << 20
MMAP_MAX = 65536  # glibc's default count of blocks it maps by themselves
_LIBC = None  # the C library, once reuse_cpu_memory has set its heap up


def glibc() -> bool:
    """Whether this process runs on glibc (asked of the C library itself, not read from the executable)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr (Windows) or no such name (macOS, musl)
        return False


def reuse_cpu_memory() -> bool:
    """On torch on Linux (glibc), keep the CPU memory a training step frees for the next step. By default glibc
    maps a block of 128 KiB or more (a threshold it raises by chance up to 32 MiB) afresh from the kernel and
    hands it back when freed, and the next step faults it in again page by page, each page zeroed by the
    kernel (a one-hot seq-CNN step at 600 words took 24,000-25,000 page faults on the bench VM). Here glibc
    keeps freed blocks up to 32 MiB in its heap and returns the heap's top to the kernel only past 1 GiB
    (mallopt, this process only): 700-2,500 faults and 1.2-1.4x a step (`python bench/cpu_memory.py`,
    bench/RESULTS.md); up to 1 GiB of freed heap may stay with the process. Blocks over 32 MiB (the most
    glibc's threshold takes) are kept only inside a training step: see `heap_blocks`. torch's transparent
    huge pages (THP_MEM_ALLOC_ENABLE) cut the faults of such blocks but not the time, so they are not set.

    KERASCLF_REUSE_MEMORY=0, or any MALLOC_* variable or GLIBC_TUNABLES in the environment (the user tunes
    glibc), leaves glibc's settings alone. Returns whether they were set."""
    global _LIBC
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
    done = all(libc.mallopt(param, value) == 1 for param, value in settings)
    _LIBC = libc if done else None
    return done


@contextlib.contextmanager
def heap_blocks():
    """Inside (a training step: models/mixup.py's Classifier.train_step), glibc maps no block by itself:
    blocks over 32 MiB (an n-gram table's gradient, long batches' activations) come from the main heap too,
    where the step before freed them, instead of being mapped afresh and faulted in page by page.
    `configs/imdb_cnn.yaml`'s step (full-IMDB batches of 64 at 600 words, a 171 MB table gradient): 150.3 ms
    and 1,672 page faults with this, 189.7 ms and 62,739 without (`python bench/cpu_memory.py`,
    bench/RESULTS.md); its CLI run 147 s against 185 s. Outside a step (evaluation, prediction) glibc maps
    them as before, so they leave with the batch, and `release_heap` hands the freed heap back after `fit`:
    0.1-0.3 GiB more peak memory for that config (2.45 against 2.32 GiB, 2.52 against 2.21 in the CLI runs).
    Not covered: a data-parallel torch run (backend_fast's DDP step replaces train_step) and a `core`
    sub-model trained alone on cached backbone features (a plain keras.Model). Threads other than the one
    stepping keep glibc's arenas, which map blocks over 64 MiB. A heap that cannot grow (the address space
    above it taken) still maps its next part: that fallback does not count against M_MMAP_MAX. Does nothing
    where reuse_cpu_memory did not set glibc up, or with KERASCLF_HEAP_STEPS=0 (large blocks mapped in
    every step, as before)."""
    if _LIBC is None or os.environ.get("KERASCLF_HEAP_STEPS") == "0":
        yield
        return
    _LIBC.mallopt(M_MMAP_MAX, 0)
    try:
        yield
    finally:
        _LIBC.mallopt(M_MMAP_MAX, MMAP_MAX)


def release_heap() -> None:
    """Hand the heap's free pages back to the kernel (malloc_trim; after training, whose steps kept them)."""
    if _LIBC is not None and os.environ.get("KERASCLF_HEAP_STEPS") != "0":
        _LIBC.malloc_trim(0)


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
