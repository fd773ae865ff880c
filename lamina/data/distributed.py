"""DistributedSampler (PyTorch: ``torch.utils.data.distributed.DistributedSampler``): each rank
reads its own share of a dataset.

Per epoch, the sample indices (shuffled with a generator seeded by ``seed + epoch``, the same on
every rank) are padded by repeating the first ones up to ``num_samples * num_replicas`` (or cut
to it with ``drop_last``), and rank r takes every ``num_replicas``-th index from position r. So
the ranks' shares are disjoint, equally long and together cover every sample once (plus the
padding). The permutation is NumPy's (``default_rng(seed + epoch).permutation``), not torch's
``randperm``: the shares equal PyTorch's in size and structure but not index for index.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from lamina.data.sampler import Sampler

__all__ = ["DistributedSampler"]


class DistributedSampler(Sampler):
    """Indices of one rank's share of ``dataset``; call :meth:`set_epoch` every epoch.

    ``num_samples = ceil(n / num_replicas)``, or ``floor(n / num_replicas)`` with
    ``drop_last`` (then the last ``n mod num_replicas`` indices of the epoch's order are left
    out); ``len(sampler) == num_samples`` on every rank.

    Args:
        dataset: a map-style dataset (only ``len(dataset)`` is used).
        num_replicas: the number of ranks (default: the process group's world size).
        rank: this rank (default: the process group's rank).
        shuffle: a new permutation every epoch (seeded by ``seed + epoch``).
        seed: the shuffling seed; the same on every rank.
        drop_last: cut to an equal share instead of padding.

    Raises:
        ValueError: ``rank`` outside ``0 .. num_replicas - 1``, a non-positive
            ``num_replicas``, or a bad ``seed``.
        RuntimeError: ``num_replicas``/``rank`` left out without a process group.

    Example:
        >>> sampler = DistributedSampler(list(range(5)), num_replicas=2, rank=1, shuffle=False)
        >>> list(sampler), len(sampler)
        ([1, 3, 0], 3)
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from lamina.distributed import get_rank, get_world_size

            num_replicas = get_world_size() if num_replicas is None else num_replicas
            rank = get_rank() if rank is None else rank
        for name, value in (("num_replicas", num_replicas), ("rank", rank), ("seed", seed)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"DistributedSampler: {name} must be an int, got {value!r}")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"DistributedSampler: invalid rank {rank}, rank should be in the "
                             f"interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.drop_last:
            order = order[:self.total_size]
        elif self.total_size > n:
            order = np.resize(order, self.total_size)  # repeats from the start: the padding
        return iter(order[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s permutation next (call it before each epoch's DataLoader loop, with
        the same value on every rank)."""
        self.epoch = int(epoch)
