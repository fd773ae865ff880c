"""Dataset, TensorDataset, Subset and random_split (PyTorch semantics)."""

import numpy as np
import pytest

import lamina as lm
from lamina.data import Dataset, Subset, TensorDataset, random_split


def _dataset(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    return TensorDataset(x, np.arange(n))


def test_package_exports():
    import lamina.data as data

    for name in ("Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "transforms",
                 "load_npz"):
        assert hasattr(data, name), name
    assert lm.data.datasets is lm.datasets
    assert callable(lm.datasets.mnist)


def test_dataset_base_requires_getitem_and_len():
    class Empty(Dataset):
        pass

    with pytest.raises(NotImplementedError, match="__getitem__"):
        Empty()[0]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Empty())


def test_tensor_dataset_items_are_tuples_of_rows():
    ds = _dataset(4)
    assert len(ds) == 4
    x, y = ds[2]
    np.testing.assert_array_equal(x, [6, 7, 8])
    assert y == 2
    xb, yb = ds[np.array([3, 0])]
    np.testing.assert_array_equal(yb, [3, 0])
    assert xb.shape == (2, 3)


def test_tensor_dataset_accepts_tensors_and_lists():
    ds = TensorDataset(lm.tensor(np.ones((3, 2))), [0, 1, 2])
    assert isinstance(ds.arrays[0], np.ndarray) and ds.arrays[0].dtype == np.float64
    assert isinstance(ds.tensors[1], lm.Tensor)
    assert ds[1][1] == 1


def test_tensor_dataset_size_mismatch_names_sizes():
    with pytest.raises(ValueError, match=r"TensorDataset.*\[5, 4\]"):
        TensorDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(np.float32(1.0))


def test_subset_maps_indices():
    ds = _dataset(10)
    sub = Subset(ds, [7, 2, 7])
    assert len(sub) == 3
    assert sub[0][1] == 7 and sub[1][1] == 2 and sub[-1][1] == 7
    np.testing.assert_array_equal(sub[np.array([1, 0])][1], [2, 7])
    nested = Subset(sub, [1])
    assert nested[0][1] == 2


def test_subset_rejects_bad_indices():
    with pytest.raises(ValueError, match=r"Subset: indices must lie in \[0, 10\)"):
        Subset(_dataset(10), [0, 10])
    with pytest.raises(ValueError, match="1-d sequence of ints"):
        Subset(_dataset(10), [0.5])
    assert len(Subset(_dataset(10), [])) == 0


def test_random_split_counts_partition_the_dataset():
    ds = _dataset(10)
    parts = random_split(ds, [6, 3, 1], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [6, 3, 1]
    labels = np.concatenate([[p[i][1] for i in range(len(p))] for p in parts])
    assert sorted(labels.tolist()) == list(range(10))


def test_random_split_fractions_follow_torch_rounding():
    # torch: floor(n * f) each, the remainder handed out one by one from the first split
    assert [len(p) for p in random_split(_dataset(10), [0.25, 0.25, 0.5], generator=0)] == [3, 2, 5]
    assert [len(p) for p in random_split(_dataset(7), [0.5, 0.5], generator=0)] == [4, 3]


def test_random_split_uses_lamina_generator():
    lm.manual_seed(3)
    first = random_split(_dataset(20), [10, 10])[0].indices
    lm.manual_seed(3)
    again = random_split(_dataset(20), [10, 10])[0].indices
    np.testing.assert_array_equal(first, again)
    other = random_split(_dataset(20), [10, 10])[0].indices
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(("lengths", "match"), [
    ([5, 4], "add up to 9"),
    ([0.5, 0.6], "add up to 1"),
    ([-1, 11], "non-negative"),
    ([], "at least one"),
    (["a"], "ints or floats"),
])
def test_random_split_rejects_bad_lengths(lengths, match):
    with pytest.raises(ValueError, match=match):
        random_split(_dataset(10), lengths)


def test_random_split_rejects_bad_generator():
    with pytest.raises(TypeError, match="generator"):
        random_split(_dataset(10), [5, 5], generator="seed")
