"""Run only under MPI with 2+ processes (tests/distributed/test_mpi.py launches it):

    mpiexec -n 2 python -m mpi4py -m pytest tests/distributed/mpi_training.py -q

Data-parallel training must give, on every rank, the parameters one process gets with the
same global batch (float64, 1e-12 relative), and identical parameters on all ranks.
"""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
import lamina.distributed as dist
from lamina.data import DistributedSampler
from lamina.nn.parallel import DistributedDataParallel
from lamina.random import generator

mpi = pytest.importorskip("mpi4py.MPI")
if mpi.COMM_WORLD.Get_size() < 2:
    pytest.skip("needs an MPI job of 2+ processes (mpiexec -n 2 python -m mpi4py -m pytest "
                "tests/distributed/mpi_training.py)", allow_module_level=True)

dist.init_process_group("mpi")
RANK, WORLD = dist.get_rank(), dist.get_world_size()
STEPS, BATCH = 20, 16
GLOBAL_BATCH = {"mlp": 16, "lenet5": 8}  # LeNet-5 in float64 is the slow one


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def assert_same_parameters(model, reference, rtol: float = 1e-12) -> None:
    for (name, p), q in zip(model.named_parameters(), reference.parameters(), strict=True):
        assert relative_error(p.numpy(), q.numpy()) <= rtol, name


def assert_identical_across_ranks(model) -> None:
    mine = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    everyone = mpi.COMM_WORLD.allgather(mine)
    for other in everyone:
        np.testing.assert_array_equal(other, mine)


def data(kind: str, n: int):
    rng = np.random.default_rng(5)
    shape = (n, 12) if kind == "mlp" else (n, 1, 28, 28)
    return rng.normal(size=shape), rng.integers(0, 10 if kind == "lenet5" else 3, n)


def build(kind: str, seed: int):
    lm.manual_seed(seed)
    if kind == "mlp":
        return lm.models.mlp([12, 16, 16, 3]).double()
    return lm.models.lenet5().double()


def reference_step(model, optimizer, loss_fn, xb, yb) -> float:
    optimizer.zero_grad()
    loss = loss_fn(model(lm.tensor(xb)), lm.tensor(yb))
    loss.backward()
    optimizer.step()
    return float(loss.item())


# --------------------------------------------------------------------------- collectives
def test_collectives_on_tensors_and_arrays():
    t = lm.tensor([1.0 + RANK, -RANK], dtype="float64")
    version = t._version
    dist.all_reduce(t)
    assert t._version > version
    np.testing.assert_allclose(t.numpy(), [sum(1.0 + r for r in range(WORLD)),
                                           -sum(range(WORLD))])
    a = np.array([RANK, 10 - RANK], dtype=np.int64)
    dist.all_reduce(a, op=dist.ReduceOp.MAX)
    np.testing.assert_array_equal(a, [WORLD - 1, 10])
    dist.all_reduce(a, op=dist.ReduceOp.MIN)
    np.testing.assert_array_equal(a, [WORLD - 1, 10])
    avg = lm.tensor(np.full(3, float(RANK)))
    dist.all_reduce(avg, op=dist.ReduceOp.AVG)
    np.testing.assert_allclose(avg.numpy(), np.full(3, (WORLD - 1) / 2))
    b = lm.tensor(np.full((2, 2), RANK + 5.0, np.float32))
    dist.broadcast(b, src=WORLD - 1)
    np.testing.assert_array_equal(b.numpy(), np.full((2, 2), WORLD + 4.0))
    gathered = [lm.zeros(2) for _ in range(WORLD)]
    dist.all_gather(gathered, lm.tensor([RANK, RANK + 0.5]))
    for r, g in enumerate(gathered):
        np.testing.assert_array_equal(g.numpy(), [r, r + 0.5])
    with pytest.raises(TypeError, match="AVG"):
        dist.all_reduce(np.arange(3), op=dist.ReduceOp.AVG)
    with pytest.raises(ValueError, match="src"):
        dist.broadcast(b, src=WORLD)


