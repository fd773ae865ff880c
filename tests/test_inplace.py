"""In-place Tensor methods (lamina/inplace.py): values as torch's, the version counter, the
dtype kept, torch's leaf rule, and joining the graph when an operand requires grad."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm

A = np.random.default_rng(0).standard_normal((3, 4))
B = np.random.default_rng(1).standard_normal((3, 4))
POS = np.random.default_rng(2).uniform(0.5, 2.0, (3, 4))

# (name, in-place call written once for both libraries, input array)
CASES = [
    ("zero_", lambda x: x.zero_(), A),
    ("fill_", lambda x: x.fill_(2.5), A),
    ("add_", lambda x: x.add_(1.5), A),
    ("add_alpha", lambda x: x.add_(x * 0 + 2, alpha=-0.5), A),
    ("sub_", lambda x: x.sub_(0.25), A),
    ("sub_alpha", lambda x: x.sub_(x * 0 + 1, alpha=3), A),
    ("mul_", lambda x: x.mul_(-2), A),
    ("div_", lambda x: x.div_(4), A),
    ("div_floor", lambda x: x.div_(0.3, rounding_mode="floor"), A),
    ("pow_", lambda x: x.pow_(2), A),
    ("clamp_", lambda x: x.clamp_(-0.5, 0.5), A),
    ("clamp_min", lambda x: x.clamp_(min=0.0), A),
    ("clip_", lambda x: x.clip_(max=0.1), A),
    ("copy_broadcast", lambda x: x.copy_(x[0] * 0 + 3), A),
    ("masked_fill_", lambda x: x.masked_fill_(x > 0, -1.0), A),
    ("neg_", lambda x: x.neg_(), A),
    ("abs_", lambda x: x.abs_(), A),
    ("sqrt_", lambda x: x.sqrt_(), POS),
    ("exp_", lambda x: x.exp_(), A),
    ("log_", lambda x: x.log_(), POS),
    ("tanh_", lambda x: x.tanh_(), A),
    ("sigmoid_", lambda x: x.sigmoid_(), A),
    ("relu_", lambda x: x.relu_(), A),
    ("floor_", lambda x: x.floor_(), A),
    ("round_", lambda x: x.round_(), A),
    ("square_", lambda x: x.square_(), A),
]


@pytest.mark.parametrize("name, fn, data", CASES, ids=[c[0] for c in CASES])
def test_values_version_and_identity(torch, name, fn, data):
    ours, theirs = lm.tensor(data), torch.tensor(data)
    before_l, before_t = ours._version, theirs._version
    view = ours.numpy()
    assert fn(ours) is ours and fn(theirs) is theirs
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-12)
    assert ours._version == before_l + 1 and theirs._version > before_t
    assert view is ours.numpy()  # the same memory was updated


def test_grad_zero_and_data_updates_as_scripts_write_them():
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    (w * 3).sum().backward()
    w.grad.zero_()
    assert w.grad.tolist() == [0.0, 0.0]
    w.data.add_(-0.1 * lm.tensor([1.0, 1.0]))  # param.data.add_(-lr * grad)
    assert w.tolist() == pytest.approx([0.9, 1.9])
    w.data.normal_(0, 0.02)  # m.weight.data.normal_(0, 0.02)
    assert w.requires_grad and w.is_leaf and abs(w.numpy()).max() < 0.2


def test_legacy_scalar_first_add():
    p = lm.tensor([1.0, 2.0])
    p.add_(-0.5, lm.tensor([2.0, 4.0]))  # torch's deprecated add_(alpha, other)
    assert p.tolist() == [0.0, 0.0]


def test_dtype_is_kept():
    x = lm.zeros(3)
    x.add_(lm.tensor(np.array([0.1, 0.2, 0.3])))
    assert x.dtype == lm.float32
    i = lm.tensor([1, 2, 3])
    i.mul_(2.7)
    assert i.dtype == lm.long and i.tolist() == [2, 5, 8]
    with pytest.raises(RuntimeError, match="can't be cast"):
        lm.tensor([1, 2]).div_(2)


def test_leaf_requiring_grad_rule(torch):
    for lib in (lm, torch):
        w = lib.ones(3, requires_grad=True)
        with pytest.raises(RuntimeError, match="leaf"):
            w.mul_(2)
        with lib.no_grad():
            w.mul_(2)
        assert w.tolist() == [2.0, 2.0, 2.0]


def test_in_graph_non_leaf_is_refused_with_the_alternative():
    h = lm.ones(3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"use the out-of-place form \(e.g. x = x.relu"):
        h.relu_()
    with lm.no_grad():
        h.relu_()  # outside the graph the values may change


def test_operand_requiring_grad_joins_the_graph(torch):
    results = []
    for lib in (lm, torch):
        w = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        buf = lib.zeros(3, dtype=lib.float64)
        assert buf.add_(w, alpha=2) is buf
        assert buf.requires_grad and not buf.is_leaf
        (buf * w).sum().backward()
        results.append((buf.detach().numpy().copy(), w.grad.numpy().copy()))
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs)


@pytest.mark.parametrize("method, args, check", [
    ("normal_", (2.0, 0.5), lambda a: abs(a.mean() - 2.0) < 0.05 and abs(a.std() - 0.5) < 0.05),
    ("uniform_", (-1.0, 3.0), lambda a: a.min() >= -1 and a.max() < 3 and abs(a.mean() - 1) < .1),
    ("exponential_", (2.0,), lambda a: a.min() >= 0 and abs(a.mean() - 0.5) < 0.05),
    ("bernoulli_", (0.3,), lambda a: set(np.unique(a)) <= {0.0, 1.0} and abs(a.mean() - .3) < .05),
    ("random_", (0, 5), lambda a: set(np.unique(a)) == {0.0, 1.0, 2.0, 3.0, 4.0}),
    ("log_normal_", (0.0, 0.25), lambda a: a.min() > 0 and abs(np.log(a).mean()) < 0.05),
])
def test_random_fills(method, args, check):
    x = lm.empty(4000, dtype=lm.float64)
    version = x._version
    assert getattr(x, method)(*args) is x and x._version == version + 1
    assert check(x.numpy())
    g1, g2 = lm.Generator().manual_seed(7), lm.Generator().manual_seed(7)
    a = getattr(lm.empty(5), method)(*args, generator=g1)
    b = getattr(lm.empty(5), method)(*args, generator=g2)
    assert a.tolist() == b.tolist()
    lm.manual_seed(3)
    c = getattr(lm.empty(5), method)(*args)
    lm.manual_seed(3)
    assert getattr(lm.empty(5), method)(*args).tolist() == c.tolist()


def test_uniform_accepts_torch_keyword_from():
    x = lm.empty(100).uniform_(**{"from": 2.0, "to": 3.0})
    assert x.min().item() >= 2.0 and x.max().item() < 3.0


def test_version_bumps_are_seen_by_saved_tensors():
    x = lm.tensor([1.0, 2.0])
    v = x._version
    x.zero_().fill_(1.0).add_(1.0)
    assert x._version == v + 3


def test_scatter_family_matches_torch(torch):
    labels = np.array([2, 0, 1, 2])
    ours = lm.zeros(4, 3).scatter_(1, lm.tensor(labels).unsqueeze(1), 1.0)  # one-hot idiom
    theirs = torch.zeros(4, 3).scatter_(1, torch.from_numpy(labels).unsqueeze(1), 1.0)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    index = np.array([[0, 1, 2, 0], [1, 1, 0, 2]])
    src = np.arange(8.0).reshape(2, 4)
    for call in (lambda lib, x: x.scatter_(0, lib.tensor(index[:, :3]) if lib is lm else
                                           lib.from_numpy(index[:, :3]), lib.tensor(src)),
                 lambda lib, x: x.scatter_add_(0, lib.tensor(index[:1]) if lib is lm else
                                               lib.from_numpy(index[:1]), lib.tensor(src)),
                 lambda lib, x: x.scatter(0, lib.tensor(index[:1]) if lib is lm else
                                          lib.from_numpy(index[:1]), 2.5),
                 lambda lib, x: x.index_fill_(1, lib.tensor([0, 2]), -1.0)):
        a, b = call(lm, lm.ones(3, 4, dtype=lm.float64)), call(torch, torch.ones(3, 4,
                                                                            dtype=torch.float64))
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(RuntimeError, match="not differentiable"):
        lm.zeros(2).scatter(0, lm.tensor([0]), lm.ones(1, requires_grad=True))


def test_legacy_type_constructors(torch):
    for name in ("FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor",
                 "ByteTensor"):
        ours, theirs = getattr(lm, name)([1, 0, 2]), getattr(torch, name)([1, 0, 2])
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        assert ours.tolist() == theirs.tolist()
        assert getattr(lm, name)(2, 3).shape == (2, 3)


def test_index_add_and_lerp_match_torch(torch):
    src = np.arange(6.0).reshape(3, 2)
    ours = lm.ones(3, 4, dtype=lm.float64).index_add_(1, lm.tensor([0, 0]), lm.tensor(src),
                                                      alpha=2)
    theirs = torch.ones(3, 4, dtype=torch.float64).index_add_(
        1, torch.tensor([0, 0]), torch.from_numpy(src), alpha=2)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    a = lm.zeros(3, dtype=lm.float64).lerp_(lm.tensor([1.0, 2.0, 4.0]), 0.25)
    b = torch.zeros(3, dtype=torch.float64).lerp_(torch.tensor([1.0, 2.0, 4.0],
                                                               dtype=torch.float64), 0.25)
    np.testing.assert_allclose(a.numpy(), b.numpy())
