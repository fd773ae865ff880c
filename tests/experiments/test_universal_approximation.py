import numpy as np

EXPERIMENT = "universal-approximation"


def test_error_falls_as_the_width_grows(tiny_result):
    mse = np.array(tiny_result.numbers["mse"])
    assert mse[-1] * 100 < mse[0]
    assert np.all(np.diff(mse) < 0)
    assert np.all(np.diff(tiny_result.numbers["sup_error"]) < 0)


def test_checks_fail_when_a_wider_network_is_not_better(tiny_result):
    """A broken variant: widening without training the new units (errors stay where they were)
    or a width whose error rises fails the strict checks."""
    from lamina.experiments.universal_approximation import judge

    mse, sup = tiny_result.numbers["mse"], tiny_result.numbers["sup_error"]
    assert all(judge(mse, sup).values())
    frozen = [mse[0]] * len(mse)
    assert not all(judge(frozen, [sup[0]] * len(sup)).values())
    bumped = list(mse)
    bumped[-1] = bumped[-2] * 1.01  # a rise between the last two widths
    assert not judge(bumped, sup)["the MSE falls at every step of width (each wider network is "
                                  "strictly better)"]


def test_sup_error_is_small_at_the_largest_width(tiny_result):
    sup = tiny_result.numbers["sup_error"]
    assert sup[-1] < 0.1
    assert sup[0] > 0.5  # one unit cannot follow three oscillations


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)


def test_wider_network_starts_as_the_narrower_one():
    import lamina as lm
    from lamina.experiments.universal_approximation import make_network

    rng = np.random.default_rng(0)
    narrow = make_network(3, rng)
    wide = make_network(8, rng, previous=narrow)
    x = lm.tensor(np.linspace(0, 1, 50)[:, None])
    np.testing.assert_allclose(wide(x).numpy(), narrow(x).numpy(), atol=1e-12)
