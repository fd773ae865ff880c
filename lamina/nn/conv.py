"""Convolutional layers (notes chapter 6): Conv2d and LeNet-5's partially connected C3, and
the fused conv -> ReLU -> max-pool block that ``nn.Sequential`` runs for those three layers."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from lamina import functional as F
from lamina import functional_more as FM
from lamina import inference
from lamina.convsize import as_pair, check_window
from lamina.device import check_device
from lamina.dtypes import get_default_dtype
from lamina.nn import arguments, init
from lamina.nn.module import Module, Parameter
from lamina.nn.pooling import MaxPool2d
from lamina.tensor import Tensor, aligned_empty

_MODULE_CALL = Module.__call__.__code__


class Conv2d(Module):
    """2-D convolution (cross-correlation, eq 6.4) over an (N, C, H, W) batch.

    out[n, o] = bias[o] + sum_c weight[o, c] (*) x[n, c], with (*) the 2-D cross-correlation
    of the zero-padded input. One kernel slides over every position (parameter sharing, notes
    6.2.2) and each output sees only a kh x kw patch (sparse interaction, 6.2.1), so the layer
    has C_out * (C_in * kh * kw + 1) parameters whatever the image size, and shifting the
    input shifts the output (translation equivariance, 6.2.3).

    Args:
        in_channels: C_in, channels of the input.
        out_channels: C_out, number of kernels (output feature maps).
        kernel_size: kh x kw, an int or a pair.
        stride: step between windows, an int or a pair.
        padding: zeros added on each side, an int or a pair.
        dilation: spacing between kernel taps, an int or a pair.
        groups: split the channels into this many independent convolutions (``groups =
            in_channels``: depthwise); the weight is (C_out, C_in / groups, kh, kw).
        bias: learn one additive bias per output channel.
        dtype: parameter dtype (float32 by default).

    Shape:
        - input: (N, C_in, H, W)
        - output: (N, C_out, H_out, W_out) with
          H_out = floor((H + 2 * padding[0] - kernel_size[0]) / stride[0]) + 1 and
          W_out = floor((W + 2 * padding[1] - kernel_size[1]) / stride[1]) + 1 (eq 6.5-6.6),
          with kernel_size[i] replaced by dilation[i] * (kernel_size[i] - 1) + 1 when dilated.
        - weight: (C_out, C_in / groups, kh, kw); bias: (C_out,).

    Raises:
        ValueError: at call time, for an input that is not 4-D, has the wrong number of
            channels, or is too small for the kernel (the message shows the arithmetic).

    Example:
        >>> import lamina as lm
        >>> conv = Conv2d(1, 6, 5, padding=2)
        >>> conv(lm.zeros(8, 1, 28, 28)).shape
        (8, 6, 28, 28)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, dtype=None, *, device=None):
        super().__init__()
        name = type(self).__name__
        check_device(device, name)
        self.in_channels = arguments.positive_int(name, "in_channels", in_channels)
        self.out_channels = arguments.positive_int(name, "out_channels", out_channels)
        in_channels, out_channels = self.in_channels, self.out_channels
        groups = arguments.positive_int(name, "groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels ({in_channels}) and out_channels "
                             f"({out_channels}) must be divisible by groups ({groups})")
        self.kernel_size = as_pair(kernel_size, name, "kernel_size")
        self.stride = as_pair(stride, name, "stride")
        self.padding = as_pair(padding, name, "padding")
        self.dilation = as_pair(dilation, name, "dilation")
        self.groups = int(groups)
        check_window(name, self.kernel_size, self.stride, self.padding)
        check_window(name, self.dilation, (1, 1), (0, 0))
        dtype = arguments.float_dtype(name, dtype or get_default_dtype())
        self.weight = Parameter(aligned_empty(
            (out_channels, in_channels // self.groups, *self.kernel_size), dtype))
        self.bias = Parameter(aligned_empty(out_channels, dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    @property
    def plain_op(self) -> bool:
        """Whether the ``conv2d`` op (stride and padding only) computes this layer: False with
        dilation or groups, so that ``nn.Sequential``'s fused and no-grad paths
        (:mod:`lamina.inference`) call the layer instead of the op."""
        return self.dilation == (1, 1) and self.groups == 1

    def forward(self, x):
        if not self.plain_op:
            return FM.conv2d_general(x, self.weight, self.bias, self.stride, self.padding,
                                     self.dilation, self.groups)
        caller = sys._getframe(1)  # Module.__call__, called from the user's forward
        if caller.f_code is _MODULE_CALL and caller.f_back is not None:
            pending = F.deferred_conv_block(x, self.weight, self.bias, self.stride,
                                            self.padding, caller.f_back)
            if pending is not None:  # F.max_pool2d(F.relu(self.conv(x)), k): one fused op
                return pending
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


def conv_relu_max_pool(conv: Conv2d, pool: MaxPool2d, x) -> Tensor:
    """``pool(relu(conv(x)))`` as one op, the same values and gradients, faster: the bias
    and ReLU are applied after the max-pool, to a quarter of the numbers for a 2x2 pool
    (they commute with it; see :func:`lamina.ops.conv.conv2d_relu_max_pool2d`).
    ``nn.Sequential`` runs it for every Conv2d, ReLU, MaxPool2d run of its children (the
    pattern of :data:`lamina.inference.PATTERNS`).

    Args:
        conv: a ``Conv2d`` (exactly; a subclass may change its forward).
        pool: a ``MaxPool2d``.
        x: input (N, C_in, H, W).

    Returns:
        Tensor (N, C_out, P_h, P_w), as ``pool(relu(conv(x)))``.

    Example:
        >>> import lamina as lm
        >>> conv, pool = Conv2d(1, 6, 5, padding=2), MaxPool2d(2)
        >>> conv_relu_max_pool(conv, pool, lm.zeros(8, 1, 28, 28)).shape
        (8, 6, 14, 14)
    """
    return inference.conv_relu_max_pool(conv, pool, x)


# LeCun et al. 1998, Table I: the S2 maps (0-5) that feed each C3 map (0-15).
LENET5_C3_TABLE: list[list[int]] = [
    [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5], [0, 4, 5], [0, 1, 5],
    [0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [0, 3, 4, 5], [0, 1, 4, 5], [0, 1, 2, 5],
    [0, 1, 3, 4], [1, 2, 4, 5], [0, 2, 3, 5],
    [0, 1, 2, 3, 4, 5],
]


class MaskedConv2d(Conv2d):
    """A Conv2d in which output map o sees only the input maps ``connection_table[o]``.

    LeNet-5's C3 (LeCun et al. 1998, Table I) breaks the symmetry between feature maps this
    way. The full weight (C_out, C_in, kh, kw) is kept and multiplied in the forward pass by
    a fixed 0/1 mask, so unconnected weights stay zero and receive zero gradient:
    d(W * M)/dW = M. Initialised like Conv2d (fan_in = C_in * kh * kw), then masked.

    Args:
        in_channels: input channels C_in, as Conv2d.
        out_channels: output channels C_out, as Conv2d.
        kernel_size: as Conv2d.
        stride: as Conv2d.
        padding: as Conv2d.
        bias: as Conv2d.
        dtype: as Conv2d.
        connection_table: one list of input-channel indices per output channel.

    Shape:
        as Conv2d.

    Raises:
        ValueError: the table does not have ``out_channels`` rows, or names a channel
            outside ``range(in_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size,
                 connection_table: Sequence[Sequence[int]], stride=1, padding=0,
                 bias: bool = True, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, bias=bias,
                         dtype=dtype)
        table = [sorted(int(c) for c in row) for row in connection_table]
        if len(table) != out_channels:
            raise ValueError(f"MaskedConv2d: connection_table needs one row per output channel "
                             f"({out_channels}), got {len(table)} rows")
        mask = np.zeros((out_channels, in_channels, 1, 1), np.float32)
        for o, row in enumerate(table):
            if any(not 0 <= c < in_channels for c in row):
                raise ValueError(f"MaskedConv2d: connection_table[{o}] = {row} names a channel "
                                 f"outside 0..{in_channels - 1}")
            mask[o, row] = 1.0
        self.connection_table = table
        self._mask = mask
        self.weight._data *= mask.astype(self.weight.dtype)

    def num_connections(self) -> int:
        """Trainable weights actually in use: connections x kh x kw (+ biases)."""
        used = int(self._mask.sum()) * self.kernel_size[0] * self.kernel_size[1]
        return used + (self.out_channels if self.bias is not None else 0)

    def forward(self, x):
        mask = self._mask.astype(self.weight.dtype, copy=False)
        return F.conv2d(x, self.weight * mask, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", connection_table={self.connection_table}"
