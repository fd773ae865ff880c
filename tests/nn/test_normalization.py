"""BatchNorm1d/2d, LayerNorm, GroupNorm and Dropout1d/2d against PyTorch in float64: outputs,
input/parameter gradients and running statistics, in train and eval mode."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import lamina as lm
from lamina import nn


@pytest.mark.parametrize("kwargs", [
    {}, {"momentum": 0.3}, {"momentum": None}, {"affine": False}, {"eps": 1e-3},
    {"track_running_stats": False}, {"affine": False, "track_running_stats": False},
])
@pytest.mark.parametrize(("cls", "shape"), [("BatchNorm1d", (6, 3)), ("BatchNorm1d", (4, 3, 5)),
                                            ("BatchNorm2d", (3, 3, 4, 5))])
def test_batchnorm_matches_torch_over_steps_then_eval(layer_parity, torch, rng, cls, shape,
                                                      kwargs):
    ours, theirs = getattr(nn, cls)(3, **kwargs), getattr(torch.nn, cls)(3, **kwargs)
    if kwargs.get("affine", True):
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-0.5, 0.5)
    x = rng.standard_normal(shape) * 2 + 1
    layer_parity(ours, theirs, x, train=True, steps=5)  # running stats after 5 steps
    if kwargs.get("track_running_stats", True):
        assert int(ours.num_batches_tracked.item()) == 5
    ours.eval()
    theirs.eval()
    out_l = ours(lm.tensor(x))
    out_t = theirs(torch.from_numpy(x))
    layer_parity.close(out_l, out_t, "eval output")


def test_batchnorm_eval_gradients_match_torch(layer_parity, torch, rng):
    theirs = torch.nn.BatchNorm2d(2)
    with torch.no_grad():
        theirs.running_mean.uniform_(-1, 1)
        theirs.running_var.uniform_(0.5, 2)
        theirs.weight.uniform_(0.5, 1.5)
    layer_parity(nn.BatchNorm2d(2), theirs, rng.standard_normal((3, 2, 4, 4)), train=False)


def test_batchnorm_state_dict_buffers_and_errors():
    bn = nn.BatchNorm2d(4)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert bn.num_batches_tracked.dtype == np.int64
    assert repr(bn) == ("BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, "
                        "track_running_stats=True)")
    with pytest.raises(ValueError, match="expected 4D input"):
        bn(lm.zeros(2, 4, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(4)(lm.zeros(1, 4))
    with pytest.raises(ValueError, match="channels"):
        nn.BatchNorm1d(4)(lm.zeros(3, 5))
    assert nn.BatchNorm1d(3, affine=False).weight is None
    assert list(nn.BatchNorm1d(3, track_running_stats=False).state_dict()) == ["weight", "bias"]


def test_batchnorm_float32_stays_float32_and_double_keeps_counter():
    bn = nn.BatchNorm2d(2)
    out = bn(lm.randn(4, 2, 3, 3))
    assert out.dtype == np.float32 and bn.running_mean.dtype == np.float32
    bn.double()
    assert bn.running_var.dtype == np.float64 and bn.num_batches_tracked.dtype == np.int64


@pytest.mark.parametrize(("shape", "normalized", "kwargs"), [
    ((4, 5), 5, {}), ((2, 3, 4), (3, 4), {}), ((2, 3, 4), [4], {"eps": 1e-3}),
    ((3, 6), 6, {"elementwise_affine": False}), ((3, 6), 6, {"bias": False}),
])
def test_layernorm_matches_torch(layer_parity, torch, rng, shape, normalized, kwargs):
    theirs = torch.nn.LayerNorm(normalized, **kwargs)
    if theirs.weight is not None:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            if theirs.bias is not None:
                theirs.bias.uniform_(-1, 1)
    layer_parity(nn.LayerNorm(normalized, **kwargs), theirs, rng.standard_normal(shape))


@pytest.mark.parametrize(("groups", "channels", "shape", "affine"), [
    (2, 4, (3, 4, 5), True), (1, 3, (2, 3, 4, 4), True), (3, 3, (2, 3, 2, 2), False),
    (2, 6, (2, 6), True),
])
def test_groupnorm_matches_torch(layer_parity, torch, rng, groups, channels, shape, affine):
    theirs = torch.nn.GroupNorm(groups, channels, affine=affine)
    if affine:
        with torch.no_grad():
            theirs.weight.uniform_(0.5, 1.5)
            theirs.bias.uniform_(-1, 1)
    layer_parity(nn.GroupNorm(groups, channels, affine=affine), theirs,
                 rng.standard_normal(shape))


def test_groupnorm_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


@pytest.mark.parametrize("shape", [(8, 16, 3, 3), (8, 16, 5)])
def test_dropout2d_zeros_whole_channels_and_scales(shape):
    layer = nn.Dropout2d(0.5)
    x = lm.ones(*shape, dtype=lm.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = layer(x).numpy()
    per_channel = out.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(axis=2) | (per_channel == 2.0).all(axis=2))
    assert 0.3 < (per_channel[..., 0] == 0).mean() < 0.7
    assert layer.eval()(x) is x


def test_dropout2d_on_2d_input_is_elementwise_with_a_warning_like_torch(torch):
    x = np.ones((64, 32))
    with pytest.warns(UserWarning, match="2-D input"):
        out = nn.Dropout2d(0.5)(lm.tensor(x)).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert out.std(axis=1).min() > 0  # not whole rows: element-wise
    with pytest.warns(UserWarning):
        torch.nn.Dropout2d(0.5)(torch.from_numpy(x))


def test_dropout2d_gradient_uses_the_same_mask():
    x = lm.tensor(np.ones((4, 6, 2, 2)), requires_grad=True)
    out = nn.Dropout2d(0.25)(x)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), out.numpy())


def test_dropout1d_and_errors():
    out = nn.Dropout1d(0.5)(lm.ones(4, 8, 6)).numpy()
    assert np.all((out == 0).all(axis=2) | (out == 2).all(axis=2))
    with pytest.raises(ValueError):
        nn.Dropout2d(1.5)


@pytest.mark.parametrize("kwargs", [
    {}, {"momentum": None}, {"affine": False}, {"track_running_stats": False},
])
def test_batchnorm_after_a_convolution_matches_torch_on_both_paths(layer_parity, torch, rng,
                                                                   backend, kwargs):
    """A convolution's output reaches BatchNorm2d in its channel-major layout (the op works
    on it as it is, :func:`lamina.ops.norm._channel_view`): train steps, then eval."""
    ours = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3, **kwargs), nn.ReLU())
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1),
                                 torch.nn.BatchNorm2d(3, **kwargs), torch.nn.ReLU())
    x = rng.standard_normal((8, 2, 5, 5))
    layer_parity(ours, theirs, x, train=True, steps=3)
    layer_parity.close(ours.eval()(lm.tensor(x)), theirs.eval()(torch.from_numpy(x)),
                       "eval output")
