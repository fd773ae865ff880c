"""CIFAR-10 (torchvision.datasets.CIFAR10) from the python version of the dataset.

On disk: ``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}``, each a pickle
read by :mod:`lamina.vision.datasets.safe_pickle` (never plain ``pickle``). ``download=True``
fetches ``cifar-10-python.tar.gz`` (MD5 checked) when a batch is missing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lamina.tensor import Tensor
from lamina.vision.datasets.download import download_url, extract_tar
from lamina.vision.datasets.safe_pickle import safe_load
from lamina.vision.datasets.vision import VisionDataset

__all__ = ["CIFAR10"]


class CIFAR10(VisionDataset):
    """`CIFAR-10 <https://www.cs.toronto.edu/~kriz/cifar.html>`_ as torchvision's.

    Args:
        root: the directory holding ``cifar-10-batches-py/``.
        train: the five training batches (50000 images), else the test batch (10000).
        transform: applied to each image (a PIL RGB image, or a ``uint8 (32, 32, 3)`` array
            without Pillow).
        target_transform: applied to each label (an int).
        download: fetch the archive when files are missing.

    Attributes:
        data: ``uint8`` NumPy array ``(N, 32, 32, 3)`` (HWC, as torchvision); ``targets``: list of
        ints; ``classes``: names from ``batches.meta``.

    Raises:
        RuntimeError: files missing and ``download`` is False.
        ValueError: a batch lacks ``data``/``labels`` or has the wrong size.
        UnsafePickleError: a batch file holds anything but plain data.
    """

    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    filename = "cifar-10-python.tar.gz"
    tgz_md5 = "c58f30108f718f92721af3b95e74349a"
    train_list = [["data_batch_1", "c99cafc152244af753f735de768cd75f"],
                  ["data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec"],
                  ["data_batch_3", "54ebc095f3ab1f0389bbae665268c751"],
                  ["data_batch_4", "634d18415352ddfa80567beed471001a"],
                  ["data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb"]]
    test_list = [["test_batch", "40351d587109b95175f43aff81a1287e"]]
    meta = {"filename": "batches.meta", "key": "label_names",
            "md5": "5ff9c542aee3614f3951f8cda6e48888"}

    def __init__(self, root: str | os.PathLike[str], train: bool = True,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = bool(train)
        folder = Path(self.root) / self.base_folder
        files = [name for name, _ in (self.train_list if self.train else self.test_list)]
        if download and not self._check_exists():
            self.download()
        missing = [name for name in [*files, self.meta["filename"]]
                   if not (folder / name).is_file()]
        if missing:
            raise RuntimeError(f"CIFAR10: dataset not found: {', '.join(missing)} missing in "
                               f"{folder}. You can use download=True to download it")
        images, labels = [], []
        for name in files:
            with open(folder / name, "rb") as stream:
                batch = safe_load(stream)
            if not isinstance(batch, dict) or "data" not in batch:
                raise ValueError(f"CIFAR10: {folder / name} is not a CIFAR batch (no 'data')")
            key = "labels" if "labels" in batch else "fine_labels"
            data = np.asarray(batch["data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or key not in batch \
                    or len(batch[key]) != len(data):
                raise ValueError(f"CIFAR10: {folder / name} must hold 'data' of shape (N, 3072) "
                                 f"and N labels, got {data.shape}")
            images.append(data)
            labels.extend(int(label) for label in batch[key])
        self.data: np.ndarray = np.vstack(images).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        self.data = np.ascontiguousarray(self.data)
        self.targets: list[int] = labels
        with open(folder / self.meta["filename"], "rb") as stream:
            names = safe_load(stream)
        self.classes: list[str] = [str(n) for n in names[self.meta["key"]]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}

    def _check_exists(self) -> bool:
        folder = Path(self.root) / self.base_folder
        names = [n for n, _ in self.train_list + self.test_list] + [self.meta["filename"]]
        return all((folder / name).is_file() for name in names)

    def download(self) -> None:
        """Fetch ``cifar-10-python.tar.gz`` (MD5 checked) and unpack it under ``root``."""
        archive = Path(self.root) / self.filename
        download_url(self.url, archive, self.tgz_md5)
        extract_tar(archive, Path(self.root))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        index = int(index)
        return self._item(self.data[index], self.targets[index])

    @property
    def tensors(self) -> tuple[Tensor, Tensor]:
        """``(data, targets)`` as Tensors (a lamina convenience)."""
        return Tensor._wrap(self.data), Tensor._wrap(np.asarray(self.targets, dtype=np.int64))
