"""Anomaly detection for autograd (PyTorch: ``torch.autograd.detect_anomaly``).

Inside ``with lm.autograd.detect_anomaly():`` every op records where it was called (its
Python stack) and the first op whose forward output holds a NaN or an infinity (when its
floating inputs were all finite) is remembered; during backward, the first op whose backward
returns a non-finite gradient raises RuntimeError naming that op, where it was called, the
gradient's shape, and the op that first produced a non-finite value in the forward pass.
It is slow (a stack capture and a finiteness scan per op): a debugging tool, as in PyTorch.

Example:
    >>> import lamina as lm
    >>> import numpy as np
    >>> x = lm.tensor([0.0, 1.0], requires_grad=True)
    >>> with lm.autograd.detect_anomaly(), np.errstate(divide="ignore"):
    ...     x.sqrt().sum().backward()  # d sqrt(x) / dx = 1 / (2 sqrt x) is inf at 0
    Traceback (most recent call last):
    ...
    RuntimeError: Function 'sqrt' returned inf values in its 0th output during backward ...
"""

from __future__ import annotations

import contextlib
import traceback

import numpy as np

from lamina.tensor import Tensor, _anomaly

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]


def _non_finite(array) -> str | None:
    """'nan' or 'inf' when the floating ``array`` holds such a value, else None."""
    a = np.asarray(array)
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return None
    return "nan" if np.isnan(a).any() else "inf"


FRAMES = 8  # innermost frames shown of a recorded call site


def _where(stack: list) -> str:
    return "".join(traceback.format_list(stack[-FRAMES:])).rstrip()


class _Detector:
    """The hooks :func:`lamina.tensor.apply` and ``Tensor.backward`` call in anomaly mode."""

    def __init__(self, check_nan: bool) -> None:
        self.check_nan = check_nan
        self.stacks: dict[int, list] = {}  # node sequence number -> stack of its forward call
        self.first_forward: tuple[str, tuple, str, list] | None = None

    def forward(self, op, out: Tensor, inputs: tuple) -> None:
        if self.first_forward is not None:
            return
        bad = _non_finite(out._data)
        if bad is None:
            return
        for x in inputs:
            array = x._data if isinstance(x, Tensor) else x
            if isinstance(array, np.ndarray) and _non_finite(array) is not None:
                return  # not the first: a non-finite value came in
        self.first_forward = (getattr(op, "__name__", str(op)), out.shape, bad,
                              traceback.extract_stack()[:-3])

    def record(self, node: Tensor) -> None:
        self.stacks[node._seq] = traceback.extract_stack()[:-3]

    def backward(self, node: Tensor, grads) -> None:
        if not self.check_nan:
            return
        for i, g in enumerate(grads):
            if g is None:
                continue
            bad = _non_finite(g)
            if bad is None:
                continue
            name = getattr(node._op, "__name__", "an unregistered op")
            message = (f"Function '{name}' returned {bad} values in its {i}th output during "
                       f"backward (the gradient for its input {i}, shape {np.shape(g)}).")
            stack = self.stacks.get(node._seq)
            message += ("\nThe forward call of that op was:\n" + _where(stack) if stack else
                        "\n(the forward pass of that op ran outside detect_anomaly, so its "
                        "call site was not recorded)")
            if self.first_forward is not None:
                op, shape, kind, where = self.first_forward
                message += (f"\nThe first non-finite value of the forward pass ({kind}) came "
                            f"from op '{op}' (output shape {shape}), called at:\n"
                            + _where(where))
            raise RuntimeError(message)


class detect_anomaly(contextlib.ContextDecorator):  # noqa: N801 - PyTorch's name
    """Context manager (and decorator) enabling anomaly detection (see the module docstring).

    Args:
        check_nan: raise at the first backward that returns NaN or infinite values (as
            PyTorch's ``check_nan``); with False only the call sites are recorded.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = bool(check_nan)
        self.tokens: list = []

    def __enter__(self) -> None:
        self.tokens.append(_anomaly.set(_Detector(self.check_nan)))

    def __exit__(self, *exc) -> None:
        _anomaly.reset(self.tokens.pop())


class set_detect_anomaly(contextlib.ContextDecorator):  # noqa: N801 - PyTorch's name
    """Turn anomaly detection on or off (``mode``) inside the block, as PyTorch's."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        self.mode, self.check_nan = bool(mode), bool(check_nan)
        self.tokens: list = []

    def __enter__(self) -> None:
        self.tokens.append(_anomaly.set(_Detector(self.check_nan) if self.mode else None))

    def __exit__(self, *exc) -> None:
        _anomaly.reset(self.tokens.pop())


def is_anomaly_enabled() -> bool:
    """Whether anomaly detection is on in the calling thread (and asyncio task)."""
    return _anomaly.get() is not None
