import numpy as np

EXPERIMENT = "cnn-properties"


def test_convolution_is_equivariant_and_dense_is_not(tiny_result):
    assert max(tiny_result.numbers["equivariance_error_conv"]) < 1e-12
    assert min(tiny_result.numbers["equivariance_error_dense"]) > 0.5


def test_pooling_is_approximately_invariant(tiny_result):
    change = tiny_result.numbers["pooled_change_1px"]
    ordered = [change[k] for k in ("none", "max 2x2", "max 4x4", "max 8x8")]
    assert np.all(np.diff(ordered) < 0)
    assert change["max 2x2"] < 0.85 * change["none"]
    assert change["global max"] < 1e-12


def test_sparse_interactions_and_parameter_sharing(tiny_result):
    n = tiny_result.numbers
    assert n["output_shape"] == [6, 28, 28]
    assert n["params"] == {"conv": 156, "locally connected": 122_304, "dense": 3_692_640}
    assert n["inputs_per_output"] == {"conv": 25, "dense": 784}
    assert n["multiply_adds"]["dense"] == 784 * 4704
    assert n["multiply_adds"]["conv"] == 4704 * 25


def test_claim_holds_and_plot_written(tiny_result, assert_pngs):
    assert tiny_result.claim_holds, tiny_result.report()
    assert_pngs(tiny_result)
