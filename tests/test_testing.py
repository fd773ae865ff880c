"""lamina.testing: the public finite-difference gradient checker."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.tensor import apply
from lamina.testing import gradcheck, numerical_grad


def cube(a):
    """A user-defined op with a correct backward: d a^3 / da = 3 a^2."""
    return a**3, lambda grad, need: (grad * 3 * a**2,)


def wrong_cube(a):
    """A user-defined op with a wrong backward (2 a^2 instead of 3 a^2)."""
    return a**3, lambda grad, need: (grad * 2 * a**2,)


def test_gradcheck_accepts_a_correct_user_op(rng):
    x = lm.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(lambda t: apply(cube, t), [x])


def test_gradcheck_rejects_a_wrong_backward(rng):
    x = lm.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    with pytest.raises(AssertionError, match=r"input 0 \(shape \(3, 2\)\).*differ by up to"):
        gradcheck(lambda t: apply(wrong_cube, t), [x])


def test_gradcheck_catches_a_missing_gradient(rng):
    """An input that requires grad but receives none is compared as zero."""
    x = lm.tensor(rng.standard_normal(3), requires_grad=True)
    y = lm.tensor(rng.standard_normal(3), requires_grad=True)
    with pytest.raises(AssertionError, match="input 1"):
        gradcheck(lambda a, b: a * b.detach(), [x, y])


def test_gradcheck_needs_float64():
    x = lm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="input 0 must be float64.*float32"):
        gradcheck(lambda t: t * t, [x])


def test_gradcheck_skips_inputs_without_grad_and_non_tensors(rng):
    x = lm.tensor(rng.standard_normal(4), requires_grad=True)
    c = lm.tensor(rng.standard_normal(4))
    index = np.array([0, 0, 3])
    assert gradcheck(lambda a, b, i: (a * b)[i], [x, c, index])
    assert c.grad is None


def test_numerical_grad_of_a_non_contiguous_input(rng):
    data = rng.standard_normal((3, 4)).T  # Fortran-ordered view
    x = lm.tensor(data, requires_grad=True)
    weights = rng.standard_normal((4, 3))
    grad = numerical_grad(lambda t: t * t, [x], 0, weights)
    np.testing.assert_allclose(grad, 2 * data * weights, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(x.data, data)  # restored after perturbation


def test_numerical_grad_leaves_the_input_unchanged(rng):
    data = rng.standard_normal(5)
    x = lm.tensor(data.copy(), requires_grad=True)
    numerical_grad(lambda t: t.exp(), [x], 0, np.ones(5))
    np.testing.assert_array_equal(x.data, data)
