"""What of lamina.distributed works without an MPI job: clear errors, the checkpoint's world
size, the launcher's command line, no MPI at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina as lm
import lamina.distributed as dist

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- errors
def test_collectives_and_ddp_need_a_process_group():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(lm.zeros(2))
    with pytest.raises(RuntimeError, match="init_process_group"):
        lm.nn.parallel.DistributedDataParallel(lm.nn.Linear(2, 2))
    assert lm.nn.parallel.DDP is lm.nn.parallel.DistributedDataParallel


def test_other_backends_are_refused():
    with pytest.raises(ValueError, match="backend='mpi'"):
        dist.init_process_group("nccl")


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "lamina\[mpi\]"'):
        dist.init_process_group("mpi")
    assert not dist.is_initialized()


def test_import_lamina_does_not_import_mpi():
    probe = ("import sys, lamina, lamina.distributed, lamina.nn.parallel; "
             "print('mpi4py' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, check=True)
    assert out.stdout.strip() == "False"


def test_resuming_with_another_world_size_is_a_clear_error(tmp_path, monkeypatch):
    model = lm.nn.Linear(2, 1)
    monkeypatch.setenv("PMI_SIZE", "2")  # as if mpiexec -n 2 started this process
    lm.train.save_checkpoint(tmp_path / "c.safetensors", model, None, epoch=3)
    assert lm.train.load_checkpoint(tmp_path / "c.safetensors", model).epoch == 3
    monkeypatch.setenv("PMI_SIZE", "4")
    with pytest.raises(ValueError, match=r"written by a run of 2 processes, this run has 4"):
        lm.train.load_checkpoint(tmp_path / "c.safetensors", model)
    monkeypatch.delenv("PMI_SIZE")
    with pytest.raises(ValueError, match=r"mpiexec -n 2"):
        lm.train.load_checkpoint(tmp_path / "c.safetensors", model)


def test_nproc_launches_mpiexec_with_the_other_arguments(monkeypatch):
    from lamina.cli import train
    from lamina.distributed.launch import mpiexec_command

    monkeypatch.setenv("LAMINA_MPIEXEC", "/opt/mpi/bin/mpiexec")
    argv = train._without_nproc(["train", "c.toml", "--nproc", "4", "--epochs", "2",
                                 "--nproc=3"])
    assert argv == ["train", "c.toml", "--epochs", "2"]
    assert mpiexec_command(4, argv) == ["/opt/mpi/bin/mpiexec", "-n", "4", sys.executable,
                                        "-m", "lamina", *argv]


def test_nproc_shares_the_cores_unless_the_thread_counts_are_set(monkeypatch):
    import os

    from lamina.cli import train

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    env = train._thread_env(2)
    assert env["OPENBLAS_NUM_THREADS"] == "3"
    assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))


def test_fit_in_one_process_is_untouched_by_the_launcher_environment(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "1")  # mpiexec -n 1: one process, no group needed
    x, y = np.random.default_rng(0).normal(size=(8, 3)), np.arange(8) % 2
    model = lm.nn.Linear(3, 2)
    lm.fit(model, lm.nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
           epochs=1, batch_size=4)
    assert not dist.is_initialized()
