"""nn.Sequential as a whole model: parity with torch for outputs and all parameter gradients."""

from __future__ import annotations

import numpy as np
import pytest

from lamina import inference
from lamina.kernels import thresholds
from lamina.ops import conv as conv_ops


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sequential_matches_torch(parity, torch, dtype, seed):
    from lamina import nn

    rng = np.random.default_rng(seed)
    sizes = [int(n) for n in rng.integers(2, 10, 4)]
    ours = nn.Sequential(nn.Flatten(), nn.Linear(sizes[0] * 2, sizes[1]), nn.ReLU(),
                         nn.Linear(sizes[1], sizes[2]), nn.Tanh(), nn.Dropout(0.3),
                         nn.Linear(sizes[2], sizes[3]), nn.SiLU(), nn.LogSoftmax(dim=1)).to(dtype)
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Flatten(), tnn.Linear(sizes[0] * 2, sizes[1]), tnn.ReLU(),
                            tnn.Linear(sizes[1], sizes[2]), tnn.Tanh(), tnn.Dropout(0.3),
                            tnn.Linear(sizes[2], sizes[3]), tnn.SiLU(), tnn.LogSoftmax(dim=1))
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((int(rng.integers(1, 6)), sizes[0], 2)).astype(dtype)
    parity.module(ours, theirs, x, seed)


# ------------------------------------------------------------------ Conv2d-ReLU-MaxPool2d fusion
def conv_stack(dtype=np.float32):
    from lamina import nn

    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 3, 3), nn.ReLU(), nn.MaxPool2d(2, stride=1),
                         nn.Flatten()).to(dtype)


def layer_by_layer(model, x):
    for m in model:
        x = m(x)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_blocks_give_the_layers_values_and_gradients(backend, dtype):
    import lamina as lm

    model = conv_stack(dtype)
    x = np.random.default_rng(0).standard_normal((9, 2, 10, 10)).astype(dtype)
    grad = np.random.default_rng(1).standard_normal((9, 12)).astype(dtype)
    results = []
    for run in (model, lambda t: layer_by_layer(model, t)):
        model.zero_grad()
        xt = lm.tensor(x, requires_grad=True)
        out = run(xt)
        out.backward(grad)
        results.append([out.numpy(), xt.grad.numpy()] + [p.grad.numpy().copy()
                                                         for p in model.parameters()])
    np.testing.assert_array_equal(results[0][0], results[1][0])  # bitwise: max commutes
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for fused, layers in zip(results[0][1:], results[1][1:], strict=True):
        np.testing.assert_allclose(fused, layers, rtol=tol, atol=tol)


def test_fusion_keeps_children_names_and_parameters(backend):
    model = conv_stack()
    assert [type(m).__name__ for m in model] == ["Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU",
                                                 "MaxPool2d", "Flatten"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]


def test_only_exact_conv_relu_maxpool_runs_are_fused(backend, monkeypatch):
    """A subclass with its own forward (MaskedConv2d), another order or another activation
    runs layer by layer."""
    import lamina as lm
    from lamina import nn
    from lamina.nn.conv import LENET5_C3_TABLE, MaskedConv2d

    calls = []
    monkeypatch.setattr(inference, "conv_relu_max_pool",
                        lambda conv, pool, x: calls.append(conv) or conv(x))
    x = lm.zeros(2, 6, 12, 12)
    masked = MaskedConv2d(6, 16, 5, connection_table=LENET5_C3_TABLE)
    nn.Sequential(masked, nn.ReLU(), nn.MaxPool2d(2))(x)
    nn.Sequential(nn.Conv2d(6, 2, 3), nn.MaxPool2d(2), nn.ReLU())(x)
    nn.Sequential(nn.Conv2d(6, 2, 3), nn.Tanh(), nn.MaxPool2d(2))(x)
    nn.Sequential(nn.Conv2d(6, 2, 3), nn.ReLU())(x)
    assert calls == []
    conv = nn.Conv2d(6, 2, 3)
    nn.Sequential(nn.ReLU(), conv, nn.ReLU(), nn.MaxPool2d(2), nn.ReLU())(x)
    assert calls == [conv]


def test_fused_sequential_matches_torch(parity, torch, backend):
    from lamina import nn

    ours = nn.Sequential(nn.Conv2d(1, 3, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, stride=1))
    tn = torch.nn
    theirs = tn.Sequential(tn.Conv2d(1, 3, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2),
                           tn.Conv2d(3, 4, 3, stride=2), tn.ReLU(), tn.MaxPool2d(3, stride=1))
    x = np.random.default_rng(2).standard_normal((10, 1, 16, 16)).astype(np.float32)
    parity.module(ours, theirs, x)


