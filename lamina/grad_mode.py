"""torch's grad-mode switches beyond ``no_grad``/``enable_grad`` (tensor.py):
``inference_mode`` and ``set_grad_enabled``. Like those, they act on the calling thread (and
asyncio task) only: grad mode is a ``contextvars.ContextVar``."""

from __future__ import annotations

from lamina.tensor import _grad_enabled, _GradMode, no_grad


def inference_mode(mode: bool = True) -> _GradMode:
    """Context manager (and decorator) for inference (``torch.inference_mode``): no graph is
    recorded inside it, as ``no_grad`` (lamina has no separate inference tensors).
    ``inference_mode(False)`` leaves grad mode as it is."""
    if callable(mode):  # used as a bare decorator: @lm.inference_mode
        return no_grad()(mode)
    return _GradMode(False) if mode else _GradMode(_grad_enabled.get())


def is_inference_mode_enabled() -> bool:
    """Whether graph recording is off in this thread (lamina's inference mode is no_grad)."""
    return not _grad_enabled.get()


class set_grad_enabled:  # noqa: N801 - torch's name
    """Turn graph recording on or off (``torch.set_grad_enabled``): as a function call it
    takes effect at once (for the calling thread); as a context manager it restores the
    previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        self.previous = _grad_enabled.get()
        _grad_enabled.set(bool(mode))

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        _grad_enabled.set(self.previous)
