"""torch's top-level functions that mirror Tensor methods (lamina/functions.py): float64
parity with torch, values and gradients, one table for all."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.functions import METHOD_FUNCTIONS

A = np.random.default_rng(0).standard_normal((3, 4))
B = np.random.default_rng(1).standard_normal((3, 4))
POS = np.random.default_rng(2).uniform(0.5, 2.0, (3, 4))
UNIT = np.random.default_rng(3).uniform(-0.9, 0.9, (3, 4))
OFF = np.round(A * 3) + 0.25
V, W = np.arange(4.0) - 1.5, np.linspace(-1, 1, 4)

# (function name, extra positional args, keyword args, inputs)
CASES = [
    *[(n, (), {}, (A,)) for n in ["abs", "absolute", "sin", "cos", "atan", "arctan", "sinh",
                                   "cosh", "tanh", "exp", "exp2", "expm1", "square", "neg",
                                   "negative", "sigmoid", "relu", "sum", "mean", "std", "var",
                                   "norm", "max", "min", "amax", "amin", "argmax", "argmin",
                                   "median", "flatten", "t", "clone", "numel", "isnan",
                                   "isinf", "isfinite", "signbit", "nonzero", "all", "any"]],
    *[(n, (), {}, (POS,)) for n in ["log", "log1p", "log2", "log10", "sqrt", "rsqrt",
                                     "reciprocal", "prod"]],
    *[(n, (), {}, (UNIT,)) for n in ["tan", "asin", "arcsin", "acos", "arccos"]],
    *[(n, (), {}, (OFF,)) for n in ["floor", "ceil", "round", "trunc", "fix", "frac", "sign"]],
    *[(n, (), {}, (A, B)) for n in ["add", "sub", "subtract", "mul", "multiply", "div",
                                     "divide", "true_divide", "maximum", "minimum", "eq", "ne",
                                     "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
                                     "less_equal", "not_equal", "equal", "allclose", "isclose",
                                     "dist", "max", "min"]],
    ("logical_and", (), {}, (A > 0, B > 0)), ("logical_or", (), {}, (A > 0, B > 0)),
    ("logical_xor", (), {}, (A > 0, B > 0)), ("logical_not", (), {}, (A > 0,)),
    ("pow", (2,), {}, (A,)), ("pow", (), {}, (POS, B)),
    ("add", (), {"alpha": 3}, (A, B)), ("sub", (), {"alpha": 0.5}, (A, B)),
    ("div", (), {"rounding_mode": "floor"}, (A, POS)),
    ("matmul", (), {}, (A, B.T.copy())), ("mm", (), {}, (A, B.T.copy())),
    ("bmm", (), {}, (np.stack([A, B]), np.stack([B.T, A.T]))), ("mv", (), {}, (A, V)),
    ("dot", (), {}, (V, W)), ("outer", (), {}, (V, W)),
    ("clamp", (), {"min": -0.5, "max": 0.5}, (A,)), ("clip", (-0.1, 0.2), {}, (A,)),
    ("clamp_min", (0.0,), {}, (A,)), ("clamp_max", (0.0,), {}, (A,)),
    ("sum", (1,), {}, (A,)), ("sum", (), {"dim": 0, "keepdim": True}, (A,)),
    ("mean", (1,), {"keepdim": True}, (A,)), ("std", (0,), {}, (A,)),
    ("prod", (1,), {}, (A,)), ("cumsum", (1,), {}, (A,)), ("norm", (1,), {}, (A,)),
    ("max", (1,), {}, (A,)), ("max", (), {"dim": 0, "keepdim": True}, (A,)),
    ("min", (0,), {}, (A,)), ("argmax", (1,), {"keepdim": True}, (A,)),
    ("argsort", (1,), {}, (A,)), ("sort", (), {"dim": 0, "descending": True}, (A,)),
    ("topk", (2,), {}, (A,)), ("kthvalue", (2, 0), {}, (A,)), ("median", (1,), {}, (A,)),
    ("mode", (1,), {}, (np.array([[1.0, 1.0, 2.0], [3.0, 2.0, 2.0]]),)),
    ("softmax", (1,), {}, (A,)), ("log_softmax", (), {"dim": 0}, (A,)),
    ("flatten", (), {"start_dim": 1}, (np.stack([A, B]),)), ("reshape", ((4, 3),), {}, (A,)),
    ("squeeze", (1,), {}, (A[:, None],)), ("unsqueeze", (0,), {}, (A,)),
    ("transpose", (0, 1), {}, (A,)), ("swapaxes", (0, 1), {}, (A,)),
    ("swapdims", (1, 0), {}, (A,)), ("permute", ((1, 0),), {}, (A,)),
    ("movedim", (0, 1), {}, (A,)), ("split", (2,), {"dim": 1}, (A,)),
    ("chunk", (2,), {}, (A,)), ("tensor_split", (3,), {"dim": 1}, (A,)),
    ("unbind", (), {}, (A,)), ("narrow", (1, 1, 2), {}, (A,)), ("flip", ((0,),), {}, (A,)),
    ("index_select", (0, np.array([2, 0])), {}, (A,)),
    ("gather", (1, np.array([[0, 0], [3, 1], [2, 2]])), {}, (A,)),
    ("masked_fill", (A > 0, 2.0), {}, (A,)),
    ("logsumexp", (1,), {}, (A * 50,)), ("logsumexp", (0,), {"keepdim": True}, (A,)),
    ("diag", (), {}, (V,)), ("diag", (1,), {}, (V,)), ("diag", (-2,), {}, (V,)),
    ("diag", (), {}, (A,)), ("diag", (1,), {}, (A,)), ("diag", (-1,), {}, (A,)),
    ("trace", (), {}, (A,)), ("roll", (1, 1), {}, (A,)), ("roll", (-2,), {}, (A,)),
    ("roll", ((1, 2), (0, 1)), {}, (A,)), ("count_nonzero", (), {}, (OFF * (A > 0),)),
    ("count_nonzero", (), {"dim": 1}, (OFF * (A > 0),)),
    ("unique", (), {}, (np.array([3, 1, 3, 2, 1]),)),
    ("unique", (), {"return_inverse": True, "return_counts": True},
     (np.array([[3, 1], [3, 2]]),)),
    ("bincount", (), {}, (np.array([0, 2, 2, 5]),)),
    ("bincount", (), {"minlength": 8}, (np.array([0, 2, 2, 5]),)),
    ("argwhere", (), {}, (A > 0,)), ("ravel", (), {}, (A,)), ("diff", (), {}, (A,)),
    ("diff", (), {"n": 2, "dim": 0}, (A,)), ("lerp", (), {}, (A, B, POS)),
    ("lerp", (0.25,), {}, (A, B)), ("addmm", (), {}, (V[:3], A, B.T.copy())),
    ("addmm", (), {"beta": 0.5, "alpha": 2}, (A[:, :3], A, B.T.copy())),
    ("take_along_dim", (np.array([[0, 3], [1, 1], [2, 0]]), 1), {}, (A,)),
    ("take_along_dim", (np.array([[0], [2], [1]]), 1), {}, (A,)),
    ("take_along_dim", (np.array([0, 5, 11]),), {}, (A,)),
]


def _arg(lib, value):
    if isinstance(value, np.ndarray):
        return lib.tensor(value) if lib is lm else lib.from_numpy(value)
    return value


@pytest.mark.parametrize("name, args, kwargs, inputs", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_function_matches_torch(parity, name, args, kwargs, inputs):
    torch = parity.torch
    parity.call(lambda *xs: getattr(lm, name)(*xs, *[_arg(lm, a) for a in args], **kwargs),
                lambda *xs: getattr(torch, name)(*xs, *[_arg(torch, a) for a in args], **kwargs),
                *inputs)


def test_every_mirrored_function_exists_in_torch_and_has_a_case(torch):
    covered = {c[0] for c in CASES} | {"detach"}  # detach: checked below
    assert set(METHOD_FUNCTIONS) <= covered, sorted(set(METHOD_FUNCTIONS) - covered)
    assert all(hasattr(torch, name) for name in METHOD_FUNCTIONS)


def test_functions_accept_numbers_and_lists(torch):
    assert lm.exp(0.0).item() == 1.0 and lm.sum([1, 2, 3]).item() == 6
    assert lm.max(lm.tensor([1.0, 5.0]), lm.tensor([3.0, 2.0])).tolist() == [3.0, 5.0]
    x = lm.tensor([1.0], requires_grad=True)
    assert not lm.detach(x).requires_grad


@pytest.mark.parametrize("equation, shapes", [
    ("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ij->j", [(3, 4)]), ("ij,j", [(3, 4), (4,)]), ("i,j->ij", [(3,), (4,)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 5)]), ("ij,ij->", [(2, 3), (2, 3)]),
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]), ("ii->", [(3, 3)]),
])
def test_einsum_matches_torch(parity, equation, shapes):
    arrays = [np.random.default_rng(i).standard_normal(s) for i, s in enumerate(shapes)]
    grad = len(set(equation.split("->")[0])) == len(equation.split("->")[0])  # no 'ii'
    parity.call(lambda *xs: lm.einsum(equation, *xs),
                lambda *xs: parity.torch.einsum(equation, *xs), *arrays, grad=grad)


def test_cdist_and_moments_match_torch(parity):
    torch = parity.torch
    x1, x2 = A, np.random.default_rng(9).standard_normal((5, 4))
    parity.call(lambda a, b: lm.cdist(a, b), lambda a, b: torch.cdist(a, b), x1, x2)
    parity.call(lambda a, b: lm.cdist(a, b, p=1.0), lambda a, b: torch.cdist(a, b, p=1.0),
                x1, x2)
    parity.call(lambda a: lm.var_mean(a, 1), lambda a: torch.var_mean(a, 1), A)
    parity.call(lambda a: lm.std_mean(a, 0, keepdim=True),
                lambda a: torch.std_mean(a, 0, keepdim=True), A)
    x, t = lm.zeros(3, 3), torch.zeros(3, 3)
    x.fill_diagonal_(2.0)
    t.fill_diagonal_(2.0)
    assert x.tolist() == t.tolist()
    assert lm.ones(2).type_as(lm.zeros(1, dtype=lm.float64)).dtype == lm.float64


def test_where_forms_and_stacking(parity):
    torch = parity.torch
    parity.call(lambda c, a, b: lm.where(c > 0, a, b), lambda c, a, b: torch.where(c > 0, a, b),
                A, B, A * 2)
    parity.call(lambda c: lm.where(c > 0), lambda c: torch.where(c > 0), A)
    parity.call(lambda a, b: lm.concat([a, b], 1), lambda a, b: torch.concat([a, b], 1), A, B)
    parity.call(lambda a, b: lm.concatenate([a, b]), lambda a, b: torch.concatenate([a, b]),
                A, B)
    parity.call(lambda a, b: lm.hstack([a, b]), lambda a, b: torch.hstack([a, b]), A, B)
    parity.call(lambda a, b: lm.vstack([a, b]), lambda a, b: torch.vstack([a, b]), V, W)
    parity.call(lambda a, b: lm.broadcast_tensors(a, b),
                lambda a, b: torch.broadcast_tensors(a, b), A, V)
    assert lm.is_tensor(lm.zeros(1)) and not lm.is_tensor(np.zeros(1))
    assert lm.is_floating_point(lm.zeros(1)) and not lm.is_floating_point(lm.zeros(1).long())
