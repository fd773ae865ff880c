"""Normalisation layers: BatchNorm1d/2d (running statistics), LayerNorm and GroupNorm, with
PyTorch's arguments, defaults and state_dict names."""

from __future__ import annotations

import numpy as np

from lamina import functional_more as FM
from lamina.nn.module import Module, Parameter
from lamina.ops import OPS
from lamina.ops.norm import bn_relu_pool_compiled, conv_bn_relu_pool_compiled
from lamina.tensor import Tensor, apply


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d (Ioffe and Szegedy 2015).

    Training: y = gamma (x - mu_B) / sqrt(var_B + eps) + beta with the batch's statistics per
    channel, and (``track_running_stats``) running_mean/var <- (1 - m) r + m s with the
    unbiased batch variance, m = ``momentum`` or, for ``momentum=None``, 1 / num_batches_tracked
    (a cumulative average). Evaluation uses the running statistics (the batch's when they are
    not tracked).

    Args:
        num_features: C, the channel count.
        eps: added to the variance.
        momentum: weight of the newest batch in the running statistics, or None.
        affine: learn gamma (``weight``, ones) and beta (``bias``, zeros).
        track_running_stats: keep ``running_mean`` (zeros), ``running_var`` (ones) and
            ``num_batches_tracked`` (int64) buffers.
        dtype: parameter and buffer dtype (float32 by default).
    """

    _expected_dims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=None):
        super().__init__()
        if num_features <= 0:
            raise ValueError(f"{type(self).__name__}: num_features must be positive, got "
                             f"{num_features}")
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        dtype = np.dtype(dtype or np.float32)
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype))
            self.bias = Parameter(np.zeros(num_features, dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, no batches tracked."""
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def _check_input(self, x) -> None:
        name = type(self).__name__
        if x.ndim not in self._expected_dims:
            dims = " or ".join(f"{d}D" for d in self._expected_dims)
            raise ValueError(f"{name}: expected {dims} input, got {x.ndim}D input (shape "
                             f"{tuple(x.shape)})")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): input has {x.shape[1]} channels "
                             f"(shape {tuple(x.shape)})")

    def forward(self, x):
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.weight.dtype if self.affine else None)
        self._check_input(x)
        running, use_batch, factor = self._step_statistics()
        return FM.batch_norm(x, self.running_mean if running else None,
                             self.running_var if running else None, self.weight, self.bias,
                             use_batch, factor, self.eps)

    def _step_statistics(self) -> tuple[bool, bool, float]:
        """The bookkeeping of one forward call: counts the batch, bumps the buffers'
        versions; returns (use the running buffers, use the batch statistics, momentum)."""
        factor = 0.0 if self.momentum is None else self.momentum
        tracking = self.training and self.track_running_stats
        if tracking:
            self.num_batches_tracked._data += 1
            self.num_batches_tracked._bump_version()
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked._data)
        use_batch = self.training or self.running_mean is None
        running = not self.training or self.track_running_stats
        if tracking:
            self.running_mean._bump_version()
            self.running_var._bump_version()
        return running, use_batch, factor

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) per channel (see :class:`_BatchNorm`).

    Example:
        >>> import lamina as lm
        >>> BatchNorm1d(3)(lm.randn(4, 3)).shape
        (4, 3)
    """

    _expected_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) per channel (see :class:`_BatchNorm`).

    Example:
        >>> import lamina as lm
        >>> BatchNorm2d(3)(lm.randn(2, 3, 4, 4)).shape
        (2, 3, 4, 4)
    """

    _expected_dims = (4,)

    def relu_max_pool(self, relu: Module, pool: Module, x):
        """``pool(relu(self(x)))`` for the ReLU ``relu`` and the MaxPool2d ``pool`` that follow
        this layer in a Sequential (the pattern BatchNorm2d -> ReLU -> MaxPool2d of
        :data:`lamina.inference.PATTERNS`): in training mode, with 2 x 2 windows of stride 2
        and no padding, where the op's compiled kernels take x (a convolution's batch-last
        output, ``[fast]``), the one op :func:`lamina.ops.norm.batch_norm_relu_max_pool2d`;
        otherwise (evaluation mode, other pool settings, the NumPy path) the three layers
        called in turn.
        Same values, gradients and running statistics either way."""
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.weight.dtype if self.affine else None)
        if not (self.training and x.ndim == 4 and x.shape[2] >= 2 and x.shape[3] >= 2
                and _pool_2x2(pool) and bn_relu_pool_compiled(
                    x._data, *(None if p is None else p._data for p in (self.weight, self.bias)))):
            return pool(relu(self(x)))
        self._check_input(x)
        running, _, factor = self._step_statistics()
        buffers = (self.running_mean, self.running_var) if running else (None, None)
        arrays = [None if t is None else t._data for t in buffers]
        return apply(OPS["batch_norm_relu_max_pool2d"], x, self.weight, self.bias,
                     running_mean=arrays[0], running_var=arrays[1], momentum=factor,
                     eps=self.eps)


    def conv_relu_max_pool(self, conv: Module, relu: Module, pool: Module, x):
        """``pool(relu(self(conv(x))))`` for the Conv2d ``conv`` before this layer and the
        ReLU and MaxPool2d after it in a Sequential (the pattern Conv2d -> BatchNorm2d ->
        ReLU -> MaxPool2d of :data:`lamina.inference.PATTERNS`): in training mode, for a
        plain convolution of stride 1 (by Winograd's F(4x4, 3x3), or with few weights on an
        input that needs no gradient: a first layer), 2 x 2 pool windows of stride 2 and the
        op's compiled kernels (``[fast]``), the one op
        :func:`lamina.ops.norm.conv2d_batch_norm_relu_max_pool2d` (batch norm's input
        gradient, or the convolution's output, is never written whole); otherwise
        ``self.relu_max_pool(relu, pool, conv(x))``.
        Same values, gradients and running statistics either way (up to rounding)."""
        data = x._data if isinstance(x, Tensor) else None
        if not (self.training and data is not None and getattr(conv, "plain_op", False)
                and conv.stride == (1, 1) and conv.out_channels == self.num_features
                and _pool_2x2(pool) and conv_bn_relu_pool_compiled(
                    data, conv.weight._data, tuple(None if p is None else p._data
                                                   for p in (conv.bias, self.weight, self.bias)),
                    conv.padding, x.requires_grad)):
            return self.relu_max_pool(relu, pool, conv(x))
        running, _, factor = self._step_statistics()
        buffers = (self.running_mean, self.running_var) if running else (None, None)
        arrays = [None if t is None else t._data for t in buffers]
        return apply(OPS["conv2d_batch_norm_relu_max_pool2d"], x, conv.weight, conv.bias,
                     self.weight, self.bias, running_mean=arrays[0], running_var=arrays[1],
                     momentum=factor, eps=self.eps, padding=conv.padding)


