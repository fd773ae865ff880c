"""Data parallelism over MPI processes (PyTorch: ``torch.nn.parallel.DistributedDataParallel``).

Every process (rank) holds a full copy of the model and runs it on its own part of each batch;
after ``loss.backward()`` the gradients are averaged over the ranks, so every copy takes the same
optimizer step: the step of one process on the union of the parts when the parts are equal
(the mean of per-rank mean gradients is the mean gradient over all samples, notes eq 3.3).

How the averaging is triggered: :meth:`DistributedDataParallel.forward` passes the model's
output through an identity node. When ``backward`` reaches that node it queues the averaging
with :func:`lamina.tensor.queue_backward_callback`; the autograd engine runs it once, after the
pass has filled every parameter's ``grad``. So nothing changes for the training loop, and a
backward that does not go through the wrapped model's output averages nothing. The averaging
itself (:class:`lamina.distributed.reducer.GradientReducer`) packs the gradients into buckets
of ``bucket_cap_mb`` and sums each with one MPI Allreduce. It runs at the end of the pass, not
overlapped with it: lamina computes in one thread and MPICH advances a message only inside MPI
calls, so starting a bucket's Allreduce earlier would not make it finish sooner.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from lamina.distributed import group
from lamina.distributed.collectives import broadcast
from lamina.distributed.reducer import DEFAULT_BUCKET_MB, GradientReducer
from lamina.nn.module import Module
from lamina.tensor import Tensor, apply, is_grad_enabled, queue_backward_callback

__all__ = ["DistributedDataParallel", "DDP"]


class DistributedDataParallel(Module):
    """Wrap ``module`` so that ``backward`` averages its gradients over all ranks.

    At construction rank 0's parameters and buffers are copied to every rank. Then, per step,
    each rank runs ``ddp(x_part)``, its loss and ``loss.backward()``; when backward ends every
    parameter's ``grad`` is ``(1/N) sum_r grad_r`` on every rank, and ``optimizer.step()`` keeps
    the copies identical. With ``broadcast_buffers`` rank 0's buffers (BatchNorm statistics)
    are copied to the others at every forward in training mode, as PyTorch does.

    A parameter that received no gradient on some rank counts as zero there; one that no rank
    used keeps ``grad = None`` (PyTorch needs ``find_unused_parameters=True`` for this; here it
    always works, so that argument is accepted and ignored).

    ``state_dict()`` keys carry the ``module.`` prefix, as in PyTorch; save ``ddp.module`` for
    keys that load into the bare model.

    PyTorch's ``device_ids``, ``output_device``, ``dim``, ``process_group``,
    ``find_unused_parameters``, ``gradient_as_bucket_view`` and ``static_graph`` are accepted
    and ignored (CPU only, one group of all ranks).

    Args:
        module: the model (the same architecture on every rank).
        broadcast_buffers: copy rank 0's buffers to every rank at each training forward.
        init_sync: copy rank 0's parameters and buffers at construction.
        bucket_cap_mb: megabytes of gradients per Allreduce (default 4).

    Raises:
        RuntimeError: no process group (call ``lamina.distributed.init_process_group``).
        TypeError: ``module`` is not a lamina Module.

    Example (with ``mpiexec -n 2``)::

        dist.init_process_group("mpi")
        model = DistributedDataParallel(lm.models.lenet5())
        loss = loss_fn(model(x[rank::world]), y[rank::world])
        loss.backward()          # grads are now averaged over the 2 ranks
        optimizer.step()
    """

    def __init__(self, module: Module, device_ids: Any = None, output_device: Any = None,
                 dim: int = 0, broadcast_buffers: bool = True, init_sync: bool = True,
                 process_group: Any = None, bucket_cap_mb: float | None = None,
                 find_unused_parameters: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False, **unused: Any) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a lamina nn.Module, got "
                            f"{type(module).__name__}")
        group.comm()  # a clear error without a process group
        super().__init__()
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.require_backward_grad_sync = True
        self.reducer = GradientReducer(module.parameters(), bucket_cap_mb or DEFAULT_BUCKET_MB)
        if init_sync:
            sync_module_states(module)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """``module(*args, **kwargs)``, marked so that the next backward through the output
        averages the gradients (unless inside :meth:`no_sync` or without grad mode)."""
        if self.broadcast_buffers and self.training:
            _broadcast_buffers(self.module)
        output = self.module(*args, **kwargs)
        if self.require_backward_grad_sync and is_grad_enabled():
            output = _mark(output, self._average_after_backward)
        return output

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside this block backward only accumulates local gradients (gradient
        accumulation); the first backward after it averages the accumulated sums."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def _average_after_backward(self) -> None:
        self.reducer.reduce()


def _mark(output: Any, callback) -> Any:
    """``output`` with every gradient-carrying Tensor passed through an identity node whose
    backward queues ``callback`` for the end of the backward pass."""
    if isinstance(output, Tensor):
        if not output.requires_grad:
            return output

        def identity(a):
            def backward(grad, need):
                queue_backward_callback(callback)
                return (grad,)
            return a, backward

        return apply(identity, output)
    if isinstance(output, tuple):
        items = [_mark(o, callback) for o in output]
        return type(output)(*items) if hasattr(output, "_fields") else tuple(items)
    if isinstance(output, list):
        return [_mark(o, callback) for o in output]
    if isinstance(output, dict):
        return {k: _mark(v, callback) for k, v in output.items()}
    return output


def sync_module_states(module: Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every rank's ``module`` (in place)."""
    for p in module.parameters():
        broadcast(p, src)
    _broadcast_buffers(module, src)


def _broadcast_buffers(module: Module, src: int = 0) -> None:
    for _, b in module.named_buffers():
        if b is not None:
            broadcast(b, src)


DDP = DistributedDataParallel
