"""Tensor methods of lamina/tensor_methods.py (Python protocols, dtype conversions, new_*,
comparisons and logic, grad_fn, retain_grad): float64 parity with torch."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


def _r(*shape, seed=0, low=None, high=None):
    rng = np.random.default_rng(seed + len(shape))
    if low is not None:
        return rng.uniform(low, high, shape)
    return rng.standard_normal(shape)


A, B, V, W = _r(3, 4), _r(3, 4, seed=5), _r(4), _r(4, seed=7)
POS = _r(3, 4, low=0.5, high=2.0)
UNIT = _r(3, 4, low=-0.9, high=0.9)
OFF = np.round(_r(3, 4) * 3) + 0.25  # away from the steps of floor/round/sign

# (name, expression used for both libraries, inputs)
CASES = [
    ("all", lambda x: (x > -5).all(), (A,)),
    ("any_dim", lambda x: (x > 1).any(1), (A,)),
    ("nonzero", lambda x: (x > 0).nonzero(), (A,)),
    ("isclose", lambda x, y: x.isclose(y), (A, A + 1e-9)),
    ("logical_and", lambda x, y: (x > 0).logical_and(y > 0), (A, B)),
    ("and_or_xor_invert", lambda x: ((x > 0) & (x < 1)) | ~(x > -1) ^ (x > 0.5), (A,)),
    ("floordiv_mod", lambda x: (x // 0.3, x % 0.3), (A,)),
    ("new_zeros", lambda x: x.new_zeros(2, 3), (A,)),
    ("new_full", lambda x: x.new_full((2,), 1.5), (A,)),
    ("new_tensor", lambda x: x.new_tensor([1, 2]), (A,)),
] + [
    (f"compare_{name}", (lambda n: lambda x, y: getattr(x, n)(y))(name), (A, B))
    for name in ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
                 "less_equal", "not_equal"]]


@pytest.mark.parametrize("name, fn, inputs", CASES, ids=[c[0] for c in CASES])
def test_method_matches_torch(parity, name, fn, inputs):
    parity.call(fn, fn, *inputs)


def test_comparison_with_a_number_and_equal(torch):
    x = lm.tensor([1.0, 2.0, 3.0])
    assert x.eq(2.0).tolist() == [False, True, False]
    assert x.equal(lm.tensor([1.0, 2.0, 3.0])) and not x.equal(lm.tensor([1.0, 2.0]))
    assert x.allclose(x + 1e-9) and not x.allclose(x + 1)


def test_python_number_protocols():
    classes = ["a", "b", "c"]
    t = lm.tensor(2)
    assert classes[t] == "c" and list(range(t)) == [0, 1]
    assert int(lm.tensor([7.9])) == 7 and float(lm.tensor(1.5)) == 1.5
    assert bool(lm.tensor([1])) and not bool(lm.tensor(0.0))
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][lm.tensor(1.0)]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][lm.tensor([0, 1])]


def test_format_of_zero_d_tensors(torch):
    w = lm.tensor(3.14159)
    assert f"{w:+.2f}" == f"{torch.tensor(3.14159):+.2f}" == "+3.14"
    assert f"{lm.tensor(5):d}" == "5" and f"{lm.tensor(2.5)}" == "2.5"
    assert f"{lm.tensor([1.0, 2.0])}" == str(lm.tensor([1.0, 2.0]))
    for lib in (lm, torch):
        with pytest.raises(TypeError, match="unsupported format string"):
            f"{lib.tensor([2.5]):.2f}"


def test_type_and_dtype_conversions():
    x = lm.tensor([1.5, -2.5])
    assert x.type() == "lamina.FloatTensor" and x.long().type() == "lamina.LongTensor"
    assert x.type(lm.float64).dtype == lm.double
    assert x.type("torch.DoubleTensor").dtype == lm.float64
    assert x.int().dtype == lm.int32 and x.bool().dtype == lm.bool and x.half().dtype == lm.half
    assert x.long().tolist() == [1, -2] and x.byte().dtype == lm.uint8
    assert x.is_floating_point() and not x.long().is_floating_point()
    assert x.element_size() == 4 and x.nelement() == 2 and x.ndimension() == 1
    with pytest.raises(TypeError, match="unknown type"):
        x.type("torch.NopeTensor")


def test_size_dim_numel(torch):
    x = lm.zeros(2, 3, 4)
    size = x.size()
    assert isinstance(size, lm.Size) and isinstance(size, tuple)
    assert size == (2, 3, 4) and x.size(0) == 2 and x.size(-1) == 4 and x.size(dim=1) == 3
    assert repr(size) == "lamina.Size([2, 3, 4])" == repr(torch.zeros(2, 3, 4).size()).replace(
        "torch", "lamina")
    assert size.numel() == 24 == x.numel() and x.dim() == 3
    assert isinstance(size[1:], lm.Size) and size[1:] == (3, 4)
    n, c, h = x.size()
    assert (n, c, h) == (2, 3, 4)


def test_grad_fn_and_repr(torch):
    x = lm.tensor([1.0, 2.0], requires_grad=True)
    assert x.grad_fn is None and (x + 1).grad_fn.name() == "AddBackward0"
    y = (x * 2).sum()
    assert y.grad_fn.name() == "SumBackward0" and "grad_fn=<SumBackward0>" in repr(y)
    (node, _), = y.grad_fn.next_functions
    assert node.name() == "MulBackward0"


def test_requires_grad_rules(torch):
    for lib in (lm, torch):
        with pytest.raises(RuntimeError, match="only Tensors of floating point dtype"):
            lib.ones(2, dtype=lib.long).requires_grad_()
        x = lib.ones(2)
        assert x.requires_grad_() is x and x.requires_grad
        assert not x.requires_grad_(False).requires_grad


def test_retain_grad_matches_torch(torch):
    results = []
    for lib in (lm, torch):
        x = lib.tensor([1.0, -2.0, 3.0], dtype=lib.float64, requires_grad=True)
        h = x * x
        h.retain_grad()
        y = (h * 3).sum()
        y.retain_grad()
        assert h.retains_grad and not x.retains_grad
        x.retain_grad()  # a leaf: a no-op
        y.backward(retain_graph=True)
        y.backward()  # accumulates, as the leaves' do
        results.append((h.grad.numpy().copy(), y.grad.item(), x.grad.numpy().copy()))
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs)
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        lm.ones(2).retain_grad()
    z = lm.ones(2, requires_grad=True) * 2
    assert z.grad is None and not z.retains_grad


def test_conversion_to_integers_leaves_the_graph(torch):
    for lib in (lm, torch):
        x = lib.tensor([1.5, 2.5], requires_grad=True)
        for target in (lib.long, lib.int32, lib.bool):
            assert not x.to(target).requires_grad
        assert x.to(lib.float64).requires_grad


def test_iteration_and_membership(torch):
    for lib in (lm, torch):
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        rows = list(x)
        assert len(rows) == 2 and rows[1].tolist() == [3.0, 4.0]
        assert 3.0 in x and 5.0 not in x
        with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
            list(lib.tensor(1.0))
    w = lm.tensor([1.0, 2.0], requires_grad=True)
    sum(v * v for v in w).backward()
    assert w.grad.tolist() == [2.0, 4.0]