# --------------------------------------------------------------------------- DDP
@pytest.mark.parametrize("kind", ["mlp", "lenet5"])
def test_ddp_equals_one_process_with_the_same_global_batch(kind):
    batch = GLOBAL_BATCH[kind]
    x, y = data(kind, STEPS * batch)
    loss_fn = lm.nn.CrossEntropyLoss()
    reference = build(kind, 1)
    ref_opt = lm.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    # every rank starts from other weights: DDP copies rank 0's
    model = build(kind, 1 if RANK == 0 else 100 + RANK)
    ddp = DistributedDataParallel(model, bucket_cap_mb=0.002)  # several buckets
    assert len(ddp.reducer.buckets) > 1
    opt = lm.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    for step in range(STEPS):
        xb, yb = x[step * batch:(step + 1) * batch], y[step * batch:(step + 1) * batch]
        reference_step(reference, ref_opt, loss_fn, xb, yb)
        opt.zero_grad()
        loss_fn(ddp(lm.tensor(xb[RANK::WORLD])), lm.tensor(yb[RANK::WORLD])).backward()
        opt.step()
    assert_same_parameters(model, reference)
    assert_identical_across_ranks(model)
    assert list(ddp.state_dict())[0] == "module." + next(iter(model.state_dict()))


def test_ddp_no_sync_accumulates_then_averages():
    x, y = data("mlp", 4 * BATCH)
    loss_fn = lm.nn.CrossEntropyLoss()
    reference = build("mlp", 2)
    ref_opt = lm.optim.SGD(reference.parameters(), lr=0.1)
    ddp = DistributedDataParallel(build("mlp", 2))
    opt = lm.optim.SGD(ddp.parameters(), lr=0.1)
    for start in (0, 2 * BATCH):  # two steps of two accumulated micro-batches each
        ref_opt.zero_grad()
        opt.zero_grad()
        for micro in range(2):
            lo = start + micro * BATCH
            xb, yb = x[lo:lo + BATCH], y[lo:lo + BATCH]
            loss_fn(reference(lm.tensor(xb)), lm.tensor(yb)).backward()
            part = (lm.tensor(xb[RANK::WORLD]), lm.tensor(yb[RANK::WORLD]))
            if micro == 0:
                with ddp.no_sync():
                    loss_fn(ddp(part[0]), part[1]).backward()
                assert_differs_across_ranks(ddp.module)
            else:
                loss_fn(ddp(part[0]), part[1]).backward()
        ref_opt.step()
        opt.step()
    assert_same_parameters(ddp.module, reference)
    assert_identical_across_ranks(ddp.module)


def assert_differs_across_ranks(model) -> None:
    grad = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
    everyone = mpi.COMM_WORLD.allgather(grad)
    assert any(not np.array_equal(everyone[0], g) for g in everyone[1:])


def test_ddp_unused_parameter_keeps_no_grad_and_partly_used_counts_zero():
    class TwoHeads(lm.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = lm.nn.Linear(3, 1)
            self.b = lm.nn.Linear(3, 1)
            self.never = lm.nn.Linear(3, 1)

        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0.0)

    lm.manual_seed(0)
    ddp = DistributedDataParallel(TwoHeads().double())
    x = lm.tensor(np.ones((2, 3)))
    ddp(x, use_b=RANK == 0).sum().backward()
    module = ddp.module
    assert module.never.weight.grad is None
    np.testing.assert_allclose(module.a.weight.grad.numpy(), np.full((1, 3), 2.0))
    np.testing.assert_allclose(module.b.weight.grad.numpy(), np.full((1, 3), 2.0 / WORLD))


