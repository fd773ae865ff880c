"""nn.MaxPool2d, nn.AvgPool2d and LeNet-5's Subsampling: parity with torch, defaults, repr,
approximate translation invariance (notes 6.3) and errors."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.nn.pooling import AvgPool2d, MaxPool2d, Subsampling
from lamina.testing import gradcheck

POOL_ARGS = [((2,), {}), ((3,), {"stride": 1}), (((3, 2),), {"stride": (2, 1), "padding": 1}),
             ((2,), {"stride": 3})]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("args", "kwargs"), POOL_ARGS)
@pytest.mark.parametrize("name", ["MaxPool2d", "AvgPool2d"])
def test_pool_layers_match_torch(parity, torch, dtype, name, args, kwargs):
    ours = {"MaxPool2d": MaxPool2d, "AvgPool2d": AvgPool2d}[name](*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    out = parity.module(ours, theirs, np.random.default_rng(1).standard_normal(
        (2, 3, 9, 8)).astype(dtype))
    assert out.dtype == dtype


def test_stride_defaults_to_kernel_size_and_repr():
    pool = MaxPool2d(2)
    assert (pool.kernel_size, pool.stride, pool.padding) == (2, 2, 0)
    assert pool(lm.zeros(8, 6, 28, 28)).shape == (8, 6, 14, 14)
    assert repr(pool) == "MaxPool2d(kernel_size=2, stride=2, padding=0)"
    assert repr(AvgPool2d((2, 3), stride=1)) == \
        "AvgPool2d(kernel_size=(2, 3), stride=1, padding=0)"
    assert MaxPool2d(3, stride=2)(lm.zeros(1, 1, 7, 7)).shape == (1, 1, 3, 3)


def test_max_pool_is_approximately_invariant_to_small_translations(rng):
    """Notes 6.3: after shifting the input one pixel, most 4x4 window maxima keep their value
    (those whose maximum stays inside the window, about 12/20 for i.i.d. pixels) while almost
    no input pixel does."""
    image = rng.standard_normal((1, 1, 32, 33))
    before, after = image[..., :-1], image[..., 1:]
    pool = MaxPool2d(4, stride=1)
    unchanged = np.mean(pool(lm.tensor(before)).numpy() == pool(lm.tensor(after)).numpy())
    assert np.mean(before == after) < 0.01
    assert unchanged > 0.5


def test_errors_name_the_layer_and_arithmetic():
    with pytest.raises(ValueError, match=r"^MaxPool2d\(kernel_size=\(3, 3\), stride=\(3, 3\)\): "
                                         r"input of shape \(4, 16, 2, 2\) is too small: height "
                                         r"floor\(\(2 \+ 2\*0 - 3\)/3\) \+ 1 = 0$"):
        MaxPool2d(3)(lm.zeros(4, 16, 2, 2))
    with pytest.raises(ValueError, match=r"AvgPool2d.*expected a 4-D input"):
        AvgPool2d(2)(lm.zeros(16, 8, 8))
    with pytest.raises(ValueError, match="MaxPool2d: padding must be at most half of "
                                         "kernel_size"):
        MaxPool2d(2, padding=2)
    with pytest.raises(ValueError, match=r"AvgPool2d: stride must be >= 1"):
        AvgPool2d(2, stride=0)
    with pytest.raises(TypeError, match="MaxPool2d: kernel_size must be an int or a pair"):
        MaxPool2d("2")


def test_subsampling_starts_as_average_pooling_and_learns_scale_and_bias(rng):
    layer = Subsampling(3)
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.num_parameters() == 6
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    out = layer(lm.tensor(x))
    assert out.shape == (2, 3, 3, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), x.reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5)),
                               rtol=1e-6)
    layer.weight.data[:] = [1.0, 2.0, -1.0]
    layer.bias.data[:] = [0.0, 0.5, 1.0]
    expected = (x.reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5)) * layer.weight.numpy()[:, None, None]
                + layer.bias.numpy()[:, None, None])
    np.testing.assert_allclose(layer(lm.tensor(x)).numpy(), expected, rtol=1e-6)


def test_subsampling_gradients():
    layer = Subsampling(2).double()
    layer.weight.data[:] = [0.7, -1.3]
    rng = np.random.default_rng(5)
    x = lm.tensor(rng.standard_normal((2, 2, 4, 6)), requires_grad=True)
    assert gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias])


def test_subsampling_checks_channels():
    with pytest.raises(ValueError, match=r"Subsampling\(channels=6\): input has 3 channels"):
        Subsampling(6)(lm.zeros(1, 3, 4, 4))