def test_no_grad_forward_equals_the_recorded_forward(backend):
    """Under no_grad the known layers run their ops on arrays: the same values, including
    layers without bias, odd Flatten ranges and modules it does not know (called as usual)."""
    import lamina as lm
    from lamina import nn

    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(3, 4, 2), nn.MaxPool2d(2, stride=1), nn.ReLU(),
                          nn.Tanh(), nn.Flatten(0, 1), nn.Flatten(), nn.Linear(4, 5),
                          nn.Linear(5, 3, bias=False), nn.Dropout(0.5)).eval()
    for batch in (2, 3):  # with [fast], a batch of 2 takes the direct kernel (other rounding)
        x = lm.tensor(np.random.default_rng(3).standard_normal((batch, 2, 8, 8)).astype(
            np.float32))
        recorded = model(x)
        with lm.no_grad():
            fast = model(x)
        assert not fast.requires_grad and fast.dtype == recorded.dtype
        if backend == "numba" and batch <= thresholds.DIRECT_MAX_BATCH:
            np.testing.assert_allclose(fast.numpy(), recorded.numpy(), rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(fast.numpy(), recorded.numpy())


def test_no_grad_plan_follows_changed_children_and_parameters(backend):
    """The no-grad plan is rebuilt when a child is replaced, and reads parameters each call."""
    import lamina as lm
    from lamina import nn

    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    x = lm.tensor(np.ones((1, 3), np.float32))
    with lm.no_grad():
        first = model(x).numpy()
        model[2].weight._data[...] = 0.0
        np.testing.assert_array_equal(model(x).numpy(), np.broadcast_to(
            model[2].bias.numpy(), (1, 2)))
        model._modules["1"] = nn.Tanh()
        np.testing.assert_allclose(model(x).numpy(), model[2](model[1](model[0](x))).numpy())
    assert first.shape == (1, 2)


def test_no_grad_plan_follows_replaced_parameter_arrays(backend):
    """A run of Linear layers is one step of the plan (one compiled call with [fast]); it
    holds the parameters' arrays and is rebuilt when one's version changes: new arrays
    (p.data = ...) and in-place changes count."""
    import lamina as lm
    from lamina import nn

    lm.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4), nn.Linear(4, 3),
                          nn.ReLU()).eval()
    x = lm.tensor(np.random.default_rng(5).standard_normal((1, 6)).astype(np.float32))

    def check():
        with lm.no_grad():
            fast = model(x).numpy()
        np.testing.assert_allclose(fast, model(x).numpy(), rtol=1e-5, atol=1e-6)
        return fast

    first = check()
    assert len(inference.plan(model).steps) == 1
    model[2].weight.data = np.zeros((4, 5), np.float32)  # a new array
    second = check()
    model[3].bias._data += 1.0  # in place
    third = check()
    model[0].bias = None  # a parameter removed
    check()
    assert not np.allclose(first, second) and not np.allclose(second, third)


def test_no_grad_conv_block_follows_arrays_settings_and_inputs(backend):
    """A fused conv block of the no-grad plan is prepared once (checks, path, views of the
    parameters) and prepared again when a parameter array, a layer setting or the input's
    shape or dtype is not the one it was prepared for; in-place changes are read as they
    are. Each time it gives the recorded forward pass's value."""
    import lamina as lm
    from lamina import nn

    lm.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)).eval()
    conv, pool = model[0], model[2]
    rng = np.random.default_rng(4)

    def check(shape=(1, 2, 6, 6), dtype=np.float32):
        x = lm.tensor(rng.standard_normal(shape).astype(dtype))
        with lm.no_grad():
            fast = model(x)
        assert fast.dtype == dtype
        if backend == "numba" and shape[0] <= thresholds.DIRECT_MAX_BATCH:
            np.testing.assert_allclose(fast.numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
        else:
            np.testing.assert_array_equal(fast.numpy(), model(x).numpy())
        return fast.shape

    assert check() == (1, 3, 3, 3)
    conv.weight._data[...] = 0.5  # in place
    check()
    conv.weight.data = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)  # a new array
    check()
    conv.bias = None
    check()
    conv.padding = (0, 0)
    assert check() == (1, 3, 2, 2)
    pool.kernel_size, pool.stride = 3, 1
    assert check() == (1, 3, 2, 2)
    assert check((3, 2, 7, 7)) == (3, 3, 3, 3)
    assert check((1, 2, 7, 7), np.float64) == (1, 3, 3, 3)
    with lm.no_grad(), pytest.raises(ValueError, match="channel"):
        model(lm.tensor(np.zeros((1, 4, 7, 7), np.float32)))


