"""Gradient averaging in buckets: one Allreduce per few megabytes of gradients.

A bucket is one flat array holding the gradients of consecutive parameters (in reverse
registration order, as PyTorch: the last layers' gradients are the first ready) plus one
"has a gradient" flag per parameter. After the sum over the ranks, a parameter whose flags sum
to k > 0 gets ``grad = sum_r grad_r / N`` (a rank where it received no gradient adds zeros);
one that no rank used keeps ``grad = None``, so optimizers skip it as they would in one process.

All buckets are started with non-blocking ``Iallreduce`` as soon as each is packed and then
awaited together, so MPI moves one bucket while the next is being packed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from lamina.distributed.group import comm
from lamina.tensor import Tensor

__all__ = ["GradientReducer", "DEFAULT_BUCKET_MB"]

DEFAULT_BUCKET_MB = 4.0


class _Bucket:
    __slots__ = ("params", "offsets", "dtype", "size")

    def __init__(self, params: list, dtype: np.dtype) -> None:
        self.params = params
        self.dtype = dtype
        self.offsets = np.cumsum([0] + [p._data.size for p in params]).tolist()
        self.size = self.offsets[-1]


class GradientReducer:
    """Average the gradients of ``params`` over all ranks, in buckets of ``bucket_cap_mb``.

    Args:
        params: the parameters (every rank passes the same ones, in the same order); those
            with ``requires_grad=False`` are left out.
        bucket_cap_mb: the most megabytes of gradients per bucket (a larger parameter gets a
            bucket of its own).

    Raises:
        ValueError: ``bucket_cap_mb`` is not positive.
    """

    def __init__(self, params: Iterable[Tensor], bucket_cap_mb: float = DEFAULT_BUCKET_MB):
        if isinstance(bucket_cap_mb, bool) or not bucket_cap_mb > 0:
            raise ValueError(f"GradientReducer: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        self.cap = float(bucket_cap_mb) * 2**20
        self.params = [p for p in params if p.requires_grad]
        self._plan()

    def _layout(self) -> list[tuple]:
        return [(p._data.dtype, p._data.size) for p in self.params]

    def _plan(self) -> None:
        """Group the parameters into buckets (again after ``model.double()`` and the like)."""
        cap, trainable = self.cap, self.params
        self.layout = self._layout()
        self.buckets: list[_Bucket] = []
        open_buckets: dict[np.dtype, tuple[list, float]] = {}
        for p in reversed(trainable):
            members, used = open_buckets.get(p.dtype, ([], 0.0))
            if members and used + p._data.nbytes > cap:
                self.buckets.append(_Bucket(members, p.dtype))
                members, used = [], 0.0
            members.append(p)
            open_buckets[p.dtype] = (members, used + p._data.nbytes)
        for dtype, (members, _) in open_buckets.items():
            self.buckets.append(_Bucket(members, dtype))

    def reduce(self, extra: Sequence[float] | None = None) -> np.ndarray | None:
        """Replace every gradient by its mean over the ranks (in place; see the module).

        Args:
            extra: numbers to sum over the ranks along with the gradients (``fit`` sends its
                loss and stop flag this way), in float64.

        Returns:
            The ranks' sum of ``extra`` as a float64 array, or None without ``extra``.
        """
        from mpi4py import MPI

        c = comm()
        world = c.Get_size()
        if self._layout() != self.layout:
            self._plan()
        buffers, requests = [], []
        for bucket in self.buckets:
            buffer = np.empty(bucket.size + len(bucket.params), dtype=bucket.dtype)
            flags = buffer[bucket.size:]
            for j, p in enumerate(bucket.params):
                part = buffer[bucket.offsets[j]:bucket.offsets[j + 1]]
                if p.grad is None:
                    part.fill(0)
                    flags[j] = 0
                else:
                    part[...] = p.grad._data.reshape(-1)
                    flags[j] = 1
            buffers.append(buffer)
            requests.append(c.Iallreduce(MPI.IN_PLACE, buffer, op=MPI.SUM))
        totals = None
        if extra is not None:  # in float64 whatever the gradients' dtype, in flight together
            totals = np.array(extra, dtype=np.float64)
            requests.append(c.Iallreduce(MPI.IN_PLACE, totals, op=MPI.SUM))
        MPI.Request.Waitall(requests)
        for bucket, buffer in zip(self.buckets, buffers, strict=True):
            flags = buffer[bucket.size:bucket.size + len(bucket.params)]
            for j, p in enumerate(bucket.params):
                if flags[j] == 0:
                    continue
                mean = buffer[bucket.offsets[j]:bucket.offsets[j + 1]].reshape(p.shape)
                np.divide(mean, world, out=mean)
                if p.grad is None:
                    p.grad = Tensor._wrap(mean.copy())
                else:
                    np.copyto(p.grad._data, mean)
                    p.grad._bump_version()
        return totals
