"""``lamina summary``: the layer table and the eq 6.5-6.8 arithmetic, for configs and files."""

from __future__ import annotations

import doctest

import lamina as lm
import lamina.cli.summary
from lamina.cli.summary import layer_rows
from lamina.nn.conv import Conv2d
from lamina.nn.pooling import MaxPool2d

from .conftest import EXAMPLES, assert_one_line_error


def test_doctests():
    assert doctest.testmod(lamina.cli.summary).failed == 0


def test_lenet5_config_shows_the_conv_and_pool_arithmetic(cli):
    run = cli("summary", EXAMPLES / "configs" / "mnist_lenet5.toml")
    assert run.code == 0, run.err
    out = run.out
    assert "floor((28 + 2*2 - 5)/1) + 1 = 28" in out  # C1: padding 2 keeps 28x28
    assert "floor((28 + 2*0 - 2)/2) + 1 = 14" in out  # S2
    assert "floor((14 + 2*0 - 5)/1) + 1 = 10" in out  # C3
    assert "floor((10 + 2*0 - 2)/2) + 1 = 5" in out   # S4
    assert "16*5*5 = 400" in out
    assert "(N, 16, 5, 5)" in out and "(N, 10)" in out
    assert out.strip().endswith("Total params: 61,706")


def test_model_file_summary(cli, mnist_run):
    run = cli("summary", mnist_run / "model.safetensors")
    assert run.code == 0, run.err
    assert "Total params: 61,706" in run.out and "0 (Conv2d)" in run.out


def test_rows_match_a_forward_pass():
    model = lm.nn.Sequential(Conv2d(3, 4, 3, stride=2, padding=1), lm.nn.ReLU(),
                             MaxPool2d(2), lm.nn.Flatten(), lm.nn.Linear(4 * 4 * 3, 5))
    rows = layer_rows(model, (3, 15, 12))
    assert [r.output_shape for r in rows] == [(4, 8, 6), (4, 8, 6), (4, 4, 3), (48,), (5,)]
    assert rows[0].arithmetic == ("H: floor((15 + 2*1 - 3)/2) + 1 = 8; "
                                  "W: floor((12 + 2*1 - 3)/2) + 1 = 6")
    assert [r.parameters for r in rows] == [3 * 4 * 9 + 4, 0, 0, 0, 48 * 5 + 5]


def test_input_shape_that_does_not_fit_is_one_line(cli, mnist_run):
    run = cli("summary", mnist_run / "model.safetensors", "--input-shape", "1,4,4")
    assert run.code == 2
    assert_one_line_error(run.err, "Conv2d")
    run = cli("summary", mnist_run / "model.safetensors", "--input-shape", "one")
    assert run.code == 2
    assert_one_line_error(run.err, "--input-shape")


def test_absurd_input_shape_is_refused_before_allocating(cli, mnist_run):
    run = cli("summary", mnist_run / "model.safetensors", "--input-shape", "100000,100000,4")
    assert run.code == 2
    assert_one_line_error(run.err, "--input-shape", "40,000,000,000 numbers per sample",
                          "more than the limit")
