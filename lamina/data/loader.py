"""DataLoader (PyTorch: ``torch.utils.data.DataLoader``): a dataset as an iterable of batches.

Two paths give the same batches:

* array-backed datasets (a :class:`TensorDataset`, or :class:`Subset` s of one) are sliced with one
  index array per batch, ``x[batch_indices]``, with no Python loop over samples;
* any other dataset is read sample by sample and the samples are stacked by ``collate_fn``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from lamina.data.dataset import IterableDataset, Subset, TensorDataset, _as_generator
from lamina.data.sampler import BatchSampler
from lamina.tensor import Tensor

__all__ = ["DataLoader", "default_collate", "default_convert"]


class DataLoader:
    """Iterate over ``dataset`` in minibatches: the notes' minibatch B of SGD (eq 3.3).

    For a :class:`TensorDataset` each batch is a tuple of Tensors, one per array: floating arrays
    keep their dtype, integer arrays (class labels) become int64. Other datasets are batched by
    ``collate_fn`` (default :func:`default_collate`, which stacks the samples).

    Besides lamina's arguments it takes torch's (keyword) arguments, with torch's meaning:
    ``sampler``/``batch_sampler`` choose the indices, ``num_workers > 0`` loads batches in that
    many worker processes (see :mod:`lamina.data.worker`: same batches, same order, seeded per
    worker), ``worker_init_fn``, ``timeout``, ``prefetch_factor`` (batches in flight per worker,
    default 2), ``persistent_workers`` (keep the workers between epochs) and
    ``multiprocessing_context``; ``pin_memory``, ``pin_memory_device`` and ``in_order`` are
    accepted and change nothing (lamina has only host memory and keeps batches in order).
    ``torch.utils.data.DataLoader``'s own signature (``batch_size=1``, torch's positional order) is
    :class:`lamina.utils.data.DataLoader`.

    Args:
        dataset: a map-style dataset (``__len__`` and ``__getitem__``) or an
            :class:`~lamina.data.IterableDataset`.
        batch_size: samples per batch, a positive int; the last batch may be smaller. None turns
            batching off (torch's meaning): every item is one sample, through ``collate_fn`` or
            :func:`default_convert`.
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
        ValueError: ``batch_size`` is not a positive int; ``sampler`` with ``shuffle``;
            ``batch_sampler`` with ``shuffle``, ``sampler`` or ``drop_last``; a negative
            ``num_workers`` or ``timeout``; ``prefetch_factor`` or ``persistent_workers`` with
            ``num_workers=0``; a sampler with an IterableDataset.
        TypeError: ``dataset`` lacks ``__len__``/``__getitem__``, or ``collate_fn``/``transform``/
            ``worker_init_fn`` is not callable.

    Example:
        >>> x, y = np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5)
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=2)
        >>> len(loader), [tuple(xb.shape) for xb, yb in loader]
        (3, [(2, 2), (2, 2), (1, 2)])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 32,
        shuffle: bool | None = False,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        transform: Callable[[Any], Any] | None = None,
        *,
        generator: Any = None,
        sampler: Any = None,
        batch_sampler: Any = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ):
        iterable = isinstance(dataset, IterableDataset)
        if not iterable and not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must define __len__ and __getitem__, got "
                            f"{type(dataset).__name__}; wrap arrays as TensorDataset(x, y)")
        if batch_sampler is not None:
            if shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "shuffle, sampler and drop_last")
            batch_size = None
            self._auto_batch = True
        elif batch_size is None:
            if drop_last:
                raise ValueError("DataLoader: batch_size=None (no batching) is mutually exclusive "
                                 "with drop_last")
            self._auto_batch = False
        elif (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                or batch_size <= 0):
            raise ValueError(f"DataLoader: batch_size must be a positive int or None, got "
                             f"{batch_size!r}")
        else:
            self._auto_batch = True
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader: an IterableDataset takes no shuffle, sampler or "
                             "batch_sampler (it yields its samples in its own order)")
        for name, fn in (("collate_fn", collate_fn), ("transform", transform),
                         ("worker_init_fn", worker_init_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable or None, got "
                                f"{type(fn).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
                or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be an int >= 0, got {num_workers!r}")
        if not isinstance(timeout, (int, float)) or timeout < 0:
            raise ValueError(f"DataLoader: timeout must be a number >= 0, got {timeout!r}")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor can only be given with num_workers > 0")
        if num_workers == 0 and persistent_workers:
            raise ValueError("DataLoader: persistent_workers needs num_workers > 0")
        if prefetch_factor is not None and (isinstance(prefetch_factor, bool) or not isinstance(
                prefetch_factor, (int, np.integer)) or prefetch_factor <= 0):
            raise ValueError(f"DataLoader: prefetch_factor must be a positive int, got "
                             f"{prefetch_factor!r}")
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.transform = transform
        if generator is not None:
            _as_generator(generator, "DataLoader")  # checked now, resolved at each epoch
        self.generator = generator
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.pin_memory_device = pin_memory_device
        self.timeout = float(timeout)
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.persistent_workers = bool(persistent_workers)
        self.in_order = bool(in_order)
        self._pool: Any = None

    def __len__(self) -> int:
        """Number of batches per epoch: ``floor(n / batch_size)`` with ``drop_last``, else ceil
        (``n`` itself with ``batch_size=None``)."""
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        if not self._auto_batch:
            return n
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Any]:
        iterable = isinstance(self.dataset, IterableDataset)
        index_batches = None if iterable else self._index_batches()
        if self.num_workers == 0:
            if iterable:
                return self._iterable_batches()
            return (self._fetch(indices) for indices in index_batches)
        from lamina.data.worker import _MultiProcessIterator, _WorkerPool

        pool = self._pool
        if pool is None or not pool.processes:
            pool = _WorkerPool(self, self._base_seed())
            if self.persistent_workers:
                self._pool = pool
        return _MultiProcessIterator(self, pool, index_batches)

    def _base_seed(self) -> int:
        """torch's per-epoch worker seed base, peeked so that the epoch's stream is unchanged and
        ``num_workers`` does not alter any later shuffle."""
        rng = copy.deepcopy(_as_generator(self.generator, "DataLoader"))
        return int(rng.integers(0, 2**62))

    def _index_batches(self) -> Iterator[Any]:
        if self.batch_sampler is not None:
            return iter(self.batch_sampler)
        if not self._auto_batch:  # one index at a time, wrapped so that it is never None
            if self.sampler is not None:
                return ((index,) for index in self.sampler)
            n = len(self.dataset)
            order = (_as_generator(self.generator, "DataLoader").permutation(n) if self.shuffle
                     else range(n))
            return ((int(index),) for index in order)
        if self.sampler is not None:
            return iter(BatchSampler(self.sampler, self.batch_size, self.drop_last))
        n = len(self.dataset)
        if self.shuffle:
            order = _as_generator(self.generator, "DataLoader").permutation(n)
        else:
            order = np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        return (order[start:start + self.batch_size] for start in range(0, stop, self.batch_size))

    def _fetch(self, indices: Any) -> Any:
        if not self._auto_batch:
            return self._convert(self.dataset[indices[0]])
        source = _array_source(self.dataset) if self.collate_fn is None else None
        return self._batch(indices, source)

    def _convert(self, sample: Any) -> Any:
        """One sample without batching: ``collate_fn(sample)`` or :func:`default_convert`."""
        return default_convert(sample) if self.collate_fn is None else self.collate_fn(sample)

    def _iterable_batches(self) -> Iterator[Any]:
        if not self._auto_batch:
            yield from (self._convert(sample) for sample in self.dataset)
            return
        batch: list[Any] = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self._collate(batch)
                batch = []
        if batch and not self.drop_last:
            yield self._collate(batch)

    def _batch(self, indices: Any, source: tuple | None) -> Any:
        if source is not None:
            arrays, positions = source
            rows = np.asarray(indices, dtype=np.int64)
            if positions is not None:
                rows = positions[rows]
            return _to_tensors(self._transform(tuple(np.take(a, rows, axis=0) for a in arrays)))
        return self._collate([self.dataset[_plain(i)] for i in indices])

    def _collate(self, samples: list[Any]) -> Any:
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

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None
        return state

    def __del__(self) -> None:
        pool = self.__dict__.get("_pool")
        if pool is not None and pool.processes:
            pool.shutdown()

    def __repr__(self) -> str:
        return (f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _plain(index: Any) -> Any:
    return int(index) if isinstance(index, np.integer) else index


def default_collate(samples: list[Any]) -> Any:
    """Stack a list of samples into one batch of Tensors, field by field.

    Arrays, Tensors and numbers are stacked along a new first axis, with torch's dtypes: floating
    data keeps its dtype, Python floats become float64 and Python ints int64 (bools stay bool);
    tuples, lists and dicts are collated per field; strings are returned as a list.

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


def default_convert(sample: Any) -> Any:
    """One sample as torch's ``default_convert`` leaves it: NumPy arrays and scalars of numbers
    become Tensors (no new batch axis), containers are converted field by field, anything else
    is returned as it is.

    Example:
        >>> default_convert((np.zeros(2), 3))
        (tensor([0., 0.], dtype=float64), 3)
    """
    if isinstance(sample, (np.ndarray, np.generic)) and np.asarray(sample).dtype.kind in "biuf":
        return Tensor(np.asarray(sample))
    if isinstance(sample, Mapping):
        return {key: default_convert(value) for key, value in sample.items()}
    if isinstance(sample, tuple):
        fields = [default_convert(v) for v in sample]
        return type(sample)(*fields) if hasattr(sample, "_fields") else tuple(fields)
    if isinstance(sample, list):
        return [default_convert(v) for v in sample]
    return sample


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
        dtype = np.float64 if any(isinstance(s, float) for s in samples) else None
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