class LayerNorm(Module):
    """Layer normalisation (Ba et al. 2016): each sample standardised over its trailing
    ``normalized_shape`` axes, y = gamma xhat + beta with gamma, beta of that shape.

    Args:
        normalized_shape: an int or the trailing shape.
        eps: added to the variance.
        elementwise_affine: learn ``weight`` (ones) and (with ``bias``) ``bias`` (zeros).
        bias: learn ``bias`` when ``elementwise_affine``.
        dtype: parameter dtype (float32 by default).
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=None):
        super().__init__()
        shape = ((int(normalized_shape),) if isinstance(normalized_shape, (int, np.integer))
                 else tuple(int(d) for d in normalized_shape))
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"LayerNorm: normalized_shape must hold positive sizes, got "
                             f"{normalized_shape!r}")
        self.normalized_shape, self.eps = shape, eps
        self.elementwise_affine = elementwise_affine
        dtype = np.dtype(dtype or np.float32)
        self.weight = Parameter(np.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype)) if elementwise_affine and bias else None

    def forward(self, x):
        return FM.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Group normalisation (Wu and He 2018): the channels of (N, C, *) split into
    ``num_groups`` groups, each standardised per sample; per-channel gamma and beta.

    Args:
        num_groups: G, dividing num_channels.
        num_channels: C.
        eps: added to the variance.
        affine: learn ``weight`` (ones) and ``bias`` (zeros), shape (C,).
        dtype: parameter dtype (float32 by default).
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, dtype=None):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels must be divisible by num_groups, got "
                             f"{num_channels} channels and {num_groups} groups")
        self.num_groups, self.num_channels, self.eps = int(num_groups), int(num_channels), eps
        self.affine = affine
        dtype = np.dtype(dtype or np.float32)
        self.weight = Parameter(np.ones(num_channels, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_channels, dtype)) if affine else None

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected an input (N, {self.num_channels}, *), got "
                             f"shape {tuple(x.shape)}")
        return FM.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


def _pool_2x2(pool) -> bool:
    """Whether ``pool`` (a MaxPool2d) takes 2 x 2 windows of stride 2 without padding."""
    return all(v in (2, (2, 2)) for v in (pool.kernel_size, pool.stride)) and \
        pool.padding in (0, (0, 0))
