"""Shape and linear-algebra methods (lamina/shape_methods.py): float64 parity with torch,
values and gradients, one table of expressions written once for both libraries."""

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
]


@pytest.mark.parametrize("name, fn, inputs", CASES, ids=[c[0] for c in CASES])
def test_method_matches_torch(parity, name, fn, inputs):
    parity.call(fn, fn, *inputs)


def test_expand_repeat_errors():
    with pytest.raises(RuntimeError, match="must match the existing size"):
        lm.zeros(3, 2).expand(3, 4)
    with pytest.raises(RuntimeError, match="at least the number of dimensions"):
        lm.zeros(3, 2).repeat(2)
    with pytest.raises(RuntimeError, match="sum to 4"):
        lm.zeros(5).split([1, 3])
    with pytest.raises(RuntimeError, match=r"t\(\) expects a tensor with <= 2"):
        lm.zeros(2, 2, 2).t()
