"""Conv1d, ConvTranspose2d, Conv2d with dilation and groups, 1-D and adaptive pooling and
Upsample / interpolate against PyTorch in float64."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina import nn


@pytest.mark.parametrize(("args", "kwargs", "length"), [
    ((2, 4, 3), {}, 10), ((2, 4, 3), {"stride": 2, "padding": 1}, 9),
    ((4, 6, 3), {"dilation": 2, "groups": 2}, 12), ((3, 3, 5), {"groups": 3, "bias": False}, 8),
])
def test_conv1d_matches_torch(layer_parity, torch, rng, args, kwargs, length):
    ours, theirs = nn.Conv1d(*args, **kwargs), torch.nn.Conv1d(*args, **kwargs)
    layer_parity(ours, theirs, rng.standard_normal((2, args[0], length)))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(("args", "kwargs"), [
    ((3, 4, 3), {"dilation": 2}), ((4, 6, 3), {"groups": 2, "padding": 1}),
    ((4, 4, 3), {"groups": 4, "padding": 1, "stride": 2}),  # depthwise
    ((4, 8, (3, 2)), {"groups": 4, "dilation": (2, 1), "bias": False}),
])
def test_conv2d_dilation_and_groups_match_torch(layer_parity, torch, rng, args, kwargs):
    ours, theirs = nn.Conv2d(*args, **kwargs), torch.nn.Conv2d(*args, **kwargs)
    layer_parity(ours, theirs, rng.standard_normal((2, args[0], 9, 8)))
    assert repr(ours) == repr(theirs)


def test_grouped_conv_in_sequential_skips_the_fused_paths(layer_parity, torch, rng):
    ours = nn.Sequential(nn.Conv2d(2, 4, 3, groups=2, dilation=2), nn.ReLU(), nn.MaxPool2d(2))
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, groups=2, dilation=2),
                                 torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    x = rng.standard_normal((2, 2, 10, 10))
    layer_parity(ours, theirs, x)
    with lm.no_grad():
        np.testing.assert_allclose(ours(lm.tensor(x)).numpy(),
                                   theirs(torch.from_numpy(x)).detach().numpy(), atol=1e-10)


@pytest.mark.parametrize(("args", "kwargs"), [
    ((3, 2, 3), {}), ((3, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ((2, 3, (3, 2)), {"stride": (2, 3), "padding": (0, 1)}),
    ((4, 2, 3), {"groups": 2, "stride": 2, "bias": False}),
    ((2, 2, 3), {"dilation": 2, "padding": 2}),
])
def test_conv_transpose2d_matches_torch(layer_parity, torch, rng, args, kwargs):
    ours = nn.ConvTranspose2d(*args, **kwargs)
    theirs = torch.nn.ConvTranspose2d(*args, **kwargs)
    layer_parity(ours, theirs, rng.standard_normal((2, args[0], 5, 4)))
    assert repr(ours) == repr(theirs)


def test_conv_transpose2d_errors():
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(2, 2, 3, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="divisible"):
        nn.Conv2d(3, 4, 3, groups=2)


@pytest.mark.parametrize("size", [1, 3, (2, 5), (None, 2), 4])
@pytest.mark.parametrize("kind", ["AdaptiveAvgPool2d", "AdaptiveMaxPool2d"])
def test_adaptive_pools_match_torch(layer_parity, torch, rng, kind, size):
    x = rng.standard_normal((2, 3, 7, 5))
    layer_parity(getattr(nn, kind)(size), getattr(torch.nn, kind)(size), x)
    layer_parity(getattr(nn, kind)(size), getattr(torch.nn, kind)(size), x[0])  # (C, H, W)


@pytest.mark.parametrize(("args", "kwargs"), [((2,), {}), ((3,), {"stride": 1, "padding": 1}),
                                              ((4,), {"stride": 2, "padding": 2})])
@pytest.mark.parametrize("kind", ["MaxPool1d", "AvgPool1d"])
def test_pool1d_matches_torch(layer_parity, torch, rng, kind, args, kwargs):
    x = rng.standard_normal((2, 3, 11))
    layer_parity(getattr(nn, kind)(*args, **kwargs), getattr(torch.nn, kind)(*args, **kwargs), x)
    layer_parity(getattr(nn, kind)(*args, **kwargs), getattr(torch.nn, kind)(*args, **kwargs),
                 x[0])


@pytest.mark.parametrize(("kwargs", "shape"), [
    ({"scale_factor": 2}, (2, 3, 4, 5)),
    ({"size": (7, 3)}, (2, 3, 4, 5)),
    ({"scale_factor": 2, "mode": "bilinear"}, (2, 3, 4, 5)),
    ({"size": (7, 9), "mode": "bilinear"}, (1, 2, 4, 5)),
    ({"size": (7, 9), "mode": "bilinear", "align_corners": True}, (1, 2, 4, 5)),
    ({"scale_factor": 1.5, "mode": "bilinear", "align_corners": False}, (1, 2, 4, 6)),
    ({"size": (3, 2), "mode": "bilinear"}, (1, 2, 6, 5)),  # downsampling
    ({"scale_factor": 3}, (2, 3, 5)),
    ({"size": 8, "mode": "linear", "align_corners": True}, (2, 3, 5)),
])
def test_upsample_matches_torch(layer_parity, torch, rng, kwargs, shape):
    layer_parity(nn.Upsample(**kwargs), torch.nn.Upsample(**kwargs), rng.standard_normal(shape))
    ours = lm.nn.functional.interpolate(lm.tensor(np.ones(shape)), **kwargs)
    assert ours.shape == torch.nn.functional.interpolate(torch.ones(shape), **kwargs).shape


def test_interpolate_errors():
    with pytest.raises(ValueError, match="exactly one"):
        lm.nn.functional.interpolate(lm.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="align_corners"):
        lm.nn.functional.interpolate(lm.zeros(1, 1, 2, 2), scale_factor=2, align_corners=True)


def _leaf(rng, *shape):
    return lm.tensor(rng.standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("case", ["conv2d_general", "conv_transpose2d", "conv1d", "adaptive_avg",
                                  "adaptive_max", "bilinear", "nearest"])
def test_composite_functions_pass_gradcheck(rng, case):
    """These are built from gradchecked ops; the composition is checked too."""
    from lamina import functional_more as FM
    from lamina.testing import gradcheck

    x4 = _leaf(rng, 1, 2, 5, 4)
    fns = {
        "conv2d_general": (lambda x, w, b: FM.conv2d_general(x, w, b, 1, 1, 2, 2),
                           [x4, _leaf(rng, 4, 1, 2, 2), _leaf(rng, 4)]),
        "conv_transpose2d": (lambda x, w, b: FM.conv_transpose2d(x, w, b, 2, 1, 1),
                             [x4, _leaf(rng, 2, 3, 3, 3), _leaf(rng, 3)]),
        "conv1d": (lambda x, w: FM.conv1d(x, w, None, 2, 1, 1, 1),
                   [_leaf(rng, 2, 2, 7), _leaf(rng, 3, 2, 3)]),
        "adaptive_avg": (lambda x: FM.adaptive_avg_pool2d(x, (3, 3)), [x4]),
        "adaptive_max": (lambda x: FM.adaptive_max_pool2d(x, (2, 3)), [x4]),
        "bilinear": (lambda x: FM.interpolate(x, size=(7, 6), mode="bilinear"), [x4]),
        "nearest": (lambda x: FM.interpolate(x, scale_factor=2), [x4]),
    }
    fn, inputs = fns[case]
    assert gradcheck(fn, inputs)
