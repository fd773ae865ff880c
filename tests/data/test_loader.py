"""DataLoader: batching, shuffling under lm.manual_seed, dtypes, both collate paths."""

from collections import namedtuple

import numpy as np
import pytest

import lamina as lm
from lamina.data import DataLoader, Dataset, Subset, TensorDataset, default_collate, random_split


def _dataset(n=10, x_dtype=np.float32):
    x = np.arange(n * 2).reshape(n, 2).astype(x_dtype)
    return TensorDataset(x, np.arange(n, dtype=np.int32))


class Pairs(Dataset):
    """A generic (not array-backed) dataset: sample i is (x_i, i)."""

    def __init__(self, n):
        self.x = np.arange(n * 2, dtype=np.float64).reshape(n, 2)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, index):
        return self.x[index], index


def _labels(loader):
    return [yb.numpy().tolist() for _, yb in loader]


def test_batches_in_order_with_short_last_batch():
    loader = DataLoader(_dataset(10), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [tuple(xb.shape) for xb, _ in batches] == [(4, 2), (4, 2), (2, 2)]
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(batches[2][0].numpy(), [[16, 17], [18, 19]])


def test_drop_last():
    loader = DataLoader(_dataset(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(DataLoader(_dataset(8), batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(_dataset(3), batch_size=4, drop_last=True)) == 0
    assert list(DataLoader(_dataset(3), batch_size=4, drop_last=True)) == []


def test_batches_are_tensors_with_dtypes_preserved():
    for x_dtype in (np.float32, np.float64):
        xb, yb = next(iter(DataLoader(_dataset(6, x_dtype), batch_size=3)))
        assert isinstance(xb, lm.Tensor) and isinstance(yb, lm.Tensor)
        assert xb.dtype == x_dtype
        assert yb.dtype == np.int64


def test_shuffle_sees_every_sample_once_per_epoch():
    loader = DataLoader(_dataset(23), batch_size=5, shuffle=True)
    for _ in range(3):
        seen = np.concatenate(_labels(loader))
        assert sorted(seen.tolist()) == list(range(23))


def test_shuffle_keeps_inputs_and_labels_together():
    for xb, yb in DataLoader(_dataset(12), batch_size=5, shuffle=True):
        np.testing.assert_array_equal(xb.numpy()[:, 0], 2 * yb.numpy())


def test_shuffle_is_reproducible_under_manual_seed():
    loader = DataLoader(_dataset(30), batch_size=7, shuffle=True)
    lm.manual_seed(0)
    first_epoch, second_epoch = _labels(loader), _labels(loader)
    lm.manual_seed(0)
    assert _labels(loader) == first_epoch
    assert _labels(loader) == second_epoch
    assert first_epoch != second_epoch
    assert np.concatenate(first_epoch).tolist() != list(range(30))


def test_own_generator_for_shuffling():
    a = DataLoader(_dataset(30), batch_size=30, shuffle=True, generator=np.random.default_rng(5))
    b = DataLoader(_dataset(30), batch_size=30, shuffle=True, generator=5)
    assert _labels(a) == _labels(b)


def test_subset_of_tensor_dataset_uses_its_rows():
    parent = _dataset(10)
    sub = Subset(Subset(parent, [9, 8, 7, 6, 5]), [4, 0])
    (xb, yb), = list(DataLoader(sub, batch_size=8))
    assert yb.numpy().tolist() == [5, 9]
    np.testing.assert_array_equal(xb.numpy(), parent.arrays[0][[5, 9]])
    train, val = random_split(parent, [0.7, 0.3], generator=0)
    seen = np.concatenate(_labels(DataLoader(train, 3, shuffle=True)) + _labels(DataLoader(val, 3)))
    assert sorted(seen.tolist()) == list(range(10))


def test_generic_dataset_is_collated_by_stacking():
    loader = DataLoader(Pairs(5), batch_size=2)
    assert len(loader) == 3
    batches = list(loader)
    xb, yb = batches[0]
    assert isinstance(xb, lm.Tensor) and xb.dtype == np.float64 and xb.shape == (2, 2)
    assert yb.dtype == np.int64 and yb.numpy().tolist() == [0, 1]
    assert batches[-1][1].numpy().tolist() == [4]


def test_generic_and_fast_paths_agree():
    fast = list(DataLoader(_dataset(9, np.float64), batch_size=4))
    slow = list(DataLoader(Pairs(9), batch_size=4))
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(xf.numpy(), xs.numpy())
        np.testing.assert_array_equal(yf.numpy(), ys.numpy())


def test_subclass_overriding_getitem_is_not_bypassed():
    class Doubled(TensorDataset):
        def __getitem__(self, index):
            x, y = super().__getitem__(index)
            return x * 2, y

    (xb, _), = list(DataLoader(Doubled(np.ones((3, 2), np.float32), np.arange(3)), batch_size=3))
    np.testing.assert_array_equal(xb.numpy(), 2 * np.ones((3, 2)))


def test_custom_collate_fn():
    def collate(samples):
        return [s[1] for s in samples]

    assert list(DataLoader(_dataset(5), batch_size=2, collate_fn=collate)) == [[0, 1], [2, 3], [4]]


def test_default_collate_structures():
    xb, yb = default_collate([(np.zeros(3, np.float32), 1), (np.ones(3, np.float32), 0)])
    assert xb.dtype == np.float32 and xb.shape == (2, 3) and yb.dtype == np.int64
    floats = default_collate([0.5, 1.5])
    assert floats.dtype == np.float64  # torch: Python floats collate to float64
    batch = default_collate([{"x": lm.tensor([1.0, 2.0]), "name": "a"},
                             {"x": lm.tensor([3.0, 4.0]), "name": "b"}])
    assert batch["name"] == ["a", "b"] and batch["x"].shape == (2, 2)
    Point = namedtuple("Point", "x y")
    point = default_collate([Point(1, 2), Point(3, 4)])
    assert isinstance(point, Point) and point.x.numpy().tolist() == [1, 3]
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="cannot batch"):
        default_collate([object(), object()])


def test_transform_applies_to_inputs_only():
    def double(x):
        assert isinstance(x, np.ndarray)
        return x * 2

    xb, yb = next(iter(DataLoader(_dataset(4), batch_size=4, transform=double)))
    np.testing.assert_array_equal(xb.numpy(), 2 * _dataset(4).arrays[0])
    assert yb.numpy().tolist() == [0, 1, 2, 3]
    xb, _ = next(iter(DataLoader(Pairs(4), batch_size=4, transform=double)))
    np.testing.assert_array_equal(xb.numpy(), 2 * Pairs(4).x)


def test_transform_makes_uint8_images_float():
    images = np.full((6, 4, 4), 255, np.uint8)
    loader = DataLoader(TensorDataset(images, np.arange(6)), batch_size=4,
                        transform=lm.data.transforms.ToFloat())
    xb, yb = next(iter(loader))
    assert xb.dtype == np.float32 and xb.shape == (4, 1, 4, 4) and float(xb.max().item()) == 1.0


def test_empty_dataset_has_no_batches():
    loader = DataLoader(TensorDataset(np.zeros((0, 2))), batch_size=3, shuffle=True)
    assert len(loader) == 0 and list(loader) == []


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, "4"])
def test_batch_size_must_be_positive_int(batch_size):
    with pytest.raises(ValueError, match="DataLoader: batch_size must be a positive int"):
        DataLoader(_dataset(), batch_size=batch_size)


def test_argument_type_errors():
    with pytest.raises(TypeError, match="dataset must define __len__"):
        DataLoader(42)
    with pytest.raises(TypeError, match="collate_fn must be callable"):
        DataLoader(_dataset(), collate_fn=3)
    with pytest.raises(TypeError, match="transform must be callable"):
        DataLoader(_dataset(), transform="flip")


def test_repr():
    text = repr(DataLoader(_dataset(4), batch_size=2, shuffle=True))
    assert "batch_size=2" in text and "shuffle=True" in text and "TensorDataset" in text
