"""Data-parallel training on this CPU: torchrun with two ranks on gloo, and jax over two host devices.

Each check trains the same small config both ways and compares what a user reads: the weights of
model.keras, history.csv, metrics.json, one run folder, one log.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import QUICK, ROOT

import kerasclf

pytestmark = pytest.mark.slow

TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
# no dropout, no mixup: the two ways then differ only by the order of float sums
EXACT = [*QUICK, "data.limit=390", "train.epochs=2", "inputs.0.encoder.dropout=0", "head.dropout=0"]
TIMEOUT = 300  # a hang fails the test instead of the suite


def _sets(overrides):
    return sum((["--set", s] for s in overrides), [])


def _env(**extra):
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


LAUNCH = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "kerasclf.train"]


def _torchrun(out, overrides):
    return [*LAUNCH, "--output-dir", str(out), *_sets(overrides)]


def _run(args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=env or _env(), timeout=TIMEOUT)


def _weights(run_dir):
    import keras

    return keras.saving.load_model(Path(run_dir) / "model.keras").get_weights()


def _history(run_dir) -> list[dict]:
    with open(Path(run_dir) / "history.csv", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _assert_same_training(one, two, atol=1e-5, train_metrics_atol=1e-5):
    for a, b in zip(_weights(one), _weights(two)):
        np.testing.assert_allclose(a, b, atol=atol)
    for a, b in zip(_history(one), _history(two), strict=True):
        assert a.keys() == b.keys()
        for k in a:
            tol = train_metrics_atol if k in ("accuracy", "f1_macro") else atol
            assert a[k] == pytest.approx(b[k], abs=tol), k
    m1, m2 = (json.loads((Path(d) / "metrics.json").read_text()) for d in (one, two))
    for split in ("validation", "test"):
        assert m1[split]["count"] == m2[split]["count"]
        assert m1[split]["accuracy"] == pytest.approx(m2[split]["accuracy"], abs=1e-9)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory) -> Path:
    from kerasclf.train import train

    return train(kerasclf.load_config(overrides=EXACT), tmp_path_factory.mktemp("one"))


def test_two_torch_ranks_train_the_weights_one_process_trains(one_process, tmp_path):
    """390 texts: 12 batches of 32 (16 per rank) and one of 6 (3 per rank); gradients averaged by DDP."""
    r = _run(_torchrun(tmp_path, [*EXACT, "train.distribute=data_parallel"]))
    assert r.returncode == 0, r.stderr[-3000:]
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1 and (folders[0] / "model.keras").is_file()  # rank 0 wrote, once
    assert r.stdout.strip().splitlines() == [str(folders[0])]  # printed once
    log = (folders[0] / "train.log").read_text()
    assert log.count("epoch 1/2:") == 1 and log.count("test: accuracy") == 1
    assert "data parallel (torch): 2 process(es)" in log
    _assert_same_training(one_process, folders[0])


JAX = dict(KERAS_BACKEND="jax")


def _jax_processes(args: list[str], port: int) -> list[subprocess.Popen]:
    """Two jax processes on this host, one device each, joined as two hosts would be (keras.distribution.initialize)."""
    env = dict(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port}", KERAS_DISTRIBUTION_NUM_PROCESSES="2")
    return [
        subprocess.Popen(
            [sys.executable, "-m", "kerasclf.train", *args],
            cwd=ROOT,
            env=_env(**JAX, **env, KERAS_DISTRIBUTION_PROCESS_ID=str(r)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for r in (0, 1)
    ]


def _finished(procs) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each process, once all have ended."""
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
        return [(p.returncode, *o) for p, o in zip(procs, outputs)]
    finally:
        for p in procs:
            p.kill()


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jax_one_process(tmp_path_factory) -> Path:
    pytest.importorskip("jax")
    out = tmp_path_factory.mktemp("jax_one")
    r = _run([sys.executable, "-m", "kerasclf.train", "--output-dir", str(out), *_sets(EXACT)], env=_env(**JAX))
    assert r.returncode == 0, r.stderr[-3000:]
    return Path(r.stdout.strip().splitlines()[-1])


