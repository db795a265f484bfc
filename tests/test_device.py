"""Set-up done before Keras is imported (kerasclf/device.py): torch's CPU memory kept between steps,
subnormal floats flushed to zero."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerasclf import device

ROOT = Path(__file__).resolve().parents[1]
glibc_torch = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "torch") != "torch" or not sys.platform.startswith("linux") or not device.glibc(),
    reason="torch on Linux with glibc only",
)

# minor page faults of one training step of the one-hot seq-CNN as shipped (configs/imdb_cnn.yaml on the
# shipped sample: 64 reviews at 600 words, 69 MB activations and a 117 MB table gradient for its n-gram rows,
# blocks glibc would map afresh from the kernel each step), after two warm-up steps
STEP_FAULTS = """
import resource
import numpy as np
import kerasclf
cfg = kerasclf.load_config("configs/imdb_cnn.yaml")
data = kerasclf.load_data(cfg, progress=False)
model = kerasclf.build_model(cfg, data)
x = {"cnn": data.arrays["train"]["cnn"][:64]}
y = np.asarray(data.raw.train.labels)[:64]
assert x["cnn"].shape == (64, 600), x["cnn"].shape
for _ in range(2):
    model.train_on_batch(x, y)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    model.train_on_batch(x, y)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
"""


def step_faults(**env) -> float:
    ours = ("KERASCLF_REUSE_MEMORY", "KERASCLF_HEAP_STEPS")
    clean = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", STEP_FAULTS],
        cwd=ROOT,
        env={**clean, "KERAS_BACKEND": "torch", **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return float(out.stdout.strip().splitlines()[-1])


@glibc_torch
def test_a_training_step_reuses_the_memory_the_step_before_freed():
    kept = step_faults()
    # The baseline is glibc's own starting setting held fixed: blocks from 128 KiB up mapped afresh each
    # step. glibc's plain default starts there but raises that threshold (up to 32 MiB) as it sees large
    # blocks freed, by chance of the order they come in, so its faults swing from process to process
    # (1,900-16,300 a step in 11 runs of a narrower CNN without n-gram rows, 2026-12-07, with
    # PYTHONHASHSEED fixed or not) and made this test flaky against it. Naming the threshold in
    # MALLOC_MMAP_THRESHOLD_ turns the raise off (and makes kerasclf leave glibc alone). On the bench VM,
    # 2026-12-07: 239 faults a step kept, against 92,182 so (and 85,034 with glibc's default: this step's
    # table gradient is over any threshold glibc takes).
    unlucky = step_faults(MALLOC_MMAP_THRESHOLD_=str(128 * 1024))
    assert kept < unlucky / 4, (kept, unlucky)
    # the table gradient (117 MB) is over the 32 MiB glibc's threshold takes: it is kept only because a
    # training step maps no block (device.heap_blocks); without that, it is faulted in every step
    mapped = step_faults(KERASCLF_HEAP_STEPS="0")
    assert kept < mapped / 4, (kept, mapped)


@glibc_torch
def test_a_users_own_memory_settings_are_kept(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    monkeypatch.delenv("KERASCLF_REUSE_MEMORY", raising=False)
    for k in [k for k in os.environ if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"]:
        monkeypatch.delenv(k)
    assert device.reuse_cpu_memory()

    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")  # the user tunes glibc: left alone
    assert not device.reuse_cpu_memory()

    monkeypatch.delenv("MALLOC_ARENA_MAX")
    monkeypatch.setenv("KERASCLF_REUSE_MEMORY", "0")
    assert not device.reuse_cpu_memory()


def test_other_backends_are_left_alone(monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert not device.reuse_cpu_memory()
    assert not device.flush_denormals()


SUBNORMAL = """
import kerasclf, torch
# 1e-40: under float32's normal range; a million values, so that torch's worker threads compute most of them
x = torch.full((1_000_000,), 1e-20) * 1e-20
print(int((x != 0).sum()))
"""


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "torch") != "torch", reason="torch only")
@pytest.mark.parametrize("setting, nonzero", [(None, 0), ("0", 1_000_000)])
def test_subnormal_floats_are_flushed_to_zero_on_torch(setting, nonzero):
    env = {k: v for k, v in os.environ.items() if k != "KERASCLF_FLUSH_DENORMAL"}
    if setting is not None:
        env["KERASCLF_FLUSH_DENORMAL"] = setting
    out = subprocess.run(
        [sys.executable, "-c", SUBNORMAL],
        env={**env, "KERAS_BACKEND": "torch"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split()[0]) == nonzero
