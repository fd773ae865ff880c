"""Data-parallel training under a real MPI job: launches ``mpiexec -n 2`` in subprocesses.

The training checks themselves are in ``mpi_training.py`` (not collected by a plain
``pytest``: it needs the 2 ranks); here each launch must end with the right exit status, and a
failing rank must end the whole job instead of leaving the other waiting.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def _mpiexec() -> str | None:
    from lamina.distributed import is_available
    from lamina.distributed.launch import find_mpiexec

    if not is_available():
        return None
    try:
        return find_mpiexec()
    except FileNotFoundError:
        return None


MPIEXEC = _mpiexec()
pytestmark = pytest.mark.skipif(
    MPIEXEC is None, reason='needs mpi4py and mpiexec (pip install "lamina[mpi]")')


def run_job(*args: str, timeout: int, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``mpiexec -n 2 ARGS`` with this worktree's lamina, killed after ``timeout`` seconds (a
    hung job is a failure, not a wait)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAMINA_NO_NUMBA="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1")
    command = [MPIEXEC, "-n", "2", *args]
    if shutil.which("timeout"):
        command = ["timeout", "-s", "KILL", str(timeout), *command]
    try:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the MPI job did not end within {timeout} s: {' '.join(args)}")


def test_training_on_two_ranks_equals_one_process():
    done = run_job(sys.executable, "-m", "mpi4py", "-m", "pytest", str(HERE / "mpi_training.py"),
                   "-p", "no:cacheprovider", timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "passed" in done.stdout
    assert "skipped" not in done.stdout and "failed" not in done.stdout


@pytest.mark.parametrize("launcher", [["-m", "mpi4py"], []], ids=["python -m mpi4py", "python"])
def test_a_rank_that_raises_ends_the_job(launcher):
    done = run_job(sys.executable, *launcher, str(HERE / "mpi_fail.py"), "raise", timeout=60)
    assert done.returncode != 0
    assert done.returncode != 137, "killed by the timeout: the job hung"
    assert "rank 1 fails on purpose" in done.stderr, done.stderr  # the traceback got out


CONFIG = """
[data]
source = "mnist"
subset = "small"
max_train = 240

[model]
name = "mlp"
hidden = [32]

[loss]
name = "cross_entropy"

[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9

[train]
epochs = 1
batch_size = 24
seed = 1
validation_split = 0.0

[output]
plots = false
"""


def test_lamina_train_error_on_one_rank_ends_the_job(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    done = run_job(sys.executable, str(HERE / "mpi_fail.py"), "cli", str(config),
                   str(tmp_path / "out"), timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "lamina: error:" in done.stderr and "Traceback" not in done.stderr


def test_lamina_train_nproc_matches_one_process(tmp_path):
    import lamina as lm

    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    env = dict(os.environ, PYTHONPATH=str(ROOT), LAMINA_NO_NUMBA="1", OMP_NUM_THREADS="1")
    outs = {}
    for nproc in (1, 2):
        out = tmp_path / f"n{nproc}"
        done = subprocess.run([sys.executable, "-m", "lamina", "train", str(config), "--out",
                               str(out), "--quiet", "--nproc", str(nproc)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.count("accuracy:") == 1  # rank 0 alone prints
        outs[nproc] = lm.load(out / "model.safetensors").state_dict()
        assert sorted(p.name for p in out.iterdir()) == ["history.csv", "model.safetensors",
                                                        "summary.json"]
    for name, value in outs[1].items():  # float32: equal up to rounding
        np.testing.assert_allclose(outs[2][name], value, rtol=1e-4, atol=1e-5, err_msg=name)
