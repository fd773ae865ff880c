import numpy as np

EXPERIMENT = "capacity"


def test_training_error_falls_with_the_degree(tiny_result):
    train = np.array(tiny_result.numbers["poly_train_mse"])
    assert np.all(train[1:] <= train[:-1] * 1.01)
    assert train[-1] < 0.1 * train[0]


def test_lamina_models_reach_the_least_squares_fit_at_low_degree(tiny_result):
    trained = np.array(tiny_result.numbers["poly_train_mse"])
    exact = np.array(tiny_result.numbers["exact_least_squares_train_mse"])
    np.testing.assert_allclose(trained[:8], exact[:8], rtol=1e-3)
    assert np.all(trained >= exact * (1 - 1e-9))  # no model beats the exact minimiser


def test_checks_fail_when_capacity_does_not_grow_or_training_error_rises(tiny_result):
    from lamina.experiments.capacity import fit_polynomial, judge, mse, sample

    rng = np.random.default_rng(3)
    x, y = sample(15, rng, spread=True)
    x_test, y_test = sample(200, rng)
    coef = fit_polynomial(x, y, 2)  # the same degree at every "capacity"
    flat_train = np.full(13, mse(np.polynomial.legendre.legval(x, coef), y))
    flat_test = np.full(13, mse(np.polynomial.legendre.legval(x_test, coef), y_test))
    assert not all(judge(flat_train, flat_test).values())
    train = np.array(tiny_result.numbers["poly_train_mse"])
    test = np.array(tiny_result.numbers["poly_test_mse"])
    assert all(judge(train, test).values())
    assert not all(judge(train[::-1], test).values())


def test_test_error_is_u_shaped(tiny_result):
    test = np.array(tiny_result.numbers["poly_test_mse"])
    best = int(np.argmin(test))
    assert 2 <= best <= len(test) - 3
    assert test[best] * 2 < test[0]
    assert test[best] * 10 < test[-1]
    assert test[best] > tiny_result.numbers["noise_variance"]  # no model beats the noise


def test_mlp_training_error_falls_with_width(tiny_result):
    mlp = tiny_result.numbers["mlp_train_mse"]
    assert mlp[-1] < 0.5 * mlp[0]


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert "degree" in tiny_result.conclusion
    assert_pngs(tiny_result)


def test_polynomial_fit_is_the_least_squares_solution():
    from lamina.experiments.capacity import fit_polynomial

    x = np.linspace(-1, 1, 9)
    y = 1.0 - 2.0 * x + 0.5 * (3 * x ** 2 - 1) / 2  # Legendre coefficients (1, -2, 0.5)
    np.testing.assert_allclose(fit_polynomial(x, y, 2), [1.0, -2.0, 0.5], atol=1e-12)
