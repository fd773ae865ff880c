"""What of lamina.distributed works without an MPI job: the sampler's arithmetic, the
autograd engine's end-of-backward callbacks, clear errors, the launcher's command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lamina as lm
import lamina.distributed as dist
from lamina.data import DistributedSampler
from lamina.tensor import apply, queue_backward_callback

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (3, 7, False),
                                                    (12, 4, False), (12, 4, True), (1, 2, False)])
def test_sampler_shards_match_torch_without_shuffling(torch, n, replicas, drop_last):
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for rank in range(replicas):
        ours = DistributedSampler(list(range(n)), replicas, rank, shuffle=False,
                                  drop_last=drop_last)
        theirs = TorchSampler(list(range(n)), replicas, rank, shuffle=False,
                              drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@pytest.mark.parametrize("n, replicas", [(10, 3), (7, 2), (64, 8)])
def test_sampler_shards_are_a_partition_of_each_epoch(n, replicas):
    for epoch in range(3):
        shards = []
        for rank in range(replicas):
            sampler = DistributedSampler(range(n), replicas, rank, seed=11)
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
        assert len({len(s) for s in shards}) == 1
        together = [i for s in shards for i in s]
        assert sorted(set(together)) == list(range(n))
        assert len(together) - n == (-n) % replicas  # the padding repeats a few indices
    first = [list(DistributedSampler(range(n), replicas, 0, seed=11)) for _ in range(2)]
    assert first[0] == first[1]


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"invalid rank 3.*\[0, 2\]"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))  # no process group to ask


# --------------------------------------------------------------------------- autograd hook
def test_backward_callback_runs_once_after_every_leaf_has_its_gradient():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def check():
        seen.append(w.grad.numpy().copy())

    def marked(a):
        def backward(grad, need):
            queue_backward_callback(check)
            return (grad,)
        return a, backward

    out = lm.tensor([3.0, 4.0]) * w
    total = apply(marked, out).sum() + apply(marked, out).sum() + (w * w).sum()
    total.backward()
    assert len(seen) == 1  # queued twice, run once, after the w * w branch too
    np.testing.assert_allclose(seen[0], 2 * np.array([3.0, 4.0]) + 2 * np.array([1.0, 2.0]))
    (w * 2).sum().backward()  # a later pass that queues nothing runs nothing
    assert len(seen) == 1


def test_backward_callback_of_a_failed_pass_is_dropped():
    w = lm.tensor([1.0], requires_grad=True)
    ran = []

    def failing(a):
        def backward(grad, need):
            queue_backward_callback(lambda: ran.append(1))
            raise ArithmeticError("backward fails")
        return a, backward

    with pytest.raises(ArithmeticError):
        apply(failing, w * 1.0).sum().backward()
    (w * 3).sum().backward()
    assert ran == []


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


def test_fit_in_one_process_is_untouched_by_the_launcher_environment(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "1")  # mpiexec -n 1: one process, no group needed
    x, y = np.random.default_rng(0).normal(size=(8, 3)), np.arange(8) % 2
    model = lm.nn.Linear(3, 2)
    lm.fit(model, lm.nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
           epochs=1, batch_size=4)
    assert not dist.is_initialized()
