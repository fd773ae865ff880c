"""Creation functions (lamina/creation.py and tensor.py's): dtypes as torch's, memory sharing
of from_numpy/as_tensor, lm.Generator reproducibility, float64 parity of the deterministic
ones."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


@pytest.mark.parametrize("name, args, kwargs", [
    ("linspace", (-3.0, 3.0, 7), {}),
    ("linspace", (0, 1, 5), {"dtype": "float64"}),
    ("logspace", (0, 2, 3), {}),
    ("logspace", (0, 3, 4), {"base": 2.0}),
    ("eye", (3,), {}),
    ("eye", (2, 4), {"dtype": "float64"}),
    ("full", ((2, 3), 1.5), {}),
    ("full", ((2,), 7), {}),
    ("full", ((2,), True), {}),
    ("full", ((), 0.5), {"dtype": "float64"}),
    ("zeros", (2, 3), {"dtype": "int64"}),
    ("ones", ((2, 3),), {"dtype": "float64"}),
    ("arange", (5,), {}),
    ("arange", (0.0, 1.0, 0.25), {}),
    ("tensor", ([1.5, 2.0],), {}),
    ("tensor", ([1, 2],), {}),
    ("tensor", ([True, False],), {}),
])
def test_deterministic_creation_matches_torch(torch, name, args, kwargs):
    ours = getattr(lm, name)(*args, **{k: getattr(lm, v) for k, v in kwargs.items()
                                      if k == "dtype"}, **{k: v for k, v in kwargs.items()
                                                           if k != "dtype"})
    theirs = getattr(torch, name)(*args, **{k: getattr(torch, v) for k, v in kwargs.items()
                                            if k == "dtype"},
                                  **{k: v for k, v in kwargs.items() if k != "dtype"})
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_from_numpy_shares_memory_and_keeps_dtype():
    a = np.ones(5, dtype=np.int32)
    t = lm.from_numpy(a)
    a += 1
    assert t.dtype == lm.int32 and t.tolist() == [2] * 5
    t.add_(1)
    assert a.tolist() == [3] * 5
    with pytest.raises(TypeError, match="expected a np.ndarray"):
        lm.from_numpy([1, 2])


def test_as_tensor_shares_when_it_can():
    a = np.zeros(3)
    assert lm.as_tensor(a).numpy() is a
    assert lm.as_tensor(a, dtype=lm.float32).dtype == lm.float32
    t = lm.tensor([1.0])
    assert lm.as_tensor(t) is t and lm.as_tensor([1, 2]).dtype == lm.long
    b = np.zeros(2)
    c = lm.tensor(b)  # torch.tensor always copies
    b += 1
    assert c.tolist() == [0.0, 0.0]


def test_like_functions():
    x = lm.zeros(2, 3, dtype=lm.float64)
    for fn in (lm.empty_like, lm.rand_like, lm.randn_like, lm.zeros_like, lm.ones_like):
        out = fn(x)
        assert out.shape == (2, 3) and out.dtype == lm.float64
    assert lm.full_like(x, 4).tolist() == [[4.0] * 3] * 2
    assert lm.rand_like(x, dtype=lm.float32).dtype == lm.float32
    r = lm.randint_like(x, 3, 6)
    assert r.shape == (2, 3) and r.min().item() >= 3 and r.max().item() < 6


def test_random_functions_shapes_ranges_and_dtypes():
    assert lm.empty(2, 3).shape == (2, 3) and lm.empty((4,)).dtype == lm.float32
    r = lm.randint(0, 10, (1000,))
    assert r.dtype == lm.long and r.min().item() == 0 and r.max().item() == 9
    assert lm.randint(5, (3, 2)).shape == (3, 2)
    assert lm.randint(3, 5, size=(2,), dtype=lm.int32).dtype == lm.int32
    p = lm.randperm(10)
    assert p.dtype == lm.long and sorted(p.tolist()) == list(range(10))
    n = lm.normal(2.0, 3.0, size=(20000,))
    assert abs(n.mean().item() - 2) < 0.1 and abs(n.std().item() - 3) < 0.1
    m = lm.normal(lm.tensor([0.0, 100.0]), lm.tensor([1e-6, 1e-6]))
    np.testing.assert_allclose(m.numpy(), [0.0, 100.0], atol=1e-3)
    b = lm.bernoulli(lm.full((1000,), 0.25))
    assert set(np.unique(b.numpy())) == {0.0, 1.0}
    s = lm.multinomial(lm.tensor([0.0, 1.0, 0.0, 3.0]), 2)
    assert sorted(s.tolist()) == [1, 3]
    assert lm.multinomial(lm.tensor([[1.0, 0.0], [0.0, 1.0]]), 3, replacement=True).tolist() \
        == [[0, 0, 0], [1, 1, 1]]
    with pytest.raises(TypeError, match="size is required"):
        lm.randint(0, 10)
    with pytest.raises(RuntimeError, match="without replacement"):
        lm.multinomial(lm.tensor([1.0, 1.0]), 3)


@pytest.mark.parametrize("make", [
    lambda g: lm.randn(4, generator=g), lambda g: lm.rand(4, generator=g),
    lambda g: lm.randperm(8, generator=g), lambda g: lm.randint(0, 9, (4,), generator=g),
    lambda g: lm.normal(0.0, 1.0, (4,), generator=g), lambda g: lm.randn_like(lm.zeros(4),
                                                                            generator=g),
])
def test_generator_is_independent_and_reproducible(make):
    g = lm.Generator().manual_seed(42)
    first = make(g).tolist()
    assert make(lm.Generator().manual_seed(42)).tolist() == first
    lm.manual_seed(0)
    global_before = lm.randn(3).tolist()
    lm.manual_seed(0)
    make(lm.Generator().manual_seed(1))  # drawing from a Generator leaves the global one alone
    assert lm.randn(3).tolist() == global_before


def test_generator_state_and_seed():
    g = lm.Generator()
    assert g.initial_seed() == 67280421310721 and g.device == lm.device("cpu")
    state = g.get_state()
    a = lm.randn(3, generator=g).tolist()
    g.set_state(state)
    assert lm.randn(3, generator=g).tolist() == a
    assert isinstance(g.seed(), int)
    with pytest.raises(TypeError, match="expected an int seed"):
        g.manual_seed(1.5)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_matches_torch(parity, indexing):
    x, y, z = np.arange(3.0), np.arange(4.0) * 2, np.array([1.0, -1.0])
    parity.call(lambda a, b: lm.meshgrid(a, b, indexing=indexing),
                lambda a, b: parity.torch.meshgrid(a, b, indexing=indexing), x, y)
    parity.call(lambda a, b, c: lm.meshgrid([a, b, c], indexing=indexing),
                lambda a, b, c: parity.torch.meshgrid([a, b, c], indexing=indexing), x, y, z)


@pytest.mark.parametrize("k", [-1, 0, 2])
def test_tril_triu_match_torch(parity, k):
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    parity.call(lambda t: lm.tril(t, k), lambda t: parity.torch.tril(t, k), a)
    parity.call(lambda t: lm.triu(t, k), lambda t: parity.torch.triu(t, k), a)
