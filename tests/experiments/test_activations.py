EXPERIMENT = "activations"


def test_sigmoid_gradient_vanishes(tiny_result):
    ratio = tiny_result.numbers["first_to_last_layer_ratio"]
    assert ratio["sigmoid"] < 1e-3
    for name in ("tanh", "relu", "leaky_relu", "swish"):
        assert ratio[name] > 0.1, name
        assert ratio[name] > 1000 * ratio["sigmoid"], name


def test_sigmoid_gradient_shrinks_layer_after_layer(tiny_result):
    norms = tiny_result.numbers["grad_norm_per_layer"]["sigmoid"]
    assert all(a < b for a, b in zip(norms[:-1], norms[1:], strict=True))


def test_dead_units_are_counted(tiny_result):
    dead = tiny_result.numbers["dead_relu_units_per_layer"]
    assert len(dead) == 9 and min(dead) >= 0
    assert tiny_result.numbers["dead_leaky_relu_units_total"] == 0


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)


def test_the_vanishing_check_fails_on_a_network_whose_gradient_does_not_vanish():
    """The sigmoid check (first/last layer gradient ratio < 1e-3) is a measurement: the same
    10-layer network with tanh (or with the sigmoid's chain cut short) does not pass it."""
    import numpy as np

    from lamina.experiments import common
    from lamina.experiments.activations import build, gradient_norms

    x, y, _, _ = common.mnist_arrays(64, 0, flat=True)
    for name in ("sigmoid", "tanh"):
        norms = gradient_norms(build(name, 32, np.random.default_rng(0)), x, y)
        assert (norms[0] / norms[-1] < 1e-3) == (name == "sigmoid"), (name, norms)