def test_jax_data_parallel_over_two_devices_trains_the_weights_one_device_trains(jax_one_process, tmp_path):
    """keras.distribution.DataParallel on two host devices; the 6-text last batch splits 3 and 3, and
    a 390-text split into 351/39 leaves validation batches that need a padding row (weight 0)."""
    env = _env(**JAX, XLA_FLAGS="--xla_force_host_platform_device_count=2")
    args = [sys.executable, "-m", "kerasclf.train", "--output-dir", str(tmp_path)]
    r = _run([*args, *_sets([*EXACT, "train.distribute=data_parallel"])], env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "data parallel (jax): 1 process(es) x 2 device(s)" in r.stderr
    # Keras' (unweighted) training metrics count the padding row of the one train batch that needs one
    # (351 texts: the last batch has 31): up to one text in 351 of accuracy; the loss, the weights and
    # the validation metrics are exact
    _assert_same_training(jax_one_process, r.stdout.strip().splitlines()[-1], train_metrics_atol=1 / 351)


def _rank_pid(rank: int) -> int | None:
    """The pid of the kerasclf.train process with RANK=rank in its environment."""
    for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kerasclf.train" in cmd and f"RANK={rank}".encode() in env:
            return pid
    return None


def _kill_rank_when_logged(proc, out: Path, line: str, rank: int = 1) -> Path:
    """SIGKILL rank `rank` once rank 0's train.log holds `line`; the run folder."""
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and proc.poll() is None:
        logs = list(out.glob("*.incomplete/train.log"))
        if logs and line in logs[0].read_text():
            pid = _rank_pid(rank)
            assert pid is not None, "no process with RANK=1 found"
            os.kill(pid, signal.SIGKILL)
            return logs[0].parent
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the run ended or stalled before {line!r} was logged")


RESUMABLE = [*QUICK, "data.limit=390", "train.epochs=3", "train.early_stopping=null", "train.distribute=data_parallel"]


def test_a_killed_rank_ends_torchrun_and_the_run_resumes_to_the_uninterrupted_history(tmp_path):
    """Dropout on: each rank's random generators are saved (by rank 0) and restored per rank."""
    whole = _run(_torchrun(tmp_path / "whole", RESUMABLE))
    assert whole.returncode == 0, whole.stderr[-3000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen(_torchrun(out, RESUMABLE), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    run_dir = _kill_rank_when_logged(proc, out, "epoch 2/3:")
    killed_at = time.time()
    _, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode != 0 and time.time() - killed_at < 60  # torchrun stops the other rank
    assert "SIGKILL" in err and "rank      : 1" in err  # torchrun's report names the rank and the signal
    assert not (run_dir / "model.keras").exists()
    resumed = _run([*LAUNCH, "--resume", str(run_dir)])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "at epoch 3 of 3" in resumed.stderr
    final = run_dir.with_name(run_dir.name.removesuffix(".incomplete"))
    whole_dir = whole.stdout.strip().splitlines()[-1]
    assert (final / "history.csv").read_text() == (Path(whole_dir) / "history.csv").read_text()


def test_a_killed_process_ends_the_other_with_one_line_not_a_hang(tmp_path):
    """Two processes started by hand (RANK, WORLD_SIZE, MASTER_ADDR: a cluster's launcher, no torchrun
    agent to stop the survivor): rank 0 sees gloo's closed connection and exits 1 with one line."""
    env = dict(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29400 + os.getpid() % 500), WORLD_SIZE="2")
    over = [*QUICK, "train.epochs=50", "train.early_stopping=null", "train.distribute=data_parallel"]
    args = [sys.executable, "-m", "kerasclf.train", "--output-dir", str(tmp_path), *_sets(over)]
    procs = [
        subprocess.Popen(
            args,
            cwd=ROOT,
            env=_env(**env, RANK=str(r), LOCAL_RANK=str(r)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for r in (0, 1)
    ]
    try:
        _kill_rank_when_logged(procs[0], tmp_path, "epoch 1/50:")
        _, err = procs[0].communicate(timeout=120)
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: rank 0: another process of this run stopped (")  # gloo's reason
    assert last.endswith("the run folder keeps the epochs that finished (--resume)")
    assert "Traceback" not in err


def test_bad_input_fails_on_every_rank_with_the_same_line_and_no_folder(tmp_path):
    r = _run(_torchrun(tmp_path, ["data.source=missing.csv", "train.distribute=data_parallel"]))
    assert r.returncode != 0 and "exitcode  : 2" in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert lines and set(lines) == {lines[0]} and "data.source: missing.csv" in lines[0]
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_torchrun_without_data_parallel_is_refused(tmp_path):
    r = _run(_torchrun(tmp_path, QUICK))
    assert r.returncode != 0
    assert (
        "error: train.distribute: none, but torchrun started 2 processes: add --set train.distribute=data_parallel"
        in (r.stderr)
    )
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_two_jax_processes_train_the_weights_one_process_trains(jax_one_process, tmp_path):
    """Two hosts' worth of jax: keras.distribution.initialize from KERAS_DISTRIBUTION_*, each process
    feeding its part of each batch; rank 0 alone writes, validates on a copy on its own devices."""
    args = ["--output-dir", str(tmp_path), *_sets([*EXACT, "train.distribute=data_parallel"])]
    done = _finished(_jax_processes(args, _port()))
    assert [rc for rc, _, _ in done] == [0, 0], done[0][2][-3000:] + done[1][2][-3000:]
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1 and (folders[0] / "model.keras").is_file()
    assert done[0][1].strip().splitlines()[-1] == str(folders[0]) and str(folders[0]) not in done[1][1]
    log = (folders[0] / "train.log").read_text()
    assert log.count("epoch 1/2:") == 1 and "data parallel (jax): 2 process(es) x 1 device(s)" in log
    _assert_same_training(jax_one_process, folders[0], train_metrics_atol=1 / 351)


def _kill_process_when_logged(procs, out: Path, line: str) -> Path:
    deadline = time.time() + TIMEOUT
    while time.time() < deadline and procs[0].poll() is None:
        logs = list(out.glob("*.incomplete/train.log"))
        if logs and line in logs[0].read_text():
            procs[1].kill()
            return logs[0].parent
        time.sleep(0.05)
    pytest.fail(f"the run ended or stalled before {line!r} was logged")


def test_a_killed_jax_process_ends_the_other_with_one_line_and_the_run_resumes(tmp_path):
    """gloo (jax's CPU collectives) sees the closed connection at once; the survivor does not wait
    at jax's shutdown barrier for the dead process. --resume on both gives the uninterrupted history."""
    pytest.importorskip("jax")
    over = [*RESUMABLE, "train.epochs=4"]
    whole = _finished(_jax_processes(["--output-dir", str(tmp_path / "whole"), *_sets(over)], _port()))
    assert [rc for rc, _, _ in whole] == [0, 0], whole[0][2][-3000:]
    out = tmp_path / "killed"
    procs = _jax_processes(["--output-dir", str(out), *_sets(over)], _port())
    try:
        run_dir = _kill_process_when_logged(procs, out, "epoch 2/4:")
        killed_at = time.time()
        _, err = procs[0].communicate(timeout=120)
    finally:
        for p in procs:
            p.kill()
    assert procs[0].returncode == 1 and time.time() - killed_at < 60, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: rank 0: another process of this run stopped (Gloo"), last
    assert "Traceback" not in err and "Check failure" not in err
    resumed = _finished(_jax_processes(["--resume", str(run_dir)], _port()))
    assert [rc for rc, _, _ in resumed] == [0, 0], resumed[0][2][-3000:]
    final = run_dir.with_name(run_dir.name.removesuffix(".incomplete"))
    whole_dir = whole[0][1].strip().splitlines()[-1]
    assert (final / "history.csv").read_text() == (Path(whole_dir) / "history.csv").read_text()


def test_jax_processes_with_a_missing_variable_are_refused_with_one_line(tmp_path):
    pytest.importorskip("jax")
    env = _env(**JAX, KERAS_DISTRIBUTION_NUM_PROCESSES="2", KERAS_DISTRIBUTION_PROCESS_ID="0")
    args = [
        sys.executable,
        "-m",
        "kerasclf.train",
        "--output-dir",
        str(tmp_path),
        *_sets(["train.distribute=data_parallel"]),
    ]
    r = _run(args, env=env)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == (
        "error: KERAS_DISTRIBUTION_JOB_ADDRESSES: not set; jax across processes needs all of "
        "KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_NUM_PROCESSES, KERAS_DISTRIBUTION_PROCESS_ID"
    )
    assert not any(tmp_path.iterdir())