# --------------------------------------------------------------------------- fit
@pytest.mark.parametrize("kind", ["mlp", "lenet5"])
def test_fit_equals_one_process_with_the_same_global_batch(kind):
    batch = GLOBAL_BATCH[kind]
    n = STEPS * batch - 5  # a smaller last batch, split unevenly between the ranks
    x, y = data(kind, n)
    loss_fn = lm.nn.CrossEntropyLoss()
    reference = build(kind, 3)
    model = build(kind, 3 if RANK == 0 else 50)
    state = generator().bit_generator.state  # rank 0's is the one fit shares
    state = mpi.COMM_WORLD.bcast(state, root=0)
    shuffle = np.random.Generator(np.random.PCG64())
    shuffle.bit_generator.state = state
    order = shuffle.permutation(n)
    ref_opt = lm.optim.Adam(reference.parameters(), lr=1e-3)
    losses = []
    for start in range(0, n, batch):
        rows = order[start:start + batch]
        losses.append(reference_step(reference, ref_opt, loss_fn, x[rows], y[rows]) * len(rows))
    history = lm.fit(model, loss_fn, lm.optim.Adam(model.parameters(), lr=1e-3), (x, y),
                     epochs=1, batch_size=batch, metrics=["accuracy"])
    assert_same_parameters(model, reference)
    assert_identical_across_ranks(model)
    assert abs(history.history["loss"][0] - sum(losses) / n) <= 1e-12 * sum(losses) / n


def test_fit_with_a_dataloader_per_rank_averages_equal_shares():
    from lamina.data import DataLoader, Subset, TensorDataset

    x, y = data("mlp", 6 * 16)
    dataset = TensorDataset(x, y)
    reference = build("mlp", 6)
    ref_opt = lm.optim.SGD(reference.parameters(), lr=0.1)
    for start in range(0, len(x), 16):
        reference_step(reference, ref_opt, lm.nn.CrossEntropyLoss(), x[start:start + 16],
                       y[start:start + 16])
    share = list(DistributedSampler(dataset, shuffle=False))  # rank r: r, r + N, ...
    loader = DataLoader(Subset(dataset, share), batch_size=16 // WORLD)
    model = build("mlp", 6)
    lm.fit(model, lm.nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), loader,
           epochs=1)
    assert_same_parameters(model, reference)
    assert_identical_across_ranks(model)
    sampler = DistributedSampler(dataset, shuffle=True, seed=1)
    lm.fit(model, lm.nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
           DataLoader(dataset, batch_size=8, sampler=sampler), epochs=3)
    assert sampler.epoch == 2  # fit called set_epoch before each epoch
    assert_identical_across_ranks(model)
    uneven = DataLoader(Subset(dataset, share[:8 + 8 * RANK]), batch_size=8)
    with pytest.raises(ValueError, match="different numbers of batches"):
        lm.fit(model, lm.nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
               uneven, epochs=1)


def test_fit_nonfinite_loss_on_one_rank_raises_on_every_rank_before_the_step():
    x, y = data("mlp", 64)
    x[17] = np.nan  # in the second global batch of 16, on one rank's share
    model = build("mlp", 7)
    optimizer = lm.optim.SGD(model.parameters(), lr=0.1)
    before = []

    class Keep(lm.train.Callback):
        def on_batch_end(self, batch, logs):
            before[:] = [p.numpy().copy() for p in model.parameters()]

    with pytest.raises(lm.train.loop.NonFiniteLossError, match="batch 1"):
        lm.fit(model, lm.nn.CrossEntropyLoss(), optimizer, (x, y), epochs=1, batch_size=16,
               shuffle=False, callbacks=[Keep()])
    for p, q in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.numpy(), q)


