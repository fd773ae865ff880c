"""``fit`` in a process group: the same training as one process, split over N processes.

When ``fit`` runs in an MPI job of N > 1 processes (``lamina.distributed.init_process_group``
was called, or the script was started by ``mpiexec -n N``, which ``fit`` then joins by itself),
every rank runs the same loop over the same global batches of ``batch_size`` samples:

* rank 0's random generator is copied to every rank at each epoch start, so all ranks draw the
  same shuffled order (the order one process would draw); rank r then takes samples
  ``r, r + N, r + 2N, ...`` of each global batch; afterwards ranks r > 0 jump their generator
  r streams ahead, so dropout masks differ between ranks but are reproducible;
* rank r's loss ``L_r`` (the mean over its n_r samples) is back-propagated scaled by
  ``n_r * N / n`` (n: the global batch's size) and the gradients are averaged over the ranks,
  which gives ``sum_r (n_r / n) grad L_r``, the gradient of the global batch's mean loss, so
  learning rate and batch size mean what they mean in one process (for a loss with
  ``reduction='sum'`` the scale is N);
* the logged loss and metrics are over all ranks' samples; validation data (arrays or a
  Dataset) is split between the ranks and the sums are reduced;
* only rank 0 runs the callbacks that write or print (``rank_zero_only = True``: ProgressBar,
  ModelCheckpoint, CSVLogger); the others (EarlyStopping, schedulers) run on every rank with
  the same logs, so they take the same decisions. A stop requested on any rank stops all.

A DataLoader given as ``train`` is used as it is on each rank: give it a
``DistributedSampler`` so that the ranks read different samples; each step then averages the
ranks' gradients with equal weights (PyTorch's DistributedDataParallel).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

__all__ = ["DataParallel", "data_parallel"]


def data_parallel(model: Any) -> DataParallel | None:
    """The :class:`DataParallel` plan when this process is one of several, else None.

    Joins the MPI job (``init_process_group``) when mpiexec started this process among others
    and no group exists yet.
    """
    from lamina.distributed import group
    from lamina.distributed.launch import launched_by_mpi

    if not group.is_initialized():
        if not launched_by_mpi():
            return None
        group.init_process_group("mpi")
    rank, world = group.rank_and_size()
    if world == 1:
        return None
    return DataParallel(model, rank, world)


class DataParallel:
    """What ``fit`` does differently on rank ``rank`` of ``world`` (see the module)."""

    def __init__(self, model: Any, rank: int, world: int) -> None:
        from lamina.distributed.reducer import GradientReducer
        from lamina.nn.parallel import DistributedDataParallel, sync_module_states

        if isinstance(model, DistributedDataParallel):
            model = model.module  # fit averages by itself; the wrapper would average twice
        self.model, self.rank, self.world = model, rank, world
        sync_module_states(model)
        self.reducer = GradientReducer(model.parameters())

    # ------------------------------------------------------------------ setup
    def callbacks(self, callbacks: list) -> list:
        """The callbacks this rank runs: all on rank 0, the others without rank-0-only ones."""
        if self.rank == 0:
            return callbacks
        return [c for c in callbacks if not getattr(c, "rank_zero_only", False)]

    def loader(self, data: Any, batch_size: int, shuffle: bool) -> GlobalBatches | Any:
        """Arrays and Datasets: :class:`GlobalBatches`; a DataLoader: itself (checked to have
        the same number of batches on every rank)."""
        from lamina.data import DataLoader, TensorDataset
        from lamina.train.loop import _check_arrays, _is_array_tuple

        if _is_array_tuple(data):
            data = TensorDataset(*_check_arrays(data, "fit", "train"))
        if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(
                data, DataLoader):
            return GlobalBatches(data, batch_size, shuffle, self.rank, self.world)
        if hasattr(data, "__len__"):
            counts = self.gather(len(data))
            if len(set(counts)) > 1:
                raise ValueError(f"fit: the ranks' DataLoaders have different numbers of batches "
                                 f"{counts}; give each a DistributedSampler over the same dataset")
        return data

    def begin_epoch(self, loader: Any, epoch: int) -> None:
        """Copy rank 0's generator to every rank, draw the epoch's order, then give ranks > 0
        their own streams (for dropout). A DataLoader's ``DistributedSampler`` gets
        ``set_epoch(epoch)``."""
        from lamina.distributed.group import comm
        from lamina.random import generator

        set_epoch = getattr(getattr(loader, "sampler", None), "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)

        bit_generator = generator().bit_generator
        bit_generator.state = comm().bcast(bit_generator.state, root=0)
        if isinstance(loader, GlobalBatches):
            loader.draw_order()
        if self.rank > 0 and hasattr(bit_generator, "jumped"):
            bit_generator.state = bit_generator.jumped(self.rank).state

    # ------------------------------------------------------------------ per step
    def loss_scale(self, loss_fn: Any, local: int, total: int | None) -> float:
        """The factor on this rank's loss that makes the averaged gradient the global one."""
        if getattr(loss_fn, "reduction", "mean") == "sum":
            return float(self.world)
        if total is None:  # a user's DataLoader: equal weights, as DistributedDataParallel
            return 1.0
        return local * self.world / total

    def train_batch(self, trainer: Any, callbacks: list, step: int, batch: Any, loss_fn: Any,
                    optimizer: Any, zero_grad: Any, class_weight: Any, dtype: Any,
                    resolved: list, check_finite: bool = False,
                    epoch: int = 0) -> tuple[float, int, Any, Any] | None:
        """One training step on this rank's part of a global batch, with its batch callbacks.

        A stop requested on any rank after the previous batch travels with this batch's
        gradients; then nothing is stepped and the result is None. With ``check_finite``, a
        NaN or infinite global batch loss raises ``NonFiniteLossError`` on every rank before
        the step. Otherwise returns ``(loss, n, y, output)``: the global batch's mean loss and
        size, and this rank's targets and output array (None for an empty part)."""
        from lamina.train.loop import (
            _array,
            _call,
            _input,
            _non_finite,
            _split_batch,
            compute_loss,
        )

        batch, global_size = batch if isinstance(batch, _GlobalBatch) else (batch, None)
        stop_requested = step > 0 and trainer.should_stop()
        batch_logs: dict[str, Any] = {"batch": step, "size": global_size}
        _call(callbacks, "on_batch_begin", step, batch_logs)
        zero_grad()
        output = y = None
        local_sum, local_n = 0.0, 0
        if batch is not None:
            x, y, w = _split_batch(batch, "fit")
            model_output = self.model(_input(x, dtype))
            loss = compute_loss(loss_fn, model_output, y, class_weight=class_weight,
                                sample_weight=w)
            local_n = model_output.shape[0]
            local_sum = float(loss.item()) * local_n
            scale = self.loss_scale(loss_fn, local_n, global_size)
            (loss if scale == 1.0 else loss * scale).backward()
            output = model_output._data
        total, n, stopped = self.reduce(local_sum, local_n, stop_requested)
        if stopped:
            return None
        value = total / max(n, 1)
        if check_finite and not math.isfinite(value):  # the same value on every rank
            raise _non_finite(value, epoch, step, _array(x) if batch is not None else
                              np.zeros(0))
        optimizer.step()
        batch_logs.update(size=n, loss=value)
        for name, fn in resolved:
            if getattr(fn, "_lamina_builtin", False) and output is not None:
                batch_logs[name] = fn(_array(y), output)
        _call(callbacks, "on_batch_end", step, batch_logs)
        return value, n, y, output

    def reduce(self, loss_sum: float, count: int, stop: bool) -> tuple[float, int, bool]:
        """Average the gradients; return the ranks' summed ``loss_sum`` and ``count`` and
        whether any rank asked to stop."""
        totals = self.reducer.reduce(extra=[loss_sum, count, 1.0 if stop else 0.0])
        return float(totals[0]), int(round(totals[1])), bool(totals[2] > 0)

    def sum(self, *values: float) -> np.ndarray:
        from mpi4py import MPI

        from lamina.distributed.group import comm

        array = np.asarray(values, dtype=np.float64)
        comm().Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        return array

    def gather(self, value: Any) -> list:
        from lamina.distributed.group import comm

        return comm().allgather(value)

    def concat(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Every rank's ``arrays`` concatenated, rank 0's first (for epoch metrics)."""
        local = np.concatenate(arrays) if arrays else None
        return [a for a in self.gather(local) if a is not None]

    # ------------------------------------------------------------------ validation
    def evaluate(self, model: Any, loss_fn: Any, data: Any, batch_size: int, metrics: Iterable,
                 prefix: str) -> dict[str, float]:
        """``evaluate`` over all ranks: arrays and Datasets are split in contiguous shares
        whose loss sums and outputs are combined; a DataLoader is evaluated whole on each."""
        from lamina.data import DataLoader, Subset, TensorDataset
        from lamina.train.loop import (
            _check_arrays,
            _is_array_tuple,
            _metric_values,
            evaluate,
            resolve_metrics,
        )

        if _is_array_tuple(data):
            data = TensorDataset(*_check_arrays(data, "evaluate", "data"))
        if isinstance(data, DataLoader) or not (hasattr(data, "__getitem__")
                                                 and hasattr(data, "__len__")):
            return evaluate(model, loss_fn, data, batch_size, metrics, prefix)
        n = len(data)
        if n == 0:
            raise ValueError("evaluate: data has no samples")
        bounds = np.linspace(0, n, self.world + 1).round().astype(np.int64)
        share = Subset(data, np.arange(bounds[self.rank], bounds[self.rank + 1]))
        resolved = resolve_metrics(metrics, loss_fn)
        total, count, targets, outputs = _evaluation_sums(model, loss_fn, share, batch_size,
                                                          bool(resolved))
        total, count = self.sum(total, count)
        logs = {prefix + "loss": float(total / count)} if loss_fn is not None else {}
        if resolved:
            logs.update(_metric_values(resolved, self.concat(targets), self.concat(outputs),
                                       prefix))
        return logs


def _evaluation_sums(model: Any, loss_fn: Any, data: Any, batch_size: int,
                     keep: bool) -> tuple[float, int, list, list]:
    """The sum of the per-sample losses of ``data``, its size and (with ``keep``) the
    targets and outputs of each batch: what ``evaluate`` combines, for one rank's share."""
    from lamina.tensor import no_grad
    from lamina.train.loop import _array, _input, _loader, _model_dtype, _split_batch, compute_loss

    dtype = _model_dtype(model)
    was_training = model.training
    model.eval()
    total, count, targets, outputs = 0.0, 0, [], []
    try:
        with no_grad():
            for batch in _loader(data, batch_size, False, "evaluate", "data"):
                x, y, w = _split_batch(batch, "evaluate")
                output = model(_input(x, dtype))
                n = output.shape[0]
                if loss_fn is not None:
                    total += float(compute_loss(loss_fn, output, y, sample_weight=w).item()) * n
                count += n
                if keep:
                    targets.append(_array(y))
                    outputs.append(output._data)
    finally:
        model.train(was_training)
    return total, count, targets, outputs


class _GlobalBatch(NamedTuple):
    """This rank's part of a global batch (None when empty) and the global batch's size."""

    part: Any
    size: int


class GlobalBatches:
    """The epoch's global batches of ``batch_size`` samples; each item is this rank's part
    (samples ``rank, rank + world, ...`` of the global batch: a batch of Tensors, or None when
    the part is empty) and the global batch's size."""

    def __init__(self, dataset: Any, batch_size: int, shuffle: bool, rank: int,
                 world: int) -> None:
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.rank, self.world = rank, world
        self.order: np.ndarray | None = None

    def __len__(self) -> int:
        return -(-len(self.dataset) // self.batch_size)

    def draw_order(self) -> None:
        """The epoch's order: ``generator().permutation(n)`` (DataLoader's draw) or 0..n-1."""
        from lamina.random import generator

        n = len(self.dataset)
        self.order = generator().permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[_GlobalBatch]:
        from lamina.data import DataLoader, Subset

        order = self.order if self.order is not None else np.arange(len(self.dataset))
        self.order = None
        for start in range(0, len(order), self.batch_size):
            indices = order[start:start + self.batch_size]
            mine = indices[self.rank::self.world]
            if len(mine) == 0:
                yield _GlobalBatch(None, len(indices))
                continue
            part = DataLoader(Subset(self.dataset, mine), batch_size=len(mine))
            yield _GlobalBatch(next(iter(part)), len(indices))
