"""BatchNorm2d -> ReLU -> MaxPool2d in an nn.Sequential runs as the fused op
batch_norm_relu_max_pool2d in training mode, and Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d on
an input without gradient as conv2d_batch_norm_relu_max_pool2d (lamina.inference.PATTERNS):
the BatchNorm CNN of bench/layers.py against PyTorch in float64, on both kernel paths, in
training and evaluation mode, and the cases that fall back to the separate layers."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


def _cnn(nn, pool=2):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.MaxPool2d(pool), nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(6 * 3 * 3, 5))


def _pair(torch, pool=2):
    lm.manual_seed(0)
    model = _cnn(lm.nn, pool).to(lm.float64)
    reference = _cnn(torch.nn, pool).double()
    with torch.no_grad():
        for p, q in zip(model.parameters(), reference.parameters(), strict=True):
            q.copy_(torch.from_numpy(p.numpy()))
    return model, reference


@pytest.mark.parametrize(("pool", "winograd"), [(2, False), (3, False), (2, True)])
def test_bn_cnn_trains_as_torch(backend, torch, monkeypatch, pool, winograd):
    if winograd:  # the second block by Winograd: conv2d_batch_norm_relu_max_pool2d's path
        from lamina.kernels import thresholds

        monkeypatch.setattr(thresholds, "WINOGRAD_MIN_CHANNELS", 0)
        monkeypatch.setattr(thresholds, "WINOGRAD_MIN_OUTPUTS", 0)
    model, reference = _pair(torch, pool)
    size = 12 if pool == 2 else 18
    rng = np.random.default_rng(0)
    opt = lm.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    for _ in range(3):
        x, y = rng.standard_normal((5, 1, size, size)), rng.integers(0, 5, 5)
        out = model(lm.tensor(x))
        assert (out.grad_fn is not None)
        loss = lm.nn.functional.cross_entropy(out, lm.tensor(y))
        ref_loss = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x)),
                                                     torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        ref_opt.zero_grad()
        ref_loss.backward()
        assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
        for p, q in zip(model.parameters(), reference.parameters(), strict=True):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)
        opt.step()
        ref_opt.step()
    for (name, a), b in zip(model.state_dict().items(), reference.state_dict().values(),
                            strict=True):
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=name)
    model.eval()
    reference.eval()
    x = rng.standard_normal((3, 1, size, size))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(lm.tensor(x)).numpy(), expected, rtol=1e-10, atol=1e-12)
    with lm.no_grad():
        np.testing.assert_allclose(model(lm.tensor(x)).numpy(), expected, rtol=1e-10,
                                   atol=1e-12)


FUSED = "BatchNormReluMaxPool2dBackward0"


def test_the_block_runs_as_one_op_with_the_compiled_kernels_in_training_mode(backend):
    block = lm.nn.Sequential(lm.nn.BatchNorm2d(3), lm.nn.ReLU(), lm.nn.MaxPool2d(2))
    batch_last = lm.randn(3, 6, 6, 4).permute(3, 0, 1, 2).requires_grad_()
    assert (block(batch_last).grad_fn.name() == FUSED) == (backend == "numba")
    # the op's NumPy path is a slow reference: an input its kernels do not take (here
    # C-contiguous (N, C, H, W)), the NumPy path and evaluation mode call the three layers
    assert block(lm.randn(4, 3, 6, 6, requires_grad=True)).grad_fn.name() != FUSED
    assert block.eval()(batch_last).grad_fn.name() != FUSED
    padded = lm.nn.Sequential(lm.nn.BatchNorm2d(3), lm.nn.ReLU(), lm.nn.MaxPool2d(2, padding=1))
    assert padded(batch_last).grad_fn.name() != FUSED


def test_the_block_counts_batches_and_honours_momentum_none():
    lm.manual_seed(1)
    norm = lm.nn.BatchNorm2d(2, momentum=None)
    block = lm.nn.Sequential(norm, lm.nn.ReLU(), lm.nn.MaxPool2d(2))
    x1, x2 = lm.randn(3, 2, 4, 4), lm.randn(3, 2, 4, 4) * 2 + 1
    block(x1.permute(1, 2, 3, 0).contiguous().permute(3, 0, 1, 2))  # batch-last: fused
    block(x2)
    assert int(norm.num_batches_tracked.item()) == 2
    both = np.stack([x1.numpy(), x2.numpy()])
    np.testing.assert_allclose(norm.running_mean.numpy(), both.mean(axis=(1, 3, 4)).mean(0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="BatchNorm2d"):
        block(lm.randn(3, 5, 4, 4))


@pytest.mark.parametrize("options", [{"affine": False}, {"track_running_stats": False},
                                     {"momentum": None, "eps": 1e-3}])
def test_the_block_with_batch_norm_options_matches_torch(backend, torch, options):
    lm.manual_seed(2)
    block = lm.nn.Sequential(lm.nn.BatchNorm2d(3, dtype=lm.float64, **options), lm.nn.ReLU(),
                             lm.nn.MaxPool2d(2))
    reference = torch.nn.Sequential(torch.nn.BatchNorm2d(3, dtype=torch.float64, **options),
                                    torch.nn.ReLU(), torch.nn.MaxPool2d(2))
    rng = np.random.default_rng(3)
    for _ in range(2):
        stored = rng.standard_normal((3, 7, 5, 4)) * 2 + 0.5
        leaf = lm.tensor(stored, requires_grad=True)
        x = stored.transpose(3, 0, 1, 2)  # (N, C, H, W) = (4, 3, 7, 5), batch-last in memory
        out = block(leaf.permute(3, 0, 1, 2))  # as a convolution leaves it
        assert (out.grad_fn.name() == FUSED) == (backend == "numba")
        tx = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
        ref = reference(tx)
        g = rng.standard_normal(out.shape)
        out.backward(lm.tensor(g))
        ref.backward(torch.from_numpy(g))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(leaf.grad.numpy().transpose(3, 0, 1, 2), tx.grad.numpy(),
                                   rtol=1e-9, atol=1e-12)
        for p, q in zip(block.parameters(), reference.parameters(), strict=True):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12)
    for a, b in zip(block.state_dict().values(), reference.state_dict().values(), strict=True):
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-10, atol=1e-12)


CONV_FUSED = "Conv2dBatchNormReluMaxPool2dBackward0"


def test_the_first_conv_block_runs_as_one_op_on_data_without_gradient(backend):
    lm.manual_seed(3)
    block = lm.nn.Sequential(lm.nn.Conv2d(1, 4, 3, padding=1), lm.nn.BatchNorm2d(4),
                             lm.nn.ReLU(), lm.nn.MaxPool2d(2))
    x = lm.randn(3, 1, 6, 6)
    assert (block(x).grad_fn.name() == CONV_FUSED) == (backend == "numba")
    # an input that needs a gradient (not a first layer), evaluation mode, a strided or
    # dilated convolution, another pool: the layers (with the BN block's op where it applies)
    assert block(x.requires_grad_()).grad_fn.name() != CONV_FUSED
    assert block.eval()(lm.randn(3, 1, 6, 6)).grad_fn.name() != CONV_FUSED
    for conv, pool in ((lm.nn.Conv2d(1, 4, 3, stride=2, padding=1), lm.nn.MaxPool2d(2)),
                       (lm.nn.Conv2d(1, 4, 3, padding=2, dilation=2), lm.nn.MaxPool2d(2)),
                       (lm.nn.Conv2d(1, 4, 3, padding=1), lm.nn.MaxPool2d(3))):
        other = lm.nn.Sequential(conv, lm.nn.BatchNorm2d(4), lm.nn.ReLU(), pool)
        assert other(lm.randn(3, 1, 6, 6)).grad_fn.name() != CONV_FUSED


@pytest.mark.parametrize("options", [{}, {"bias": False}, {"affine": False},
                                     {"momentum": None}])
def test_the_first_conv_block_matches_torch(backend, torch, options):
    """The block on MNIST-like data (many equal values: ties inside the pool windows) against
    torch in float64, three training steps, then evaluation."""
    conv_options = {"bias": options.get("bias", True)}
    norm_options = {k: v for k, v in options.items() if k != "bias"}
    lm.manual_seed(4)
    block = lm.nn.Sequential(lm.nn.Conv2d(1, 3, 3, padding=1, **conv_options),
                             lm.nn.BatchNorm2d(3, **norm_options), lm.nn.ReLU(),
                             lm.nn.MaxPool2d(2)).to(lm.float64)
    reference = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3, padding=1, **conv_options),
                                    torch.nn.BatchNorm2d(3, **norm_options), torch.nn.ReLU(),
                                    torch.nn.MaxPool2d(2)).double()
    with torch.no_grad():
        for p, q in zip(block.parameters(), reference.parameters(), strict=True):
            q.copy_(torch.from_numpy(p.numpy()))
    rng = np.random.default_rng(5)
    for _ in range(3):
        x = np.where(rng.random((4, 1, 10, 8)) < 0.6, 0.0, rng.uniform(0, 1, (4, 1, 10, 8)))
        out = block(lm.tensor(x))
        assert (out.grad_fn.name() == CONV_FUSED) == (backend == "numba")
        ref = reference(torch.from_numpy(x))
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = rng.standard_normal(out.shape)
        out.backward(lm.tensor(g))
        ref.backward(torch.from_numpy(g))
        for p, q in zip(block.parameters(), reference.parameters(), strict=True):
            # the conv bias's gradient is 0 up to rounding (batch norm removes any shift)
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-11)
            p.grad = None
        reference.zero_grad()
    for a, b in zip(block.state_dict().values(), reference.state_dict().values(), strict=True):
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-10, atol=1e-12)
    block.eval()
    reference.eval()
    x = rng.standard_normal((2, 1, 10, 8))
    with torch.no_grad():
        expected = reference(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(block(lm.tensor(x)).numpy(), expected, rtol=1e-10, atol=1e-12)
