"""Collective operations on Tensors and NumPy arrays (PyTorch: ``torch.distributed``).

Every call is one MPI collective on the whole group: every rank must make the same calls in the
same order with arrays of the same shape and dtype, or the job waits for ever (MPI has no
timeout; see :mod:`lamina.distributed.group` for the abort on exceptions). Tensors are changed
in place and their version counter is bumped.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from lamina.distributed.group import comm, get_world_size
from lamina.tensor import Tensor

__all__ = ["ReduceOp", "all_reduce", "broadcast", "all_gather", "all_gather_object",
           "broadcast_object_list"]


class ReduceOp(enum.Enum):
    """How :func:`all_reduce` combines the ranks' values (elementwise)."""

    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    PRODUCT = "product"


def _mpi_op(op: ReduceOp):
    from mpi4py import MPI

    return {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.MAX: MPI.MAX,
            ReduceOp.MIN: MPI.MIN, ReduceOp.PRODUCT: MPI.PROD}[op]


def _array(tensor: Any, where: str) -> np.ndarray:
    if isinstance(tensor, Tensor):
        return tensor._data
    if isinstance(tensor, np.ndarray):
        return tensor
    raise TypeError(f"{where}: expected a lamina Tensor or a NumPy array (changed in place), "
                    f"got {type(tensor).__name__}")


def _store(tensor: Any, array: np.ndarray, result: np.ndarray) -> None:
    """Write ``result`` into ``tensor``'s memory (``array``) and mark the change."""
    if result is not array:
        np.copyto(array, result, casting="unsafe")
    if isinstance(tensor, Tensor):
        tensor._bump_version()


def _buffer(array: np.ndarray, where: str) -> np.ndarray:
    """A contiguous array MPI can read and write: ``array`` itself when possible."""
    if not array.flags.writeable:
        raise ValueError(f"{where}: the array is read-only; collectives write their result "
                         f"into it")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: expected a numeric array, got dtype {array.dtype}")
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def all_reduce(tensor: Any, op: ReduceOp = ReduceOp.SUM, group: Any = None,
               async_op: bool = False) -> None:
    """Combine ``tensor`` over all ranks, elementwise, and give every rank the result in place.

    ``SUM``: x <- sum_r x_r; ``AVG``: x <- (1/N) sum_r x_r (floating dtypes only);
    ``MAX``/``MIN``/``PRODUCT`` likewise, over the N ranks. ``group`` and ``async_op`` are
    accepted for PyTorch scripts; the call is synchronous, on the whole group.

    Args:
        tensor: a lamina Tensor or NumPy array; same shape and dtype on every rank.
        op: a :class:`ReduceOp`.

    Raises:
        TypeError: not a Tensor/array, a non-numeric dtype, or ``AVG`` of integers.
        RuntimeError: no process group.
    """
    where = "all_reduce"
    if not isinstance(op, ReduceOp):
        raise TypeError(f"{where}: op must be a lamina.distributed.ReduceOp, got {op!r}")
    array = _array(tensor, where)
    if op is ReduceOp.AVG and array.dtype.kind != "f":
        raise TypeError(f"{where}: ReduceOp.AVG needs a floating dtype, got {array.dtype}")
    from mpi4py import MPI

    buffer = _buffer(array, where)
    comm().Allreduce(MPI.IN_PLACE, buffer, op=_mpi_op(op))
    if op is ReduceOp.AVG:
        np.divide(buffer, get_world_size(), out=buffer)
    _store(tensor, array, buffer)


def broadcast(tensor: Any, src: int, group: Any = None, async_op: bool = False) -> None:
    """Copy rank ``src``'s ``tensor`` into every rank's ``tensor`` (same shape and dtype)."""
    where = "broadcast"
    _check_rank(src, where, "src")
    array = _array(tensor, where)
    buffer = _buffer(array, where)
    comm().Bcast(buffer, root=int(src))
    _store(tensor, array, buffer)


def all_gather(tensor_list: list, tensor: Any, group: Any = None, async_op: bool = False) -> None:
    """Fill ``tensor_list[r]`` with rank r's ``tensor``, on every rank.

    Args:
        tensor_list: world-size Tensors or arrays of ``tensor``'s shape and dtype, written in
            place.
        tensor: this rank's contribution.

    Raises:
        ValueError: ``tensor_list`` has the wrong length, or an entry the wrong shape or dtype.
    """
    where = "all_gather"
    size = get_world_size()
    source = np.ascontiguousarray(_array(tensor, where))
    if not isinstance(tensor_list, list) or len(tensor_list) != size:
        got = len(tensor_list) if isinstance(tensor_list, list) else type(tensor_list).__name__
        raise ValueError(f"{where}: tensor_list must be a list of world_size={size} tensors, "
                         f"got {got}")
    targets = [_array(t, where) for t in tensor_list]
    for i, target in enumerate(targets):
        if target.shape != source.shape or target.dtype != source.dtype:
            raise ValueError(f"{where}: tensor_list[{i}] has shape {target.shape} and dtype "
                             f"{target.dtype}; expected the tensor's {source.shape} {source.dtype}")
    gathered = np.empty((size, *source.shape), dtype=source.dtype)
    comm().Allgather(source, gathered)
    for t, target, values in zip(tensor_list, targets, gathered, strict=True):
        _store(t, target, values)


def all_gather_object(object_list: list, obj: Any, group: Any = None) -> None:
    """Fill ``object_list[r]`` with rank r's ``obj`` (any picklable object), on every rank.

    The objects travel between the job's own processes (mpi4py pickles them); nothing is read
    from a file."""
    size = get_world_size()
    if not isinstance(object_list, list) or len(object_list) != size:
        raise ValueError(f"all_gather_object: object_list must be a list of world_size={size} "
                         f"entries, got {object_list!r}")
    object_list[:] = comm().allgather(obj)


def broadcast_object_list(object_list: list, src: int = 0, group: Any = None) -> None:
    """Replace every rank's ``object_list`` entries by rank ``src``'s (picklable objects)."""
    _check_rank(src, "broadcast_object_list", "src")
    if not isinstance(object_list, list):
        raise TypeError(f"broadcast_object_list: expected a list, got "
                        f"{type(object_list).__name__}")
    object_list[:] = comm().bcast(object_list, root=int(src))


def _check_rank(rank: Any, where: str, name: str) -> None:
    size = get_world_size()
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < size:
        raise ValueError(f"{where}: {name} must be a rank in 0..{size - 1}, got {rank!r}")
