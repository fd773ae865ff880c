"""Conv1d and ConvTranspose2d (PyTorch arguments, weight layouts and initialisation)."""

from __future__ import annotations

import numpy as np

from lamina import functional_more as FM
from lamina.convsize import as_pair, check_window
from lamina.nn import init
from lamina.nn.module import Module, Parameter


def _single(value, where: str, name: str) -> tuple[int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise TypeError(f"{where}: {name} must be an int or a 1-tuple, got {value!r}")
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where}: {name} must be an int or a 1-tuple, got {value!r}")
    return (int(value),)


def _check_channels(where: str, in_channels: int, out_channels: int, groups: int) -> None:
    if in_channels <= 0 or out_channels <= 0:
        raise ValueError(f"{where}: in_channels and out_channels must be positive, got "
                         f"({in_channels}, {out_channels})")
    if groups <= 0 or in_channels % groups or out_channels % groups:
        raise ValueError(f"{where}: in_channels ({in_channels}) and out_channels "
                         f"({out_channels}) must be divisible by groups ({groups})")


class Conv1d(Module):
    """1-D convolution (cross-correlation) over (N, C_in, L), computed as a 2-D one on
    (N, C_in, 1, L).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: window length k, an int (or a 1-tuple).
        stride: step s between windows.
        padding: zeros p added at each end.
        dilation: spacing d between kernel taps.
        groups: independent channel groups (C_in and C_out divisible by it).
        bias: learn one bias per output channel.
        dtype: parameter dtype (float32 by default).

    Shape:
        (N, C_in, L) -> (N, C_out, L_out), L_out = floor((L + 2p - d (k - 1) - 1) / s) + 1;
        weight (C_out, C_in / groups, k), initialised as PyTorch (U(+-1/sqrt(fan_in))).

    Example:
        >>> import lamina as lm
        >>> Conv1d(2, 4, 3, padding=1)(lm.zeros(5, 2, 10)).shape
        (5, 4, 10)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_channels(name, in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = (int(in_channels),
                                                            int(out_channels), int(groups))
        self.kernel_size = _single(kernel_size, name, "kernel_size")
        self.stride = _single(stride, name, "stride")
        self.padding = _single(padding, name, "padding")
        self.dilation = _single(dilation, name, "dilation")
        check_window(name, self.kernel_size * 2, self.stride * 2, self.padding * 2)
        check_window(name, self.dilation * 2, (1, 1), (0, 0))
        dtype = np.dtype(dtype or np.float32)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups,
                                          self.kernel_size[0]), dtype))
        self.bias = Parameter(np.empty(out_channels, dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, x):
        if x.ndim != 3 or x.shape[1] != self.in_channels:
            raise ValueError(f"Conv1d(in_channels={self.in_channels}): expected an input "
                             f"(N, {self.in_channels}, L), got shape {tuple(x.shape)}")
        return FM.conv1d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                         self.groups)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        for name, default in (("padding", (0,)), ("dilation", (1,))):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text if self.bias is not None else text + ", bias=False"


class ConvTranspose2d(Module):
    """Transposed 2-D convolution ("deconvolution"): the gradient of Conv2d with respect to
    its input, used to upsample (:func:`lamina.functional_more.conv_transpose2d`).

    Args:
        in_channels: C_in.
        out_channels: C_out.
        kernel_size: kh x kw, an int or a pair.
        stride: step of the reversed convolution, an int or a pair.
        padding: padding of the reversed convolution (removed from the output).
        output_padding: rows/columns added at the bottom/right of the output (smaller than
            stride or dilation), to reach sizes that stride makes ambiguous.
        dilation: spacing between kernel taps.
        groups: independent channel groups.
        bias: learn one bias per output channel.
        dtype: parameter dtype (float32 by default).

    Shape:
        (N, C_in, H, W) -> (N, C_out, H_out, W_out),
        H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1;
        weight (C_in, C_out / groups, kh, kw) (PyTorch's layout).

    Example:
        >>> import lamina as lm
        >>> ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)(
        ...     lm.zeros(1, 4, 5, 5)).shape
        (1, 2, 10, 10)
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1, dtype=None):
        super().__init__()
        name = type(self).__name__
        _check_channels(name, in_channels, out_channels, groups)
        self.in_channels, self.out_channels, self.groups = (int(in_channels),
                                                            int(out_channels), int(groups))
        self.kernel_size = as_pair(kernel_size, name, "kernel_size")
        self.stride = as_pair(stride, name, "stride")
        self.padding = as_pair(padding, name, "padding")
        self.output_padding = as_pair(output_padding, name, "output_padding")
        self.dilation = as_pair(dilation, name, "dilation")
        check_window(name, self.kernel_size, self.stride, self.padding)
        check_window(name, self.dilation, (1, 1), self.output_padding)
        if any(o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride,
                                                   self.dilation, strict=True)):
            raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller "
                             f"than stride {self.stride} or dilation {self.dilation}")
        dtype = np.dtype(dtype or np.float32)
        self.weight = Parameter(np.empty((in_channels, out_channels // groups,
                                          *self.kernel_size), dtype))
        self.bias = Parameter(np.empty(out_channels, dtype)) if bias else None
        init.default_layer_init_(self.weight, self.bias)

    def forward(self, x):
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"ConvTranspose2d(in_channels={self.in_channels}): expected an "
                             f"input (N, {self.in_channels}, H, W), got shape {tuple(x.shape)}")
        return FM.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                   self.output_padding, self.groups, self.dilation)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        for name, default in (("padding", (0, 0)), ("output_padding", (0, 0)),
                              ("dilation", (1, 1))):
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text if self.bias is not None else text + ", bias=False"
