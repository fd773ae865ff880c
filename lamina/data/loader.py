"""DataLoader (PyTorch: ``torch.utils.data.DataLoader``): a dataset as an iterable of batches.

Two paths give the same batches:

* array-backed datasets (a :class:`TensorDataset`, or :class:`Subset` s of one) are sliced with one
  index array per batch, ``x[batch_indices]``, with no Python loop over samples;
* any other dataset is read sample by sample and the samples are stacked by ``collate_fn``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from lamina.data.dataset import Subset, TensorDataset, _as_generator
from lamina.tensor import Tensor

__all__ = ["DataLoader", "default_collate"]


class DataLoader:
    """Iterate over ``dataset`` in minibatches: the notes' minibatch B of SGD (eq 3.3).

    For a :class:`TensorDataset` each batch is a tuple of Tensors, one per array: floating arrays
    keep their dtype, integer arrays (class labels) become int64. Other datasets are batched by
    ``collate_fn`` (default :func:`default_collate`, which stacks the samples).

    Args:
        dataset: a map-style dataset (``__len__`` and ``__getitem__``).
        batch_size: samples per batch, a positive int; the last batch may be smaller.
        shuffle: draw a new permutation of the samples at the start of every epoch from lamina's
            global generator (or ``generator``), so ``lm.manual_seed`` fixes every epoch's order.
        drop_last: drop the last batch when it has fewer than ``batch_size`` samples.
        collate_fn: ``list of samples -> batch``; given, it replaces the array fast path.
        transform: applied to every batch's first element (the inputs) before it is wrapped in a
            Tensor, e.g. augmentation from :mod:`lamina.data.transforms`; it gets a NumPy array from
            the default paths. A batch that is not a tuple or list is passed whole.
        generator: a ``np.random.Generator`` (or int seed) for shuffling instead of lamina's global
            one.

    Raises:
        ValueError: ``batch_size`` is not a positive int.
        TypeError: ``dataset`` lacks ``__len__``/``__getitem__``, or ``collate_fn``/``transform``
            is not callable.

    Example:
        >>> x, y = np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5)
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=2)
        >>> len(loader), [tuple(xb.shape) for xb, yb in loader]
        (3, [(2, 2), (2, 2), (1, 2)])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        transform: Callable[[Any], Any] | None = None,
        *,
        generator: np.random.Generator | int | None = None,
    ):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got "
                            f"{type(dataset).__name__}; wrap arrays as TensorDataset(x, y)")
        if (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        for name, fn in (("collate_fn", collate_fn), ("transform", transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable or None, got "
                                f"{type(fn).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.transform = transform
        self.generator = None if generator is None else _as_generator(generator, "DataLoader")

    def __len__(self) -> int:
        """Number of batches per epoch: ``floor(n / batch_size)`` with ``drop_last``, else ceil."""
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        n = len(self.dataset)
        if self.shuffle:
            order = _as_generator(self.generator, "DataLoader").permutation(n)
        else:
            order = np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        starts = range(0, stop, self.batch_size)
        source = _array_source(self.dataset) if self.collate_fn is None else None
        return (self._batch(order[start:start + self.batch_size], source) for start in starts)

    def _batch(self, indices: np.ndarray, source: tuple | None) -> Any:
        if source is not None:
            arrays, positions = source
            rows = indices if positions is None else positions[indices]
            return _to_tensors(self._transform(tuple(np.take(a, rows, axis=0) for a in arrays)))
        samples = [self.dataset[int(i)] for i in indices]
        if self.collate_fn is None:
            return _to_tensors(self._transform(_stack(samples)))
        return self._transform(self.collate_fn(samples))

    def _transform(self, batch: Any) -> Any:
        if self.transform is None:
            return batch
        if isinstance(batch, (tuple, list)) and batch:
            fields = [self.transform(batch[0]), *batch[1:]]
            return type(batch)(*fields) if hasattr(batch, "_fields") else type(batch)(fields)
        return self.transform(batch)

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def default_collate(samples: list[Any]) -> Any:
    """Stack a list of samples into one batch of Tensors, field by field.

    Arrays, Tensors and numbers are stacked along a new first axis (floating data keeps its dtype,
    Python floats become float32, integers int64); tuples, lists and dicts are collated per field;
    strings are returned as a list.

    Args:
        samples: one entry per sample, all with the same structure and shapes.

    Returns:
        The batch, with the samples' structure: e.g. ``[(x0, y0), (x1, y1)] -> (X, Y)`` where ``X``
        has shape ``(2, *x0.shape)``.

    Raises:
        ValueError: the samples' shapes or lengths differ.
        TypeError: a sample holds a type that cannot be batched.

    Example:
        >>> xb, yb = default_collate([(np.zeros(3), 0), (np.ones(3), 1)])
        >>> tuple(xb.shape), yb.tolist()
        ((2, 3), [0, 1])
    """
    return _to_tensors(_stack(samples))


def _array_source(dataset: Any) -> tuple[tuple[np.ndarray, ...], np.ndarray | None] | None:
    """The arrays behind ``dataset`` and the row of each sample (None: the identity), or None
    when ``dataset`` is not a plain TensorDataset seen through plain Subsets."""
    positions = None
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        positions = dataset.indices if positions is None else dataset.indices[positions]
        dataset = dataset.dataset
    plain = type(dataset).__getitem__ is TensorDataset.__getitem__
    if isinstance(dataset, TensorDataset) and plain:
        return dataset.arrays, positions
    return None


def _stack(samples: list[Any]) -> Any:
    """Collate samples into NumPy arrays (the Tensor wrapping comes after the transform)."""
    first = samples[0]
    if isinstance(first, (Tensor, np.ndarray, np.generic)):
        arrays = [np.asarray(s) for s in samples]
        shapes = {a.shape for a in arrays}
        if len(shapes) > 1:
            raise ValueError(f"default_collate: samples have different shapes {sorted(shapes)}; "
                             f"pass a collate_fn that pads or crops them")
        return np.stack(arrays)
    if isinstance(first, (bool, int, float)):
        dtype = np.float32 if any(isinstance(s, float) for s in samples) else None
        return np.asarray(samples, dtype=dtype)
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, Mapping):
        return {key: _stack([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        lengths = {len(s) for s in samples}
        if len(lengths) > 1:
            raise ValueError(f"default_collate: samples have different numbers of fields "
                             f"{sorted(lengths)}")
        fields = [_stack(list(field)) for field in zip(*samples, strict=True)]
        return type(first)(*fields) if hasattr(first, "_fields") else type(first)(fields)
    raise TypeError(f"default_collate: cannot batch samples of type {type(first).__name__}; "
                    f"pass a collate_fn")


def _to_tensors(batch: Any) -> Any:
    if isinstance(batch, np.ndarray) and batch.dtype.kind in "biuf":
        return Tensor(batch)
    if isinstance(batch, tuple):
        fields = [_to_tensors(b) for b in batch]
        return type(batch)(*fields) if hasattr(batch, "_fields") else tuple(fields)
    if isinstance(batch, list):
        return [_to_tensors(b) for b in batch]
    if isinstance(batch, dict):
        return {key: _to_tensors(value) for key, value in batch.items()}
    return batch
