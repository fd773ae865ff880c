"""The convolution experiment (eq 6.1-6.4): its claim holds; without the flip it fails."""

import numpy as np

from lamina.experiments import convolution as conv

EXPERIMENT = "convolution"


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)


def test_notes_sums_equal_numpy_convolve():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=11), rng.normal(size=4)
    np.testing.assert_allclose(conv.notes_convolution_1d(x, w), np.convolve(x, w), atol=1e-12)


def test_without_the_flip_the_checks_fail():
    errors = conv.discrete_errors(2, np.random.default_rng(0), flip=False)
    assert errors["1d"] > 0.1 and errors["2d"] > 0.1
    assert conv.integral_error(0.1, flip=False) > 0.3  # not the O(h) error of the convolution


def test_a_symmetric_kernel_needs_no_flip():
    rng = np.random.default_rng(2)
    image = rng.normal(size=(6, 7))
    kernel = np.array([[1.0, 2.0, 1.0], [0.5, 3.0, 0.5], [1.0, 2.0, 1.0]])
    np.testing.assert_allclose(conv.lamina_convolution_2d(image, kernel, flip=False),
                               conv.notes_convolution_2d(image, kernel), atol=1e-12)
