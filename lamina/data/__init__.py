"""Datasets, batching and augmentation (PyTorch: ``torch.utils.data``, torchvision transforms).

``lm.data.datasets`` (also ``lm.datasets``) loads MNIST; ``load_npz`` reads ``.npz`` archives.
Both load on first use, so ``import lamina.data`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from lamina.data import transforms
from lamina.data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)
from lamina.data.loader import DataLoader, default_collate, default_convert
from lamina.data.sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from lamina.data.worker import WorkerInfo, get_worker_info

_LAZY_MODULES = {"datasets": "lamina.data.datasets", "npz": "lamina.data.npz"}
_LAZY_NAMES = {"load_npz": "lamina.data.npz", "DistributedSampler": "lamina.data.distributed"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'lamina.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split",
    "DataLoader", "default_collate", "default_convert", "Sampler", "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler", "WeightedRandomSampler", "BatchSampler", "get_worker_info",
    "WorkerInfo",
    "transforms", "load_npz", "datasets", "npz", "DistributedSampler",
]
