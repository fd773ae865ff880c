import numpy as np

EXPERIMENT = "optimizers"


def test_momentum_beats_sgd_on_the_ill_conditioned_quadratic(tiny_result):
    final = tiny_result.numbers["quadratic_final_loss"]
    assert final["momentum"] * 10 < final["SGD"]
    assert final["Nesterov"] * 10 < final["SGD"]
    assert final["SGD"] < tiny_result.numbers["quadratic_start_loss"]  # SGD does descend


def test_adagrad_effective_step_only_shrinks(tiny_result):
    grew = tiny_result.numbers["adagrad_any_coordinate_step_grew"]
    assert not grew["quadratic"] and not grew["mlp"]
    first, last = tiny_result.numbers["adagrad_step_mlp_first_last"]
    assert last <= 0.5 * first
    # RMSProp forgets old gradients: its step does grow again
    assert tiny_result.numbers["rmsprop_any_coordinate_step_grew"]


def test_momentum_gets_closer_to_the_rosenbrock_minimum(tiny_result):
    distance = tiny_result.numbers["rosenbrock_distance_to_minimum"]
    assert distance["momentum"] < 0.5 * distance["SGD"]


def test_claim_holds_and_plots_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)
    assert len(tiny_result.plots) == 2


def test_quadratic_has_the_stated_condition_number():
    from lamina.experiments.optimizers import CONDITION, quadratic, quadratic_matrix

    eigenvalues = np.linalg.eigvalsh(quadratic_matrix())
    assert np.isclose(eigenvalues.max() / eigenvalues.min(), CONDITION)
    theta = np.array([0.3, -1.2])
    assert np.isclose(quadratic(theta), 0.5 * theta @ quadratic_matrix() @ theta)


def test_adagrad_step_falls_as_one_over_sqrt_t_and_rmsprop_levels_off(tiny_result):
    slopes = tiny_result.numbers["noisy_gradients_step_decay_slope"]
    assert abs(slopes["AdaGrad"] + 0.5) < 0.1
    assert abs(slopes["RMSProp"]) < 0.1


def test_the_decay_check_fails_for_an_averaging_adagrad():
    """A broken AdaGrad that averaged its squared gradients (RMSProp's rule) fails check (c)."""
    from lamina.experiments.optimizers import NOISY_STEPS, decay_slope, judge_decay, noisy_steps

    rng = np.random.default_rng(0)
    averaging = decay_slope(noisy_steps("RMSProp", NOISY_STEPS, rng))
    honest = decay_slope(noisy_steps("RMSProp", NOISY_STEPS, rng))
    assert not judge_decay({"AdaGrad": averaging, "RMSProp": honest})
    # and a step that never moves would not pass as AdaGrad either
    assert not judge_decay({"AdaGrad": 0.0, "RMSProp": honest})
