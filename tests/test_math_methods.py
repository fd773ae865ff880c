"""Arithmetic and math methods (lamina/math_methods.py): float64 parity with torch, values
and gradients, one table of expressions written once for both libraries."""

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
] + [(f"unary_{name}", (lambda n: lambda x: getattr(x, n)())(name), (data,)) for name, data in [
    ("sin", A), ("cos", A), ("tan", UNIT), ("asin", UNIT), ("arcsin", UNIT), ("acos", UNIT),
    ("arccos", UNIT), ("atan", A), ("arctan", A), ("sinh", A), ("cosh", A), ("log1p", POS),
    ("expm1", A), ("log2", POS), ("log10", POS), ("floor", OFF), ("ceil", OFF), ("round", OFF),
    ("trunc", OFF), ("fix", OFF), ("sign", OFF), ("exp", A), ("log", POS), ("sqrt", POS),
    ("abs", A), ("sigmoid", A), ("tanh", A), ("relu", OFF)]]


@pytest.mark.parametrize("name, fn, inputs", CASES, ids=[c[0] for c in CASES])
def test_method_matches_torch(parity, name, fn, inputs):
    parity.call(fn, fn, *inputs)


@pytest.mark.parametrize("p", [2, "fro", 3])
def test_norm_of_a_zero_row_has_zero_gradient_as_torch(parity, p):
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 2.0]])
    parity.call(lambda t: t.norm(p, 1), lambda t: t.norm(p, 1), x)
    parity.call(lambda t: lm.nn.functional.normalize(t),
                lambda t: parity.torch.nn.functional.normalize(t), x)


@pytest.mark.parametrize("name", ["sin", "cos", "atan", "log1p", "expm1", "log2", "sinh"])
def test_integer_input_is_promoted_as_torch(torch, name):
    ours = getattr(lm, name)(lm.tensor([1, 2, 3]))
    theirs = getattr(torch, name)(torch.tensor([1, 2, 3]))
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
