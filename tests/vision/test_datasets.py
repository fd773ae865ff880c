"""lamina.vision.datasets: torchvision's on-disk layouts, checksums and the safe CIFAR reader."""

import gzip
import hashlib
import os
import pickle
import struct

import numpy as np
import pytest

import lamina as lm
from lamina.vision import datasets, transforms
from lamina.vision.datasets import download
from lamina.vision.datasets.mnist import read_idx
from lamina.vision.datasets.safe_pickle import UnsafePickleError, safe_load

PIL = pytest.importorskip("PIL.Image")


def _idx(array: np.ndarray) -> bytes:
    return (struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            + array.astype(np.uint8).tobytes())


def _write_mnist(root, name="MNIST", n=5, compress=False, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            path = raw / f"{prefix}-{kind}-ubyte"
            if compress:
                path.with_name(path.name + ".gz").write_bytes(gzip.compress(_idx(array)))
            else:
                path.write_bytes(_idx(array))
    return images, labels


@pytest.mark.parametrize("compress", [False, True])
def test_mnist_reads_torchvision_layout(tmp_path, compress):
    images, labels = _write_mnist(tmp_path, compress=compress)
    ds = datasets.MNIST(tmp_path, train=True, download=False)
    assert len(ds) == 5 and ds.data.shape == (5, 28, 28)
    image, target = ds[3]
    assert isinstance(image, PIL.Image) and image.mode == "L"
    np.testing.assert_array_equal(np.asarray(image), images[3])
    assert target == int(labels[3]) and isinstance(target, int)
    np.testing.assert_array_equal(ds.targets.numpy(), labels)


def test_mnist_transforms_and_loader(tmp_path):
    images, labels = _write_mnist(tmp_path, n=6)
    ds = datasets.MNIST(tmp_path, train=False, transform=transforms.ToTensor(),
                        target_transform=lambda y: y + 100)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and y == labels[0] + 100
    np.testing.assert_allclose(x.numpy()[0], images[0] / 255.0, rtol=1e-6)
    batches = list(lm.utils.data.DataLoader(ds, batch_size=4))
    assert batches[0][0].shape == (4, 1, 28, 28)
    assert batches[1][1].tolist() == list(labels[4:] + 100)


@pytest.mark.parametrize("cls", [datasets.FashionMNIST, datasets.KMNIST])
def test_other_mnist_formats_use_their_class_folder(tmp_path, cls):
    _write_mnist(tmp_path, name=cls.__name__)
    assert len(cls(tmp_path)) == 5 and len(cls.classes) == 10
    with pytest.raises(RuntimeError, match="download=True"):
        datasets.MNIST(tmp_path)


def test_missing_files_and_bad_idx(tmp_path):
    with pytest.raises(RuntimeError, match="dataset not found"):
        datasets.MNIST(tmp_path / "nothing")
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="10 bytes"):
        read_idx(bad, 1)
    bad.write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 12)
    with pytest.raises(ValueError, match="magic"):
        read_idx(bad, 3)


def test_existing_files_are_not_downloaded(tmp_path, monkeypatch):
    _write_mnist(tmp_path)

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(download, "download_url", no_network)
    assert len(datasets.MNIST(tmp_path, download=True)) == 5


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_download_checks_md5_and_leaves_nothing_on_mismatch(tmp_path):
    source = tmp_path / "served.bin"
    source.write_bytes(b"payload")
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(ValueError, match="MD5 mismatch"):
        download.download_url(source.as_uri(), target, "0" * 32)
    assert not target.exists() and os.listdir(target.parent) == []
    download.download_url(source.as_uri(), target, _md5(b"payload"))
    assert target.read_bytes() == b"payload"
    assert download.check_integrity(target, _md5(b"payload"))
    assert not download.check_integrity(target, "0" * 32)
    assert not download.check_integrity(tmp_path / "absent")


def test_mnist_download_from_mirrors_with_checksums(tmp_path):
    """The download path end to end, with file:// mirrors standing in for the servers."""
    served = tmp_path / "mirror"
    _write_mnist(served)
    resources = []
    for name in sorted(os.listdir(served / "MNIST" / "raw")):
        data = gzip.compress((served / "MNIST" / "raw" / name).read_bytes())
        (served / f"{name}.gz").write_bytes(data)
        resources.append((f"{name}.gz", _md5(data)))

    class LocalMNIST(datasets.MNIST):
        mirrors = [(tmp_path / "empty").as_uri() + "/", served.as_uri() + "/"]

    LocalMNIST.resources = resources
    ds = LocalMNIST(tmp_path / "root", download=True)
    assert len(ds) == 5 and (tmp_path / "root" / "LocalMNIST" / "raw" /
                             "train-images-idx3-ubyte").is_file()
    LocalMNIST.resources = [(name, "0" * 32) for name, _ in resources]
    with pytest.raises(RuntimeError, match="could not download"):
        LocalMNIST(tmp_path / "other", download=True)


def _write_cifar(root, n_per_batch=2):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {}
    for name in names:
        batch = {"batch_label": "x", "data": rng.integers(0, 256, (n_per_batch, 3072),
                                                           dtype=np.uint8),
                 "labels": rng.integers(0, 10, n_per_batch).tolist(), "filenames": ["a", "b"]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = batch
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                            "horse", "ship", "truck"], "num_cases_per_batch": n_per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return batches


def test_cifar10_reads_python_batches(tmp_path):
    batches = _write_cifar(tmp_path)
    train = datasets.CIFAR10(tmp_path, train=True)
    test = datasets.CIFAR10(tmp_path, train=False)
    assert len(train) == 10 and len(test) == 2 and train.classes[9] == "truck"
    image, label = train[2]  # first image of data_batch_2
    assert isinstance(image, PIL.Image) and image.mode == "RGB" and image.size == (32, 32)
    flat = batches["data_batch_2"]["data"][0]
    expected = flat.reshape(3, 32, 32).transpose(1, 2, 0)  # rows of R, then G, then B planes
    np.testing.assert_array_equal(np.asarray(image), expected)
    assert label == batches["data_batch_2"]["labels"][0]


def test_cifar10_refuses_a_malicious_pickle(tmp_path):
    _write_cifar(tmp_path)
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(
        pickle.dumps({"data": Exploit()}, protocol=2))
    with pytest.raises(UnsafePickleError, match="system"):
        datasets.CIFAR10(tmp_path, train=False)
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    pickle.dumps(np.array([1, "a"], dtype=object), protocol=2),
    b"cbuiltins\neval\n(S'1+1'\ntR.",
    b"c__builtin__\nset\n(]tR.",
])
def test_safe_load_refuses_objects_and_callables(payload):
    with pytest.raises(UnsafePickleError):
        safe_load(payload)


def test_safe_load_round_trips_plain_data():
    value = {"a": [1, 2.5, "s", b"b", (1, 2)], "x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    for protocol in (2, 4, 5):
        out = safe_load(pickle.dumps(value, protocol=protocol))
        assert out["a"] == value["a"] and type(out["x"]) is np.ndarray
        np.testing.assert_array_equal(out["x"], value["x"])