def test_fit_validation_and_metrics_cover_all_ranks():
    x, y = data("mlp", 101)
    model = build("mlp", 4)
    history = lm.fit(model, lm.nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1),
                     (x, y), val=(x, y), epochs=2, batch_size=32, metrics=["accuracy"])
    expected = lm.train.evaluate(model, lm.nn.CrossEntropyLoss(), (x, y), metrics=["accuracy"])
    assert abs(history.history["val_loss"][-1] - expected["loss"]) <= 1e-12
    assert history.history["val_accuracy"][-1] == expected["accuracy"]
    everyone = mpi.COMM_WORLD.allgather(history.history)
    assert all(h == history.history for h in everyone)


def test_fit_stop_on_one_rank_stops_all_at_the_same_batch():
    class StopOnRankOne(lm.train.Callback):
        def on_batch_end(self, batch, logs):
            if RANK == 1 and batch == 2:
                self.trainer.stop_training = True

    seen = []

    class Count(lm.train.Callback):
        def on_batch_end(self, batch, logs):
            seen.append(batch)

    x, y = data("mlp", 200)
    model = build("mlp", 4)
    lm.fit(model, lm.nn.CrossEntropyLoss(), lm.optim.SGD(model.parameters(), lr=0.1), (x, y),
           epochs=3, batch_size=20, callbacks=[StopOnRankOne(), Count()])
    assert seen == [0, 1, 2]
    assert_identical_across_ranks(model)


def test_checkpoint_records_the_world_size(tmp_path_factory):
    model = build("mlp", 0)
    path = mpi.COMM_WORLD.bcast(str(tmp_path_factory.mktemp("ckpt") / "c.safetensors"))
    if RANK == 0:
        lm.train.save_checkpoint(path, model, None, epoch=1)
    dist.barrier()
    assert lm.train.load_checkpoint(path, build("mlp", 1)).epoch == 1


def test_fit_resumed_from_a_checkpoint_continues_bit_for_bit(tmp_path_factory):
    x, y = data("mlp", 90)

    def fresh():
        lm.manual_seed(8)
        model = lm.nn.Sequential(lm.nn.Linear(12, 16), lm.nn.ReLU(), lm.nn.Dropout(0.3),
                                 lm.nn.Linear(16, 3)).double()
        return model, lm.optim.Adam(model.parameters(), lr=1e-2)

    def train(model, optimizer, epochs, initial_epoch=0):
        lm.fit(model, lm.nn.CrossEntropyLoss(), optimizer, (x, y), epochs=epochs,
               initial_epoch=initial_epoch, batch_size=10)

    straight, opt = fresh()
    train(straight, opt, epochs=2)
    first, opt = fresh()
    train(first, opt, epochs=1)
    path = mpi.COMM_WORLD.bcast(str(tmp_path_factory.mktemp("resume") / "c.safetensors"))
    if RANK == 0:
        lm.train.save_checkpoint(path, first, opt, epoch=1)
    dist.barrier()
    resumed, opt = fresh()
    epoch = lm.train.load_checkpoint(path, resumed, opt).epoch
    train(resumed, opt, epochs=2, initial_epoch=epoch)
    for p, q in zip(resumed.parameters(), straight.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert_identical_across_ranks(resumed)


# --------------------------------------------------------------------------- sampler
@pytest.mark.parametrize("n, drop_last", [(10, False), (11, False), (11, True)])
def test_distributed_sampler_shards_cover_the_dataset_once_per_epoch(n, drop_last):
    sampler = DistributedSampler(list(range(n)), shuffle=True, seed=3, drop_last=drop_last)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        mine = list(sampler)
        assert len(mine) == len(sampler)
        shards = mpi.COMM_WORLD.allgather(mine)
        together = sorted(i for shard in shards for i in shard)
        if drop_last:
            assert len(set(together)) == len(together) == (n // WORLD) * WORLD
        else:
            assert sorted(set(together)) == list(range(n))
            assert len(together) == -(-n // WORLD) * WORLD  # padded by repeats
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first  # a new order each epoch
    again = DistributedSampler(list(range(n)), seed=3, drop_last=drop_last)
    assert list(again) == first  # the seed fixes it