def test_no_grad_conv_block_keeps_a_program_per_input_shape(backend, monkeypatch):
    """Inputs of a few shapes in turn (a last, smaller batch; requests of a few sizes) reuse
    the programs built for them, up to KEPT_PROGRAMS; a replaced parameter array drops them."""
    import lamina as lm
    from lamina import nn

    built = []

    def counting(*args):
        built.append(args[0].shape)
        return conv_ops.conv2d_relu_max_pool2d_program(*args)

    monkeypatch.setattr(inference, "conv2d_relu_max_pool2d_program", counting)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2)).eval()
    shapes = [(1, 1, 6, 6), (3, 1, 6, 6), (1, 1, 8, 8)]
    with lm.no_grad():
        for _ in range(3):
            for shape in shapes:
                x = lm.tensor(np.ones(shape, np.float32))
                np.testing.assert_allclose(model(x).numpy(), model[2](model[1](model[0](x)))
                                           .numpy(), rtol=1e-6)
        assert built == shapes
        model[0].weight.data = model[0].weight.numpy().copy()
        model(lm.tensor(np.ones(shapes[0], np.float32)))
        model(lm.tensor(np.ones(shapes[1], np.float32)))
    assert built == shapes + shapes[:2]
    assert thresholds.KEPT_PROGRAMS >= len(shapes)


def test_linear_relu_pairs_are_fused(backend, monkeypatch):
    """Linear followed by ReLU runs as nn.linear.linear_relu: same values and gradients."""
    import lamina as lm
    from lamina import nn

    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2),
                          nn.ReLU())
    x = np.random.default_rng(4).standard_normal((6, 5)).astype(np.float32)
    results = []
    for run in (model, lambda t: layer_by_layer(model, t)):
        model.zero_grad()
        xt = lm.tensor(x, requires_grad=True)
        out = run(xt)
        out.backward(np.ones(out.shape, np.float32))
        results.append([out.numpy(), xt.grad.numpy()] + [p.grad.numpy().copy()
                                                         for p in model.parameters()])
    for fused, layers in zip(*results, strict=True):
        np.testing.assert_allclose(fused, layers, rtol=1e-6, atol=1e-7)
    calls, runs = [], []
    real, real_run = inference.linear_relu, inference.linear_run
    monkeypatch.setattr(inference, "linear_relu",
                        lambda layer, t: calls.append(layer) or real(layer, t))
    monkeypatch.setattr(inference, "linear_run",
                        lambda layers, relus, t: runs.append((layers, relus))
                        or real_run(layers, relus, t))
    model(lm.tensor(x))
    # Linear, ReLU, Linear: a run of two Linear layers, one linear_chain op
    assert runs == [([model[0], model[2]], (True, False))]
    assert calls == [model[4]]


@pytest.mark.parametrize("x_grad", [False, True])
def test_linear_runs_are_one_op_with_the_layers_values_and_gradients(backend, x_grad):
    """Two Linear layers or more in a row (each with its ReLU or not) run as the one op
    linear_chain in grad mode: one graph node, and bitwise the values and gradients of the
    layers called one by one (the same functions in the same order), float32 and float64."""
    import lamina as lm
    from lamina import nn
    from lamina.ops import OPS

    for dtype in (np.float32, np.float64):
        lm.manual_seed(3)
        model = nn.Sequential(nn.Linear(20, 48), nn.ReLU(), nn.Linear(48, 40), nn.ReLU(),
                              nn.Linear(40, 16), nn.Linear(16, 5)).to(dtype)
        x = np.random.default_rng(5).standard_normal((70, 20)).astype(dtype)
        results = []
        for run in (model, lambda t, model=model: layer_by_layer(model, t)):
            model.zero_grad()
            xt = lm.tensor(x, requires_grad=x_grad)
            out = run(xt)
            (out * out).sum().backward()
            results.append([out.numpy()] + ([xt.grad.numpy()] if x_grad else [])
                           + [p.grad.numpy().copy() for p in model.parameters()])
        for fused, layers in zip(*results, strict=True):
            np.testing.assert_array_equal(fused, layers)
        out = model(lm.tensor(x))
        assert out._op is OPS["linear_chain"]
        assert out._parents[0] is None and len(out._parents) == 9


def test_a_linear_run_ends_at_a_linear_without_relu():
    """linear_chain's last layer has no ReLU (its backward does not read its output): the
    Linear + ReLU pairs after the last plain Linear run as linear_relu."""
    import lamina as lm
    from lamina import nn
    from lamina.ops import OPS

    def ops_of(model):
        out = model(lm.tensor(np.ones((3, 4), np.float32)))
        names = []
        while out is not None and out._op is not None:
            names.append(out._op.__name__)
            out = next((p for p in out._parents if p is not None and p._op is not None), None)
        return names[::-1]

    lm.manual_seed(0)
    assert ops_of(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3), nn.Linear(3, 2),
                                nn.ReLU(), nn.Linear(2, 2), nn.ReLU())) == [
        "linear_chain", "linear_relu", "linear_relu"]
    assert ops_of(nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3),
                                nn.ReLU())) == ["linear_relu", "linear_relu"]
    assert OPS["linear_chain"].__name__ == "linear_chain"
