"""MNIST-format datasets (torchvision.datasets.MNIST, FashionMNIST, KMNIST).

On disk, as torchvision keeps them: ``<root>/<ClassName>/raw/{train,t10k}-images-idx3-ubyte`` and
``...-labels-idx1-ubyte``, uncompressed or as ``.gz``. ``download=True`` fetches the four ``.gz``
files from the dataset's mirrors (MD5 checked) only when a file is missing.

IDX format: a big-endian header (magic ``0x0803`` for images, ``0x0801`` for labels, then the
sizes as 32-bit ints) followed by the ``uint8`` values.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from lamina.tensor import Tensor
from lamina.vision.datasets.download import download_from_mirrors, extract_gzip
from lamina.vision.datasets.vision import VisionDataset

__all__ = ["MNIST", "FashionMNIST", "KMNIST", "read_idx"]


class MNIST(VisionDataset):
    """`MNIST <http://yann.lecun.com/exdb/mnist/>`_ as ``torchvision.datasets.MNIST``.

    Args:
        root: the directory holding ``MNIST/raw/``.
        train: the 60000 training images, else the 10000 test images.
        transform: applied to each image (a PIL ``L`` image, or a ``uint8 (28, 28)`` array without
            Pillow), e.g. ``transforms.ToTensor()``.
        target_transform: applied to each label (an int).
        download: fetch missing files from the mirrors (MD5 checked).

    Attributes:
        data: ``uint8``-valued Tensor ``(N, 28, 28)``; ``targets``: int64 Tensor ``(N,)``;
        classes: the class names.

    Raises:
        RuntimeError: the files are missing and ``download`` is False (or every mirror failed).
        ValueError: a file is not a valid IDX file of the expected kind.
    """

    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike[str], train: bool = True,
                 transform: Callable | None = None, target_transform: Callable | None = None,
                 download: bool = False) -> None:
        super().__init__(root, transform=transform, target_transform=target_transform)
        self.train = bool(train)
        if download and not self._check_exists():
            self.download()
        prefix = "train" if self.train else "t10k"
        images = self._find(f"{prefix}-images-idx3-ubyte")
        labels = self._find(f"{prefix}-labels-idx1-ubyte")
        image_array, label_array = read_idx(images, 3), read_idx(labels, 1)
        if len(image_array) != len(label_array):
            raise ValueError(f"{type(self).__name__}: {images.name} holds {len(image_array)} "
                             f"images but {labels.name} {len(label_array)} labels")
        self._images = image_array
        self._labels = label_array.astype(np.int64)

    @property
    def raw_folder(self) -> str:
        """``<root>/<ClassName>/raw``."""
        return os.path.join(self.root, type(self).__name__, "raw")

    @property
    def data(self) -> Tensor:
        return Tensor._wrap(self._images)

    @property
    def targets(self) -> Tensor:
        return Tensor._wrap(self._labels)

    @property
    def class_to_idx(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.classes)}

    def _find(self, name: str) -> Path:
        folder = Path(self.raw_folder)
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
        raise RuntimeError(f"{type(self).__name__}: dataset not found: no {name} (or {name}.gz) "
                           f"in {folder}. You can use download=True to download it")

    def _check_exists(self) -> bool:
        folder = Path(self.raw_folder)
        return all((folder / name[:-3]).is_file() or (folder / name).is_file()
                   for name, _ in self.resources)

    def download(self) -> None:
        """Fetch and unpack the missing files into :attr:`raw_folder`."""
        folder = Path(self.raw_folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name, md5 in self.resources:
            if (folder / name[:-3]).is_file():
                continue
            archive = download_from_mirrors(self.mirrors, name, folder, md5)
            extract_gzip(archive, folder / name[:-3])

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        index = int(index)
        return self._item(self._images[index], int(self._labels[index]))


class FashionMNIST(MNIST):
    """`Fashion-MNIST <https://github.com/zalandoresearch/fashion-mnist>`_ (same format as MNIST),
    under ``<root>/FashionMNIST/raw``."""

    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """`Kuzushiji-MNIST <https://github.com/rois-codh/kmnist>`_ (same format as MNIST), under
    ``<root>/KMNIST/raw``."""

    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [
        ("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
        ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
        ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
        ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134"),
    ]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


def read_idx(path: str | os.PathLike[str], ndim: int) -> np.ndarray:
    """Read a ``uint8`` IDX file (optionally gzipped) with ``ndim`` dimensions.

    Raises:
        ValueError: a bad magic number, dimension count or length.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        raw = stream.read()
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    zero, kind, dims = raw[0:2], raw[2], raw[3]
    if zero != b"\x00\x00" or kind != 0x08 or dims != ndim:
        raise ValueError(f"{path}: not a uint8 IDX file with {ndim} dimensions (magic "
                         f"{raw[:4].hex()}, expected 000008{ndim:02x})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(shape))
    if len(raw) - header != count:
        raise ValueError(f"{path}: the header announces shape {shape} ({count} bytes) but "
                         f"{len(raw) - header} bytes follow")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
