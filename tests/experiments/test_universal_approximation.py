import numpy as np

EXPERIMENT = "universal-approximation"


def test_error_falls_as_the_width_grows(tiny_result):
    mse = np.array(tiny_result.numbers["mse"])
    assert mse[-1] * 100 < mse[0]
    assert np.all(mse[1:] <= 1.5 * np.minimum.accumulate(mse)[:-1])


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
