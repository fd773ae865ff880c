"""Every optimizer solves a small linear least-squares problem (chainer-style convergence test)."""

import numpy as np
import pytest

import lamina as lm
from lamina import nn, optim

# (optimizer, options, steps): full-batch steps on a well-conditioned problem
CASES = [
    (optim.SGD, dict(lr=0.1), 300),
    (optim.SGD, dict(lr=0.05, momentum=0.9), 200),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True), 200),
    (optim.Adagrad, dict(lr=0.5), 300),
    (optim.RMSprop, dict(lr=0.005), 500),
    (optim.RMSprop, dict(lr=0.01, centered=True, momentum=0.5), 500),
    (optim.Adam, dict(lr=0.05), 400),
    (optim.Adam, dict(lr=0.05, amsgrad=True), 400),
    (optim.AdamW, dict(lr=0.05, weight_decay=1e-4), 400),
]


def least_squares_problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 5))
    weight = rng.standard_normal((3, 5))
    bias = rng.standard_normal(3)
    return x, x @ weight.T + bias, weight, bias


@pytest.mark.parametrize("cls, options, steps", CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_recovers_the_weights_of_a_linear_model(cls, options, steps):
    x, y, weight, bias = least_squares_problem()
    lm.manual_seed(0)
    model = nn.Linear(5, 3).double()
    opt = cls(model.parameters(), **options)
    loss_fn = nn.MSELoss()
    inputs, targets = lm.tensor(x), lm.tensor(y)
    first = None
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    final = loss_fn(model(inputs), targets).item()
    assert final < 1e-4 * first
    np.testing.assert_allclose(model.weight.data, weight, atol=2e-2)
    np.testing.assert_allclose(model.bias.data, bias, atol=2e-2)
