"""The no free lunch experiment (eq 2.1): its claim holds; its checks fail on broken variants."""

import numpy as np

from lamina.experiments import no_free_lunch as nfl

EXPERIMENT = "no-free-lunch"


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert all(tiny_result.numbers["same_cost_sequence_histogram_per_m"])
    assert tiny_result.numbers["mean_all_tasks"] == {"linear": 0.5, "parity": 0.5}
    assert_pngs(tiny_result)


def test_every_non_revisiting_search_sees_the_same_histogram():
    def backwards(f, m):
        return [f(x) for x in reversed(range(nfl.SEARCH_POINTS))][:m]

    for m in range(1, nfl.SEARCH_POINTS + 1):
        assert nfl.cost_sequences(nfl.scan, m) == nfl.cost_sequences(backwards, m)


def test_a_search_that_revisits_points_breaks_eq_2_1():
    def stuck(f, m):
        return [f(0)] * m

    assert nfl.cost_sequences(stuck, 2) != nfl.cost_sequences(nfl.scan, 2)


def test_a_learner_that_peeks_at_the_test_points_beats_one_half():
    def peeking(labels, train, steps):
        return nfl.linear_learner(labels, np.arange(8), steps)

    splits = nfl.pick_splits(2, np.random.default_rng(0))
    honest = nfl.off_training_accuracy(nfl.linear_learner, splits, 100)
    cheat = nfl.off_training_accuracy(peeking, splits, 100)
    assert nfl.equal_to_half(honest)
    assert not nfl.equal_to_half(cheat) and cheat.mean() > 0.6


def test_families():
    x = nfl.cube()
    threshold, parity = nfl.threshold_family(x), nfl.parity_family(x)
    assert len(parity) == 8 and not set(threshold) & set(parity)
    labels = nfl.all_functions()
    assert labels.shape == (8, 256)
    # x1 > 0 is a threshold function: its labels are the sign of the first bit
    first_bit = int("".join(str(int(v > 0)) for v in x[:, 0]), 2)
    assert first_bit in threshold
    np.testing.assert_array_equal(labels[:, first_bit], (x[:, 0] > 0).astype(float))
