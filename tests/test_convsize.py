"""lamina.convsize: the one output-size helper (eq 6.5-6.8) and its arithmetic text; also
runs the doctests of the conv/pool layers and models that use it."""

from __future__ import annotations

import doctest
import importlib

import pytest

from lamina.convsize import (
    as_pair,
    check_window,
    conv_arithmetic,
    conv_output_size,
    spatial_output_shape,
)


@pytest.mark.parametrize(("args", "expected"), [
    ((28, 5, 1, 2), 28), ((28, 5), 24), ((28, 2, 2), 14), ((7, 2, 2), 3), ((7, 3, 2, 1), 4),
    ((5, 7), -1), ((10, 3, 1, 0, 2), 6), ((1, 1), 1),
])
def test_conv_output_size_is_floor_of_n_plus_2p_minus_k_over_s_plus_1(args, expected):
    assert conv_output_size(*args) == expected


def test_the_notes_formula_when_the_stride_fits():
    """Eq 6.5: h_o = (h_i - h_k)/h_s + 1 when (h_i - h_k) is a multiple of h_s."""
    for h_i, h_k, h_s in [(32, 5, 1), (28, 2, 2), (10, 2, 2), (9, 3, 3)]:
        assert conv_output_size(h_i, h_k, h_s) == (h_i - h_k) / h_s + 1


def test_arithmetic_text():
    assert conv_arithmetic(5, 7) == "floor((5 + 2*0 - 7)/1) + 1 = -1"
    assert conv_arithmetic(28, 5, 1, 2) == "floor((28 + 2*2 - 5)/1) + 1 = 28"
    assert conv_arithmetic(10, 3, 1, 0, dilation=2) == "floor((10 + 2*0 - 5)/1) + 1 = 6"


def test_spatial_output_shape_and_errors():
    assert spatial_output_shape("L", (2, 3, 28, 20), (5, 3), (1, 2), (2, 0)) == (28, 9)
    with pytest.raises(ValueError, match=r"^L: input of shape \(1, 1, 9, 2\) is too small: "
                                         r"width floor\(\(2 \+ 2\*0 - 3\)/1\) \+ 1 = 0$"):
        spatial_output_shape("L", (1, 1, 9, 2), (3, 3), (1, 1), (0, 0))
    with pytest.raises(ValueError, match=r"L: expected a 4-D input \(N, C, H, W\), got shape "
                                         r"\(9, 9\) with 2 dimensions"):
        spatial_output_shape("L", (9, 9), (3, 3), (1, 1), (0, 0))


def test_as_pair_and_check_window():
    assert as_pair(3, "L", "stride") == (3, 3)
    assert as_pair([2, 5], "L", "stride") == (2, 5)
    for bad in [(1, 2, 3), 1.5, "2", True, (1, 2.0)]:
        with pytest.raises(TypeError, match="L: stride must be an int or a pair of ints"):
            as_pair(bad, "L", "stride")
    with pytest.raises(ValueError, match=r"L: kernel_size must be >= 1 in each dimension, got "
                                         r"\(0, 2\)"):
        check_window("L", (0, 2), (1, 1), (0, 0))


@pytest.mark.parametrize("module", ["lamina.convsize", "lamina.nn.conv", "lamina.nn.pooling",
                                    "lamina.models"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
