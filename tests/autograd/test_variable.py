"""autograd.Variable (lamina/autograd/variable.py): returns a Tensor, as torch today."""

from __future__ import annotations

import lamina as lm


def test_variable_returns_tensors():
    x = lm.ones(2)
    v = lm.autograd.Variable(x, requires_grad=True)
    assert v is x and v.requires_grad
    assert lm.autograd.Variable([1.0, 2.0]).tolist() == [1.0, 2.0]
    assert not lm.autograd.Variable(lm.zeros(1)).requires_grad
