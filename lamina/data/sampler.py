"""Samplers (PyTorch: ``torch.utils.data.Sampler`` and friends): which indices, in what order.

A sampler is an iterable of dataset indices; a :class:`BatchSampler` groups them into lists, one
per batch. :class:`~lamina.data.DataLoader` builds ``BatchSampler(SequentialSampler(ds))`` or
``BatchSampler(RandomSampler(ds))`` from ``shuffle`` unless it is given ``sampler`` or
``batch_sampler``. Random samplers draw from ``generator`` (a ``np.random.Generator``, an int seed,
or None for lamina's global generator, which ``lm.manual_seed`` seeds).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from lamina.data.dataset import _as_generator
from lamina.tensor import Tensor

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


class Sampler:
    """Base class: subclasses define ``__iter__`` (indices) and usually ``__len__``."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """Indices ``0, 1, ..., len(data_source) - 1`` in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices, or ``num_samples`` draws with replacement.

    Args:
        data_source: the dataset (only its length is used).
        replacement: draw ``num_samples`` indices independently and uniformly.
        num_samples: how many indices per epoch; default ``len(data_source)``. Without replacement a
            larger count repeats whole permutations, as in torch.
        generator: ``np.random.Generator``, int seed or None (lamina's global generator).

    Raises:
        ValueError: ``num_samples`` is not a positive int.
        TypeError: ``replacement`` is not a bool.
    """

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, got {replacement!r}")
        if num_samples is not None and (isinstance(num_samples, bool)
                                        or not isinstance(num_samples, (int, np.integer))
                                        or num_samples <= 0):
            raise ValueError(f"RandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator

    @property
    def num_samples(self) -> int:
        """Indices per epoch."""
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def __iter__(self) -> Iterator[int]:
        rng = _as_generator(self.generator, "RandomSampler")
        n, count = len(self.data_source), self.num_samples
        if self.replacement:
            return iter(rng.integers(0, n, size=count).tolist())
        rounds = [rng.permutation(n) for _ in range(-(-count // n))] if n else [np.arange(0)]
        return iter(np.concatenate(rounds)[:count].tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order (a new permutation every epoch)."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        order = _as_generator(self.generator, "SubsetRandomSampler").permutation(len(self.indices))
        return (self.indices[int(i)] for i in order)

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probability proportional to ``weights``.

    ``P(i) = weights[i] / sum(weights)``; with ``replacement=False`` an index is drawn at most once.

    Raises:
        ValueError: ``weights`` is not 1-d, is negative or sums to 0; ``num_samples`` is not a
            positive int, or exceeds the number of weights without replacement.
    """

    def __init__(self, weights: Sequence[float] | np.ndarray | Tensor, num_samples: int,
                 replacement: bool = True, generator: Any = None) -> None:
        w = np.asarray(weights._data if isinstance(weights, Tensor) else weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a non-empty 1-d sequence of "
                             f"finite non-negative numbers with a positive sum, got shape "
                             f"{w.shape}")
        if (isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer))
                or num_samples <= 0):
            raise ValueError(f"WeightedRandomSampler: num_samples must be a positive int, got "
                             f"{num_samples!r}")
        if not isinstance(replacement, bool):
            raise TypeError(f"WeightedRandomSampler: replacement must be a bool, got "
                            f"{replacement!r}")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples without "
                             f"replacement from {np.count_nonzero(w)} non-zero weights")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def __iter__(self) -> Iterator[int]:
        rng = _as_generator(self.generator, "WeightedRandomSampler")
        p = self.weights / self.weights.sum()
        drawn = rng.choice(p.size, size=self.num_samples, replace=self.replacement, p=p)
        return iter(drawn.tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Group the indices of ``sampler`` into lists of ``batch_size``.

    ``len = floor(n / batch_size)`` with ``drop_last``, else ``ceil(n / batch_size)``.

    Example:
        >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
        [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool) -> None:
        if (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                or batch_size <= 0):
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got "
                             f"{batch_size!r}")
        if not isinstance(drop_last, bool):
            raise TypeError(f"BatchSampler: drop_last must be a bool, got {drop_last!r}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        batch: list[int] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
