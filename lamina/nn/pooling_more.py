"""1-D and adaptive pooling, and Upsample (PyTorch arguments)."""

from __future__ import annotations

from lamina import functional_more as FM
from lamina.nn.module import Module


class _Pool1d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        name = type(self).__name__
        k = FM._one(kernel_size)
        s = k if stride is None else FM._one(stride)
        p = FM._one(padding)
        if k < 1 or s < 1 or p < 0 or 2 * p > k:
            raise ValueError(f"{name}: need kernel_size >= 1, stride >= 1 and 0 <= padding <= "
                             f"kernel_size / 2, got {kernel_size}, {stride}, {padding}")
        self.kernel_size, self.stride, self.padding = kernel_size, (
            kernel_size if stride is None else stride), padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool1d(_Pool1d):
    """Max over windows of (N, C, L) (padding counts as -inf); L_out = floor((L + 2p - k) /
    s) + 1, stride defaulting to kernel_size."""

    def forward(self, x):
        return FM.max_pool1d(x, self.kernel_size, self.stride, self.padding)


class AvgPool1d(_Pool1d):
    """Mean over windows of (N, C, L) (padded zeros count); sizes as MaxPool1d."""

    def forward(self, x):
        return FM.avg_pool1d(x, self.kernel_size, self.stride, self.padding)


class _AdaptivePool2d(Module):
    def __init__(self, output_size):
        super().__init__()
        sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,)
        if not 1 <= len(sizes) <= 2 or any(
                s is not None and (isinstance(s, bool) or int(s) < 1) for s in sizes):
            raise ValueError(f"{type(self).__name__}: output_size must be a positive int or a "
                             f"pair (None keeps the input size), got {output_size!r}")
        self.output_size = tuple(output_size) if isinstance(output_size, list) else output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """Mean over the windows that split (H, W) into ``output_size`` cells, window i of n
    covering [floor(i n_in / n), ceil((i + 1) n_in / n)) (PyTorch's rule).

    Example:
        >>> import lamina as lm
        >>> AdaptiveAvgPool2d(1)(lm.ones(2, 3, 7, 5)).shape
        (2, 3, 1, 1)
    """

    def forward(self, x):
        return FM.adaptive_avg_pool2d(x, self.output_size)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """Maximum over the windows of :class:`AdaptiveAvgPool2d`."""

    def forward(self, x):
        return FM.adaptive_max_pool2d(x, self.output_size)


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) by ``size`` or ``scale_factor`` with mode 'nearest',
    'linear' or 'bilinear' (``align_corners`` for the linear modes); see
    :func:`lamina.functional_more.interpolate`."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest",
                 align_corners: bool | None = None):
        super().__init__()
        if mode not in ("nearest", "linear", "bilinear"):
            raise ValueError(f"Upsample: mode must be 'nearest', 'linear' or 'bilinear', got "
                             f"{mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError("Upsample: give exactly one of size and scale_factor")
        self.size = tuple(size) if isinstance(size, list) else size
        self.scale_factor = (tuple(float(f) for f in scale_factor)
                             if isinstance(scale_factor, (list, tuple))
                             else None if scale_factor is None else float(scale_factor))
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x):
        return FM.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self) -> str:
        text = (f"size={self.size}" if self.size is not None
                else f"scale_factor={self.scale_factor}")
        return text + f", mode={self.mode!r}"
