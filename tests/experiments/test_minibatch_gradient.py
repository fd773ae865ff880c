"""The minibatch-gradient experiment (eq 3.1-3.3): its claim holds; a summed gradient fails it."""

import numpy as np

from lamina.experiments import common
from lamina.experiments import minibatch_gradient as mg

EXPERIMENT = "minibatch-gradient"


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert abs(tiny_result.numbers["loglog_slope"] + 0.5) < 0.1
    assert_pngs(tiny_result)


def test_full_gradient_is_the_mean_of_per_example_gradients():
    x, y, _, _ = common.mnist_arrays(40, 0, flat=True)
    x = x.astype(np.float64)
    model = mg.build(x, y)
    per_example = np.mean([mg.gradient(model, x[i:i + 1], y[i:i + 1]) for i in range(40)], axis=0)
    np.testing.assert_allclose(mg.gradient(model, x, y), per_example, rtol=1e-10, atol=1e-14)


def test_forgetting_the_one_over_m_fails_the_checks():
    x, y, _, _ = common.mnist_arrays(500, 0, flat=True)
    x = x.astype(np.float64)
    model = mg.build(x, y)
    errors = mg.estimate_errors(model, x, y, 30, np.random.default_rng(0), reduction="sum")
    checks = mg.judge(errors, 30)
    assert not any(checks.values()), checks
