"""``torch.utils.data`` under its PyTorch name: datasets, samplers, collation and the DataLoader.

Everything here is :mod:`lamina.data`'s, except :class:`DataLoader`, which takes torch's signature
(``batch_size=1`` and torch's positional order); its batches are the same as
:class:`lamina.data.DataLoader`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina.data import (
    BatchSampler,
    ConcatDataset,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    WorkerInfo,
    default_collate,
    default_convert,
    get_worker_info,
    random_split,
)
from lamina.data import DataLoader as _DataLoader
from lamina.data.distributed import DistributedSampler

__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "default_convert", "Sampler", "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "get_worker_info",
    "WorkerInfo", "DistributedSampler",
]


class DataLoader(_DataLoader):
    """``torch.utils.data.DataLoader(dataset, batch_size=1, shuffle=None, sampler=None,
    batch_sampler=None, num_workers=0, collate_fn=None, pin_memory=False, drop_last=False,
    timeout=0, worker_init_fn=None, multiprocessing_context=None, generator=None, *,
    prefetch_factor=None, persistent_workers=False, pin_memory_device='', in_order=True)``.

    See :class:`lamina.data.DataLoader` for the meaning of every argument.

    Example:
        >>> import numpy as np
        >>> loader = DataLoader(TensorDataset(np.arange(6.0)), batch_size=4)
        >>> [batch[0].tolist() for batch in loader]
        [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, num_workers: int = 0,
                 collate_fn: Callable[[list[Any]], Any] | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None,
                 multiprocessing_context: Any = None, generator: Any = None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        super().__init__(
            dataset, batch_size, shuffle, drop_last, collate_fn, generator=generator,
            sampler=sampler, batch_sampler=batch_sampler, num_workers=num_workers,
            pin_memory=pin_memory, timeout=timeout, worker_init_fn=worker_init_fn,
            multiprocessing_context=multiprocessing_context, prefetch_factor=prefetch_factor,
            persistent_workers=persistent_workers, pin_memory_device=pin_memory_device,
            in_order=in_order)
