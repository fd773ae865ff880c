"""Samplers: torch's index semantics (orders, lengths, drop_last, replacement)."""

import numpy as np
import pytest

from lamina.data import (
    BatchSampler,
    ConcatDataset,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
)


def test_sequential_and_batch_sampler():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    batches = BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False)
    assert list(batches) == [[0, 1, 2], [3, 4, 5], [6]] and len(batches) == 3
    dropped = BatchSampler(range(7), batch_size=3, drop_last=True)
    assert list(dropped) == [[0, 1, 2], [3, 4, 5]] and len(dropped) == 2


def test_random_sampler_permutes_and_is_seeded():
    order = list(RandomSampler(range(10), generator=3))
    assert sorted(order) == list(range(10)) and order == list(RandomSampler(range(10), generator=3))
    assert order != list(range(10))
    long = list(RandomSampler(range(4), num_samples=10, generator=0))
    assert len(long) == 10 and sorted(long[:4]) == sorted(long[4:8]) == [0, 1, 2, 3]
    drawn = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=1))
    assert len(drawn) == 50 and set(drawn) <= {0, 1, 2}


def test_subset_random_sampler_keeps_indices():
    indices = [10, 20, 30, 40]
    out = list(SubsetRandomSampler(indices, generator=np.random.default_rng(0)))
    assert sorted(out) == indices and len(SubsetRandomSampler(indices)) == 4


def test_weighted_random_sampler():
    out = list(WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], num_samples=400, generator=0))
    counts = np.bincount(out, minlength=4)
    assert counts[0] == counts[2] == 0 and 0.65 < counts[3] / 400 < 0.85
    once = list(WeightedRandomSampler([1, 1, 1, 1], 4, replacement=False, generator=0))
    assert sorted(once) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1, 0], 2, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([-1, 1], 2)


def test_sampler_argument_errors():
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(3), batch_size=0, drop_last=False)
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(3), num_samples=0)


def test_concat_dataset():
    ds = ConcatDataset([TensorDataset(np.arange(3)), TensorDataset(np.arange(10, 12))])
    assert len(ds) == 5 and [int(ds[i][0]) for i in range(5)] == [0, 1, 2, 10, 11]
    assert int(ds[-1][0]) == 11
    with pytest.raises(IndexError):
        ds[5]
    both = TensorDataset(np.arange(2)) + TensorDataset(np.arange(5, 6))
    assert len(both) == 3


def test_generator_objects_with_a_numpy_rng_are_resolved_at_each_epoch():
    class Gen:  # the shape of lm.Generator: a NumPy generator as .rng, replaced on reseeding
        def __init__(self, seed):
            self.manual_seed(seed)

        def manual_seed(self, seed):
            self.rng = np.random.default_rng(seed)
            return self

    from lamina.data import DataLoader

    g = Gen(1)
    loader = DataLoader(TensorDataset(np.arange(8)), batch_size=8, shuffle=True, generator=g)
    first = next(iter(loader))[0].tolist()
    g.manual_seed(1)
    assert next(iter(loader))[0].tolist() == first
    assert list(RandomSampler(range(8), generator=g.manual_seed(1))) == first
    with pytest.raises(TypeError, match="generator"):
        DataLoader(TensorDataset(np.arange(8)), generator="seed")
