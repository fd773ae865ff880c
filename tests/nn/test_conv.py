"""nn.Conv2d and nn.MaskedConv2d: parity with torch, the properties of notes 6.2 (sparse
interaction, parameter sharing, translation equivariance), init, repr and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lamina as lm
from lamina import nn
from lamina.nn.conv import LENET5_C3_TABLE, Conv2d, MaskedConv2d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("args", "kwargs", "size"), [
    ((3, 4, 3), {}, (9, 7)),
    ((2, 5, (3, 2)), {"stride": 2, "padding": 1}, (8, 9)),
    ((1, 6, 5), {"padding": 2}, (12, 12)),
    ((3, 2, (1, 3)), {"stride": (2, 1), "padding": (0, 1), "bias": False}, (6, 5)),
])
def test_conv2d_layer_matches_torch(parity, torch, dtype, args, kwargs, size):
    ours = Conv2d(*args, **kwargs).to(dtype)
    theirs = torch.nn.Conv2d(*args, **kwargs)
    x = np.random.default_rng(0).standard_normal((3, args[0], *size)).astype(dtype)
    out = parity.module(ours, theirs, x)
    assert out.dtype == dtype
    assert repr(ours) == repr(theirs)


def test_weight_layout_attributes_and_default_init():
    layer = Conv2d(3, 8, (5, 3), stride=2, padding=(1, 0))
    assert layer.weight.shape == (8, 3, 5, 3) and layer.bias.shape == (8,)
    assert layer.weight.dtype == np.float32 and layer.weight.requires_grad
    assert (layer.in_channels, layer.out_channels) == (3, 8)
    assert (layer.kernel_size, layer.stride, layer.padding) == ((5, 3), (2, 2), (1, 0))
    bound = 1 / math.sqrt(3 * 5 * 3)  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for p in (layer.weight, layer.bias):
        assert np.abs(p.numpy()).max() <= bound
        assert np.abs(p.numpy()).max() > 0.8 * bound
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert Conv2d(3, 8, 3, bias=False).bias is None


def test_parameter_sharing_and_sparse_interaction_versus_linear():
    """Notes 6.2.1-6.2.2: 1x28x28 -> 6x28x28 costs 6*(1*5*5) + 6 = 156 parameters as a
    convolution and 784*4704 + 4704 fully connected."""
    conv = Conv2d(1, 6, 5, padding=2)
    assert conv(lm.zeros(1, 1, 28, 28)).shape == (1, 6, 28, 28)
    assert conv.num_parameters() == 156
    assert nn.Linear(28 * 28, 6 * 28 * 28).num_parameters() == 784 * 4704 + 4704
    # sparse interaction: one output depends on a 5x5 patch only
    x = lm.zeros(1, 1, 28, 28, requires_grad=True)
    conv(x)[0, 0, 10, 20].backward()
    touched = np.argwhere(x.grad.numpy()[0, 0] != 0)
    assert touched.min(axis=0).tolist() == [8, 18] and touched.max(axis=0).tolist() == [12, 22]


@pytest.mark.parametrize(("dy", "dx"), [(0, 1), (2, 0), (3, -2)])
def test_convolution_is_equivariant_to_translation(rng, dy, dx):
    """Notes 6.2.3: shifting the input shifts the output the same way (away from borders)."""
    conv = Conv2d(2, 3, 3, padding=1).double()
    x = rng.standard_normal((1, 2, 16, 16))
    shifted = np.roll(x, (dy, dx), axis=(2, 3))
    out = conv(lm.tensor(x)).numpy()
    out_shifted = conv(lm.tensor(shifted)).numpy()
    inner = (slice(None), slice(None), slice(5, 11), slice(5, 11))
    np.testing.assert_allclose(np.roll(out, (dy, dx), axis=(2, 3))[inner], out_shifted[inner],
                               rtol=1e-12, atol=1e-12)


def test_double_and_float_convert_parameters():
    layer = Conv2d(1, 2, 3).double()
    assert layer.weight.dtype == np.float64
    out = layer(lm.tensor(np.ones((1, 1, 4, 4))))
    assert out.dtype == np.float64
    assert layer.float()(lm.ones(1, 1, 4, 4)).dtype == np.float32


def test_too_small_input_names_layer_shape_and_arithmetic():
    layer = Conv2d(1, 6, 7)
    with pytest.raises(ValueError, match=r"^Conv2d\(1, 6, kernel_size=\(7, 7\)\): input of shape "
                                         r"\(8, 1, 5, 5\) is too small: height "
                                         r"floor\(\(5 \+ 2\*0 - 7\)/1\) \+ 1 = -1$"):
        layer(lm.zeros(8, 1, 5, 5))
    with pytest.raises(ValueError, match=r"Conv2d\(1, 6, kernel_size=\(7, 7\), stride=\(2, 2\), "
                                         r"padding=\(1, 1\)\): .* width "
                                         r"floor\(\(4 \+ 2\*1 - 7\)/2\) \+ 1 = 0"):
        Conv2d(1, 6, 7, stride=2, padding=1)(lm.zeros(8, 1, 20, 4))


def test_wrong_channels_and_wrong_ndim():
    layer = Conv2d(3, 6, 5)
    with pytest.raises(ValueError, match=r"^Conv2d\(in_channels=3\): input has 1 channel "
                                         r"\(shape \(8, 1, 28, 28\)\)$"):
        layer(lm.zeros(8, 1, 28, 28))
    for shape in [(3, 28, 28), (28, 28), (1, 1, 3, 28, 28)]:
        with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\)"):
            layer(lm.zeros(*shape))


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="Conv2d: in_channels must be positive, got 0"):
        Conv2d(0, 3, 3)
    with pytest.raises(ValueError, match=r"Conv2d: stride must be >= 1 .* got \(0, 1\)"):
        Conv2d(1, 3, 3, stride=(0, 1))
    with pytest.raises(ValueError, match="padding must be >= 0"):
        Conv2d(1, 3, 3, padding=-1)
    with pytest.raises(TypeError, match="Conv2d: kernel_size must be an int or a pair of ints, "
                                        r"got \(3, 3, 3\)"):
        Conv2d(1, 3, (3, 3, 3))
    with pytest.raises(TypeError, match="kernel_size must be an int or a pair"):
        Conv2d(1, 3, 2.5)


# ------------------------------------------------------------------ MaskedConv2d (LeNet-5 C3)
def test_lenet5_c3_table_matches_the_paper():
    """LeCun et al. 1998 Table I: 6 maps of 3 contiguous inputs, 6 of 4 contiguous, 3 of 4
    non-contiguous, 1 of all 6: 60 connections, 60 * 25 + 16 = 1,516 trainable parameters."""
    sizes = [len(row) for row in LENET5_C3_TABLE]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert len({tuple(row) for row in LENET5_C3_TABLE}) == 16
    c3 = MaskedConv2d(6, 16, 5, connection_table=LENET5_C3_TABLE)
    assert c3.num_connections() == 1516
    # every S2 map feeds exactly 10 C3 maps (Table I has 10 X per row)
    assert [sum(c in row for row in LENET5_C3_TABLE) for c in range(6)] == [10] * 6


def test_masked_weights_are_zero_and_get_zero_gradient(rng):
    table = [[0], [1, 2], [0, 2]]
    layer = MaskedConv2d(3, 3, 3, connection_table=table)
    mask = np.zeros((3, 3), bool)
    for o, row in enumerate(table):
        mask[o, row] = True
    assert np.all(layer.weight.numpy()[~mask] == 0)
    assert np.all(layer.weight.numpy()[mask] != 0)
    layer(lm.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32))).sum().backward()
    grad = layer.weight.grad.numpy()
    assert np.all(grad[~mask] == 0) and np.all(np.abs(grad[mask]).sum(axis=(1, 2)) > 0)
    # output map 0 ignores input channels 1 and 2
    x = lm.tensor(rng.standard_normal((1, 3, 6, 6)).astype(np.float32))
    x2 = lm.tensor(x.numpy() + np.array([0, 1, 1], np.float32)[None, :, None, None])
    np.testing.assert_array_equal(layer(x).numpy()[:, 0], layer(x2).numpy()[:, 0])
    assert layer.connection_table == [[0], [1, 2], [0, 2]]
    assert layer.double()(lm.tensor(x.numpy().astype(np.float64))).dtype == np.float64


def test_masked_conv_rejects_bad_tables():
    with pytest.raises(ValueError, match="one row per output channel"):
        MaskedConv2d(3, 2, 3, connection_table=[[0]])
    with pytest.raises(ValueError, match=r"connection_table\[1\] = \[0, 5\] names a channel"):
        MaskedConv2d(3, 2, 3, connection_table=[[0], [0, 5]])
