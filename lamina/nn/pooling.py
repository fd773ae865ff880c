"""Pooling layers (notes 6.3) and LeNet-5's trainable subsampling."""

from __future__ import annotations

import numpy as np

from lamina import functional as F
from lamina.convsize import as_pair, check_window
from lamina.nn import arguments
from lamina.nn.module import Module, Parameter


class _Pool2d(Module):
    """Shared constructor of the pools: kernel_size, stride (default kernel_size), padding."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        kernel = as_pair(kernel_size, name, "kernel_size")
        pad = as_pair(padding, name, "padding")
        check_window(name, kernel, as_pair(kernel_size if stride is None else stride, name,
                                           "stride"), pad)
        if any(2 * p > k for p, k in zip(pad, kernel, strict=True)):
            raise ValueError(f"{name}: padding must be at most half of kernel_size, got "
                             f"padding={padding!r} for kernel_size={kernel_size!r}")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each kh x kw window (notes 6.3), gradient to the window's first maximum.

    Small translations of the input leave most window maxima unchanged (approximate
    translation invariance, notes 6.3). Padding counts as -inf.

    Args:
        kernel_size: window size, an int or a pair.
        stride: step between windows, an int or a pair; defaults to kernel_size.
        padding: implicit -inf padding on each side, at most half the kernel.

    Shape:
        - input: (N, C, H, W)
        - output: (N, C, H_out, W_out) with
          H_out = floor((H + 2 * padding[0] - kernel_size[0]) / stride[0]) + 1 and likewise
          W_out (eq 6.7-6.8).

    Raises:
        ValueError: at call time, for an input that is not 4-D or smaller than the window.

    Example:
        >>> import lamina as lm
        >>> MaxPool2d(2)(lm.zeros(8, 6, 28, 28)).shape
        (8, 6, 14, 14)
    """

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """The mean of each kh x kw window (notes 6.3); padded zeros count in the mean, as
    PyTorch's default ``count_include_pad=True``.

    Args:
        kernel_size: window size, an int or a pair.
        stride: step between windows, an int or a pair; defaults to kernel_size.
        padding: implicit zero padding on each side, at most half the kernel.

    Shape:
        - input: (N, C, H, W)
        - output: (N, C, H_out, W_out) with
          H_out = floor((H + 2 * padding[0] - kernel_size[0]) / stride[0]) + 1 and likewise
          W_out (eq 6.7-6.8).

    Raises:
        ValueError: at call time, for an input that is not 4-D or smaller than the window.

    Example:
        >>> import lamina as lm
        >>> AvgPool2d(2)(lm.ones(1, 1, 4, 4)).numpy().ravel().tolist()
        [1.0, 1.0, 1.0, 1.0]
    """

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class Subsampling(Module):
    """LeNet-5's S2/S4 layer (LeCun et al. 1998, section II.B): the four inputs of each
    non-overlapping 2 x 2 window are added, multiplied by a trainable coefficient and shifted
    by a trainable bias, one coefficient and one bias per feature map:

        out[n, c] = weight[c] * avg_pool2d(x, 2)[n, c] + bias[c]

    (the sum of four is the average times 4; the factor is absorbed into ``weight``). The
    paper then applies its squashing function, a separate layer here (``nn.ScaledTanh``).
    Starts as plain average pooling: weight = 1, bias = 0.

    Args:
        channels: number of feature maps C.
        kernel_size: window size (2 in the paper), an int or a pair.
        dtype: parameter dtype (float32 by default).

    Shape:
        (N, C, H, W) -> (N, C, floor(H / kh), floor(W / kw)) (eq 6.7-6.8 with stride = kernel).
    """

    def __init__(self, channels: int, kernel_size=2, dtype=None):
        super().__init__()
        self.channels = channels = arguments.positive_int("Subsampling", "channels", channels)
        self.kernel_size = kernel_size
        as_pair(kernel_size, "Subsampling", "kernel_size")
        dtype = np.dtype(dtype or np.float32)
        self.weight = Parameter(np.ones(channels, dtype))
        self.bias = Parameter(np.zeros(channels, dtype))

    def forward(self, x):
        if x.ndim == 4 and x.shape[1] != self.channels:
            raise ValueError(f"Subsampling(channels={self.channels}): input has {x.shape[1]} "
                             f"channels (shape {x.shape})")
        pooled = F.avg_pool2d(x, self.kernel_size)
        shape = (1, self.channels, 1, 1)
        return pooled * self.weight.reshape(shape) + self.bias.reshape(shape)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}"
