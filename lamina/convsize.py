"""Output-size arithmetic of convolution and pooling (notes eq 6.5-6.8), in one place.

The notes write h_o = (h_i - h_k) / h_s + 1 (eq 6.5-6.8) for an unpadded input whose size
fits the stride exactly. With zero padding p on each side and a window that may not reach
the last rows, the number of window positions is

    n_out = floor((n + 2p - d(k - 1) - 1) / s) + 1,

which is floor((n + 2p - k) / s) + 1 for dilation d = 1. Layers, ops, their error messages
and ``lamina summary`` all use :func:`conv_output_size` and :func:`conv_arithmetic`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _effective_kernel(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0,
                     dilation: int = 1) -> int:
    """Number of window positions along one spatial dimension (eq 6.5-6.8 with padding).

    n_out = floor((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1.

    Args:
        n: input size along the dimension.
        kernel: window size.
        stride: step between windows.
        padding: zeros added on each side.
        dilation: spacing between window elements.

    Returns:
        The output size; zero or negative when the window does not fit.

    Example:
        >>> conv_output_size(28, 5, padding=2)
        28
        >>> conv_output_size(28, 2, stride=2)
        14
    """
    return (n + 2 * padding - _effective_kernel(kernel, dilation)) // stride + 1


def conv_arithmetic(n: int, kernel: int, stride: int = 1, padding: int = 0,
                    dilation: int = 1) -> str:
    """The computation of :func:`conv_output_size` as text, with the floor written out (eq
    6.5-6.8 divide exactly only when the stride fits; lamina, like PyTorch, rounds down), e.g.
    ``floor((5 + 2*0 - 7)/1) + 1 = -1``.

    Example:
        >>> conv_arithmetic(32, 5, 1, 0)
        'floor((32 + 2*0 - 5)/1) + 1 = 28'
        >>> conv_arithmetic(10, 3, 2, 0)
        'floor((10 + 2*0 - 3)/2) + 1 = 4'
    """
    k = _effective_kernel(kernel, dilation)
    out = conv_output_size(n, kernel, stride, padding, dilation)
    return f"floor(({n} + 2*{padding} - {k})/{stride}) + 1 = {out}"


def conv_transpose_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0,
                               dilation: int = 1, output_padding: int = 0) -> int:
    """Output size of a transposed convolution (the input size of the convolution it
    reverses): n_out = (n - 1) s - 2p + d (k - 1) + output_padding + 1.

    Example:
        >>> conv_transpose_output_size(5, 3, stride=2, padding=1, output_padding=1)
        10
    """
    return (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_transpose_arithmetic(n: int, kernel: int, stride: int = 1, padding: int = 0,
                              dilation: int = 1, output_padding: int = 0) -> str:
    """The computation of :func:`conv_transpose_output_size` as text.

    Example:
        >>> conv_transpose_arithmetic(5, 3, 2, 1, 1, 1)
        '(5 - 1)*2 - 2*1 + 1*(3 - 1) + 1 + 1 = 10'
    """
    out = conv_transpose_output_size(n, kernel, stride, padding, dilation, output_padding)
    return (f"({n} - 1)*{stride} - 2*{padding} + {dilation}*({kernel} - 1) + {output_padding}"
            f" + 1 = {out}")


def spatial_output_shape(where: str, shape: Sequence[int], kernel_size: tuple[int, int],
                         stride: tuple[int, int], padding: tuple[int, int]) -> tuple[int, int]:
    """Check that ``shape`` is a 4-D (N, C, H, W) input the window fits, and return (H_out, W_out).

    Args:
        where: the layer as messages show it, e.g. ``"Conv2d(1, 6, kernel_size=(5, 5))"``.
        shape: the input's shape.
        kernel_size, stride, padding: pairs (height, width).

    Raises:
        ValueError: the input is not 4-D, or an output size is below 1; the message shows
            the arithmetic of eq 6.5-6.8.
    """
    if len(shape) != 4:
        raise ValueError(f"{where}: expected a 4-D input (N, C, H, W), got shape {tuple(shape)} "
                         f"with {len(shape)} dimension{'s' if len(shape) != 1 else ''}")
    sizes = []
    for name, n, k, s, p in zip(("height", "width"), shape[2:], kernel_size, stride, padding,
                                strict=True):
        out = conv_output_size(n, k, s, p)
        if out < 1:
            raise ValueError(f"{where}: input of shape {tuple(shape)} is too small: {name} "
                             f"{conv_arithmetic(n, k, s, p)}")
        sizes.append(out)
    return sizes[0], sizes[1]


def check_window(where: str, kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int]) -> None:
    """Raise ValueError unless kernel sizes and strides are >= 1 and paddings >= 0."""
    for name, pair, low in (("kernel_size", kernel_size, 1), ("stride", stride, 1),
                            ("padding", padding, 0)):
        if any(v < low for v in pair):
            raise ValueError(f"{where}: {name} must be >= {low} in each dimension, got "
                             f"{tuple(pair)}")


def as_pair(value, where: str, name: str) -> tuple[int, int]:
    """An int or a pair of ints (``kernel_size=5`` or ``(5, 3)``) as a (height, width) tuple.

    Raises:
        TypeError: ``value`` is neither an int nor a sequence of two ints.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    pair = tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                 for v in pair):
        raise TypeError(f"{where}: {name} must be an int or a pair of ints, got {value!r}")
    return int(pair[0]), int(pair[1])
