"""Tensor methods of torch's API (lamina/tensor_methods.py): float64 parity with torch, values
and gradients, through one table of expressions written once for both libraries."""

from __future__ import annotations

import math

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
    ("view_as", lambda x, y: x.view_as(y), (_r(12), A)),
    ("reshape_as", lambda x, y: x.reshape_as(y), (_r(12), A)),
    ("expand", lambda x: x.expand(2, 3, 4), (_r(3, 1),)),
    ("expand_minus_one", lambda x: x.expand(-1, 5), (_r(3, 1),)),
    ("expand_as", lambda x, y: x.expand_as(y), (V, A)),
    ("repeat", lambda x: x.repeat(2, 3), (_r(2, 3),)),
    ("repeat_new_dims", lambda x: x.repeat(2, 1, 2), (_r(3),)),
    ("split_int", lambda x: x.split(2, dim=1), (_r(3, 5),)),
    ("split_sizes", lambda x: x.split([1, 4], 1), (_r(3, 5),)),
    ("split_dim0", lambda x: x.split(1), (A,)),
    ("chunk", lambda x: x.chunk(3, 1), (_r(2, 7),)),
    ("tensor_split", lambda x: x.tensor_split(3, 1), (_r(2, 7),)),
    ("unbind", lambda x: x.unbind(1), (A,)),
    ("narrow", lambda x: x.narrow(1, 1, 2), (A,)),
    ("flip", lambda x: x.flip(0, 1), (A,)),
    ("unsqueeze", lambda x: x.unsqueeze(-1), (A,)),
    ("squeeze_dim", lambda x: x.squeeze(1), (_r(3, 1, 4),)),
    ("squeeze_not_one", lambda x: x.squeeze(0), (_r(3, 1, 4),)),
    ("squeeze_tuple", lambda x: x.squeeze((1, 3)), (_r(3, 1, 4, 1),)),
    ("squeeze_all", lambda x: x.squeeze(), (_r(1, 3, 1),)),
    ("t", lambda x: x.t(), (A,)),
    ("t_1d", lambda x: x.t(), (V,)),
    ("mT", lambda x: x.mT, (_r(2, 3, 4),)),
    ("movedim", lambda x: x.movedim(0, 2), (_r(2, 3, 4),)),
    ("swapaxes", lambda x: x.swapaxes(0, 2), (_r(2, 3, 4),)),
    ("mm", lambda x, y: x.mm(y), (A, _r(4, 2))),
    ("matmul", lambda x, y: x.matmul(y), (_r(2, 3, 4), _r(4, 2))),
    ("bmm", lambda x, y: x.bmm(y), (_r(2, 3, 4), _r(2, 4, 5))),
    ("mv", lambda x, y: x.mv(y), (A, V)),
    ("dot", lambda x, y: x.dot(y), (V, W)),
    ("outer", lambda x, y: x.outer(y), (V, _r(3))),
    ("add_alpha", lambda x, y: x.add(y, alpha=0.5), (A, B)),
    ("sub_alpha", lambda x, y: x.sub(y, alpha=2), (A, B)),
    ("mul", lambda x, y: x.mul(y), (A, B)),
    ("div", lambda x, y: x.div(y), (A, POS)),
    ("div_floor", lambda x, y: x.div(y, rounding_mode="floor"), (A, POS)),
    ("div_trunc", lambda x, y: x.div(y, rounding_mode="trunc"), (A, POS)),
    ("pow", lambda x: x.pow(3), (A,)),
    ("pow_tensor", lambda x, y: x.pow(y), (POS, B)),
    ("neg", lambda x: x.neg(), (A,)),
    ("reciprocal", lambda x: x.reciprocal(), (POS,)),
    ("rsqrt", lambda x: x.rsqrt(), (POS,)),
    ("square", lambda x: x.square(), (A,)),
    ("maximum", lambda x, y: x.maximum(y), (A, B)),
    ("minimum", lambda x, y: x.minimum(y), (A, B)),
    ("masked_fill", lambda x: x.masked_fill(x > 0, 0.5), (A,)),
    ("std", lambda x: x.std(), (A,)),
    ("std_dim", lambda x: x.std(1, keepdim=True), (A,)),
    ("std_correction0", lambda x: x.std(dim=0, correction=0), (A,)),
    ("norm", lambda x: x.norm(), (A,)),
    ("norm_dim", lambda x: x.norm(2, 1, keepdim=True), (A,)),
    ("norm_1", lambda x: x.norm(1), (A,)),
    ("norm_3", lambda x: x.norm(3, dim=0), (A,)),
    ("norm_inf", lambda x: x.norm(math.inf, dim=1), (A,)),
    ("dist", lambda x, y: x.dist(y), (A, B)),
    ("prod", lambda x: x.prod(), (POS,)),
    ("prod_dim", lambda x: x.prod(1, keepdim=True), (A,)),
    ("cumsum", lambda x: x.cumsum(1), (A,)),
    ("cumsum_dim0", lambda x: x.cumsum(0), (A,)),
    ("clamp_min", lambda x: x.clamp_min(0.1), (A,)),
    ("clamp_max", lambda x: x.clamp_max(0.1), (A,)),
    ("frac", lambda x: x.frac(), (OFF,)),
    ("exp2", lambda x: x.exp2(), (A,)),
    ("amax", lambda x: x.amax(1), (A,)),
    ("amin_tuple", lambda x: x.amin((0, 1)), (A,)),
    ("tril", lambda x: x.tril(), (A,)),
    ("triu_1", lambda x: x.triu(1), (A,)),
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
] + [(f"unary_{name}", (lambda n: lambda x: getattr(x, n)())(name), (data,)) for name, data in [
    ("sin", A), ("cos", A), ("tan", UNIT), ("asin", UNIT), ("arcsin", UNIT), ("acos", UNIT),
    ("arccos", UNIT), ("atan", A), ("arctan", A), ("sinh", A), ("cosh", A), ("log1p", POS),
    ("expm1", A), ("log2", POS), ("log10", POS), ("floor", OFF), ("ceil", OFF), ("round", OFF),
    ("trunc", OFF), ("fix", OFF), ("sign", OFF), ("exp", A), ("log", POS), ("sqrt", POS),
    ("abs", A), ("sigmoid", A), ("tanh", A), ("relu", OFF)]] + [
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


def test_expand_repeat_errors():
    with pytest.raises(RuntimeError, match="must match the existing size"):
        lm.zeros(3, 2).expand(3, 4)
    with pytest.raises(RuntimeError, match="at least the number of dimensions"):
        lm.zeros(3, 2).repeat(2)
    with pytest.raises(RuntimeError, match="sum to 4"):
        lm.zeros(5).split([1, 3])
    with pytest.raises(RuntimeError, match=r"t\(\) expects a tensor with <= 2"):
        lm.zeros(2, 2, 2).t()


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


@pytest.mark.parametrize("p", [2, "fro", 3])
def test_norm_of_a_zero_row_has_zero_gradient_as_torch(parity, p):
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    parity.call(lambda t: t.norm(p, 1), lambda t: t.norm(p, 1), x)
    parity.call(lambda t: lm.nn.functional.normalize(t),
                lambda t: parity.torch.nn.functional.normalize(t), x)


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
