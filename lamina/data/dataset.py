"""Map-style datasets (PyTorch: ``torch.utils.data``): Dataset, TensorDataset, Subset, random_split.

A dataset is anything with ``__len__`` and ``__getitem__(i)`` returning one sample. A
:class:`TensorDataset` keeps whole arrays, so :class:`~lamina.data.DataLoader` can slice a batch
out of them with one index array instead of a Python loop over samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from lamina.random import generator as _global_generator
from lamina.tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "random_split"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self):
        ...         return 4
        ...     def __getitem__(self, index):
        ...         return index, index * index
        >>> Squares()[3]
        (3, 9)
    """

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of iterable-style datasets: subclasses define ``__iter__`` yielding samples.

    A :class:`~lamina.data.DataLoader` with ``num_workers > 0`` gives every worker its own copy;
    split the stream with :func:`~lamina.data.get_worker_info` to avoid duplicates (as in torch).
    """

    def __iter__(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __getitem__(self, index: Any) -> Any:
        raise TypeError(f"{type(self).__name__} is an IterableDataset: iterate over it instead "
                        f"of indexing it")


class ConcatDataset(Dataset):
    """The samples of several datasets one after the other.

    Item ``i`` comes from the first dataset whose cumulative size exceeds ``i``.

    Raises:
        ValueError: no datasets, or an IterableDataset among them.

    Example:
        >>> ds = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 12))])
        >>> len(ds), int(ds[3][0])
        (5, 10)
    """

    def __init__(self, datasets: Sequence[Any]):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset, got none")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise ValueError("ConcatDataset: IterableDatasets cannot be concatenated by index")
        self.cumulative_sizes: list[int] = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if index < 0:
            if -index > n:
                raise IndexError(f"ConcatDataset: index {index} out of range for {n} samples")
            index += n
        if index >= n:
            raise IndexError(f"ConcatDataset: index {index} out of range for {n} samples")
        which = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]


class TensorDataset(Dataset):
    """Samples are rows of equally long arrays: item ``i`` is ``(arrays[0][i], arrays[1][i], ...)``,
    each a Tensor as in torch (sharing memory with the array for a slice).

    Args:
        *arrays: NumPy arrays, lamina Tensors or array-likes, all with the same first dimension
            (the number of samples), e.g. images ``(N, 28, 28)`` and labels ``(N,)``.

    Attributes:
        arrays: the data as a tuple of NumPy arrays (Tensors are unwrapped, not copied).

    Raises:
        ValueError: no arrays, a 0-d array, or arrays whose first dimensions differ.

    Example:
        >>> x, y = np.zeros((5, 2), np.float32), np.arange(5)
        >>> ds = TensorDataset(x, y)
        >>> len(ds), int(ds[4][1])
        (5, 4)
    """

    def __init__(self, *arrays: Any):
        if not arrays:
            raise ValueError("TensorDataset: expected at least one array, got none")
        data = tuple(a._data if isinstance(a, Tensor) else np.asarray(a) for a in arrays)
        for position, array in enumerate(data):
            if array.ndim == 0:
                raise ValueError(f"TensorDataset: array {position} is a 0-d scalar; every array "
                                 f"needs a first dimension indexing the samples")
        sizes = [array.shape[0] for array in data]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension "
                             f"(number of samples), got sizes {sizes}")
        self.arrays: tuple[np.ndarray, ...] = data

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """The arrays as lamina Tensors (PyTorch's attribute name); they share memory."""
        return tuple(Tensor(array) for array in self.arrays)

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(Tensor._wrap(np.asarray(array[index])) for array in self.arrays)

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in order: ``subset[i] = dataset[indices[i]]``.

    Args:
        dataset: the dataset to view.
        indices: integer positions into ``dataset``, shape ``(M,)``; repeats are allowed.

    Raises:
        ValueError: ``indices`` is not a 1-d sequence of integers in ``[0, len(dataset))``.

    Example:
        >>> ds = Subset(TensorDataset(np.arange(10)), [7, 2])
        >>> len(ds), int(ds[0][0])
        (2, 7)
    """

    def __init__(self, dataset: Any, indices: Sequence[int] | np.ndarray):
        positions = np.asarray(indices)
        if positions.size == 0:
            positions = positions.astype(np.int64)
        if positions.ndim != 1 or positions.dtype.kind not in "iu":
            raise ValueError(f"Subset: indices must be a 1-d sequence of ints, got an array of "
                             f"dtype {positions.dtype} and shape {positions.shape}")
        n = len(dataset)
        if positions.size and (positions.min() < 0 or positions.max() >= n):
            raise ValueError(f"Subset: indices must lie in [0, {n}) for a dataset of {n} samples, "
                             f"got values from {positions.min()} to {positions.max()}")
        self.dataset = dataset
        self.indices: np.ndarray = positions.astype(np.int64, copy=False)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)):
            return self.dataset[int(self.indices[index])]
        return self.dataset[self.indices[index]]

    def __len__(self) -> int:
        return len(self.indices)

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {type(self.dataset).__name__} with {len(self.dataset)})"


def random_split(
    dataset: Any,
    lengths: Sequence[int | float],
    generator: np.random.Generator | int | None = None,
) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping :class:`Subset` s of the given lengths.

    Lengths are either counts that add up to ``len(dataset)`` or fractions that add up to 1. As in
    PyTorch, fractions become ``floor(fraction * len(dataset))`` samples each and the samples left
    over are handed out one at a time to the splits in order.

    Args:
        dataset: the dataset to split.
        lengths: counts (ints) or fractions (floats in ``[0, 1]``), one per split.
        generator: a ``np.random.Generator`` or an int seed; ``None`` uses lamina's global generator
            (so ``lm.manual_seed`` makes the split reproducible).

    Returns:
        One Subset per entry of ``lengths``; together they hold every sample exactly once.

    Raises:
        ValueError: negative lengths, fractions outside ``[0, 1]`` or not summing to 1, or counts
            whose sum is not ``len(dataset)``.

    Example:
        >>> train, val = random_split(TensorDataset(np.arange(10)), [0.8, 0.2], generator=0)
        >>> len(train), len(val)
        (8, 2)
    """
    n = len(dataset)
    counts = _split_counts(lengths, n)
    rng = _as_generator(generator, "random_split")
    order = rng.permutation(n)
    bounds = np.cumsum([0, *counts])
    return [Subset(dataset, order[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]


def _split_counts(lengths: Sequence[int | float], n: int) -> list[int]:
    values = list(lengths)
    if not values:
        raise ValueError("random_split: lengths must name at least one split, got []")
    if any(isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))
           for v in values):
        raise ValueError(f"random_split: lengths must be ints or floats, got {values}")
    if any(v < 0 for v in values):
        raise ValueError(f"random_split: lengths must be non-negative, got {values}")
    if all(isinstance(v, (int, np.integer)) for v in values):
        counts = [int(v) for v in values]
        if sum(counts) != n:
            raise ValueError(f"random_split: the lengths {counts} add up to {sum(counts)}, but the "
                             f"dataset has {n} samples")
        return counts
    if any(v > 1 for v in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-6):
        raise ValueError(f"random_split: fractional lengths must lie in [0, 1] and add up to 1, "
                         f"got {values} (sum {sum(values)})")
    counts = [int(math.floor(n * v)) for v in values]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return counts


def _as_generator(generator: np.random.Generator | int | None, caller: str) -> np.random.Generator:
    if generator is None:
        return _global_generator()
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    inner = getattr(generator, "rng", None)  # lm.Generator (torch.Generator) wraps a NumPy one
    if isinstance(inner, np.random.Generator):
        return inner
    raise TypeError(f"{caller}: generator must be an lm.Generator, a numpy.random.Generator, an "
                    f"int seed or None, got {type(generator).__name__}")
