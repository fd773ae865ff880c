"""lamina's optimizers against the notes' own update rules (eq 3.4-3.11), written out by hand in
NumPy, step by step, on a fixed quadratic: where the notes' form differs from PyTorch's (momentum
convention, Nesterov's look-ahead, AdaGrad's delta, the "Adam" section's RMSProp), the test shows
the exact correspondence that the optimizers' docstrings state."""

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim

A = np.array([[3.0, 0.5], [0.5, 1.0]])
START = np.array([1.0, -2.0])
STEPS = 25


def grad(theta: np.ndarray) -> np.ndarray:
    """Gradient of 1/2 theta^T A theta."""
    return A @ theta


def lamina_path(make) -> np.ndarray:
    w = nn.Parameter(lm.tensor(START.copy(), dtype=lm.float64))
    opt = make([w])
    path = []
    for _ in range(STEPS):
        opt.zero_grad()
        (0.5 * (w @ lm.tensor(A) @ w)).backward()
        opt.step()
        path.append(w.numpy().copy())
    return np.array(path)


def test_sgd_is_eq_3_4():
    eps, theta, path = 0.1, START.copy(), []
    for _ in range(STEPS):
        theta = theta - eps * grad(theta)  # eq 3.4
        path.append(theta)
    np.testing.assert_allclose(lamina_path(lambda p: optim.SGD(p, lr=eps)), path, rtol=1e-14)


def test_momentum_is_eq_3_5_and_3_6():
    eps, alpha = 0.1, 0.9
    theta, v, path = START.copy(), np.zeros(2), []
    for _ in range(STEPS):
        v = alpha * v - eps * grad(theta)  # eq 3.5
        theta = theta + v                  # eq 3.6
        path.append(theta)
    np.testing.assert_allclose(lamina_path(lambda p: optim.SGD(p, lr=eps, momentum=alpha)),
                               path, rtol=1e-12, atol=1e-14)


def test_nesterov_is_eq_3_7_at_the_look_ahead_point():
    """The notes evaluate the gradient at theta + alpha v (eq 3.7); PyTorch's form (lamina's)
    keeps the look-ahead point itself as the parameter: lamina's theta_k = theta_k + alpha v_k."""
    eps, alpha = 0.05, 0.9
    theta, v, path = START.copy(), np.zeros(2), []
    for _ in range(STEPS):
        g = grad(theta + alpha * v)  # eq 3.7
        v = alpha * v - eps * g
        theta = theta + v
        path.append(theta + alpha * v)
    ours = lamina_path(lambda p: optim.SGD(p, lr=eps, momentum=alpha, nesterov=True))
    np.testing.assert_allclose(ours, path, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("delta", [1e-10, 1e-3])
def test_adagrad_is_eq_3_8_and_3_9_with_the_diagonal_and_delta_outside_the_root(delta):
    """Eq 3.9's G is kept as its diagonal (the running sum of g*g); PyTorch and lamina add delta
    after the square root, where eq 3.8 puts it inside."""
    eps = 0.5
    theta, r, path = START.copy(), np.zeros(2), []
    for _ in range(STEPS):
        g = grad(theta)
        r = r + g * g                                  # diag(G), eq 3.9
        theta = theta - eps / (np.sqrt(r) + delta) * g  # eq 3.8, delta outside the root
        path.append(theta)
    ours = lamina_path(lambda p: optim.Adagrad(p, lr=eps, eps=delta))
    np.testing.assert_allclose(ours, path, rtol=1e-12)
    # with delta inside the root (eq 3.8 as printed) the path differs measurably for delta=1e-3
    theta, r = START.copy(), np.zeros(2)
    for _ in range(STEPS):
        g = grad(theta)
        r = r + g * g
        theta = theta - eps / np.sqrt(delta + r) * g
    assert (np.abs(theta - ours[-1]).max() > 1e-9) == (delta > 1e-6)


def test_rmsprop_is_eq_3_11_with_a_moving_average_not_eq_3_10s_sum():
    """The notes' section 3.5 ("Adam") describes RMSProp, but eq 3.10 sums g*g like AdaGrad;
    RMSProp keeps r <- rho r + (1 - rho) g*g, then eq 3.11."""
    eps, rho, delta = 0.01, 0.9, 1e-8
    theta, r, path = START.copy(), np.zeros(2), []
    for _ in range(STEPS):
        g = grad(theta)
        r = rho * r + (1 - rho) * g * g                # RMSProp, not eq 3.10
        theta = theta - eps / (delta + np.sqrt(r)) * g  # eq 3.11
        path.append(theta)
    ours = lamina_path(lambda p: optim.RMSprop(p, lr=eps, alpha=rho, eps=delta))
    np.testing.assert_allclose(ours, path, rtol=1e-12)
    summed = lamina_path(lambda p: optim.Adagrad(p, lr=eps, eps=delta))  # eq 3.10 as printed
    assert np.abs(summed[-1] - ours[-1]).max() > 1e-3


def test_adam_is_kingma_and_ba():
    lr, (b1, b2), delta = 0.05, (0.9, 0.999), 1e-8
    theta, m, v, path = START.copy(), np.zeros(2), np.zeros(2), []
    for t in range(1, STEPS + 1):
        g = grad(theta)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        theta = theta - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + delta)
        path.append(theta)
    np.testing.assert_allclose(lamina_path(lambda p: optim.Adam(p, lr=lr)), path, rtol=1e-12)
