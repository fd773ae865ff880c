"""``lm.autograd.Function``: user-defined differentiable operations (``torch.autograd.Function``).

A subclass defines two static methods::

    class Cube(lm.autograd.Function):
        @staticmethod
        def forward(ctx, x):            # Tensors in, a Tensor out
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad_output):  # d loss / d out in, d loss / d input out
            x, = ctx.saved_tensors
            return grad_output * 3 * x ** 2

    y = Cube.apply(x)

``forward`` runs with graph recording off (as torch); ``apply`` records one node whose backward
calls the subclass's ``backward`` (with grad mode off too) and hands each returned gradient to
the matching input (None for inputs that need none). ``ctx.needs_input_grad`` says which inputs
need one. One Tensor output per Function.
"""

from __future__ import annotations

import numpy as np

from lamina.tensor import Tensor, _GradMode, apply


class FunctionCtx:
    """The ``ctx`` that ``forward`` and ``backward`` share: ``save_for_backward(*tensors)``,
    ``saved_tensors``, ``needs_input_grad``, ``mark_non_differentiable``, and any attribute the
    subclass sets."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        self.needs_input_grad = needs_input_grad
        self.to_save: tuple = ()
        self.non_differentiable: set[int] = set()
        self._versions: tuple = ()

    def save_for_backward(self, *tensors) -> None:
        """Keep ``tensors`` (or None) for ``backward``; it reads them as ``ctx.saved_tensors``."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: expected Tensors or None, got "
                                f"{type(t).__name__} (store other values as ctx attributes)")
        self.to_save = tensors
        self._versions = tuple(None if t is None else t._version for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward``.

        Raises:
            RuntimeError: one was modified in place since it was saved (its gradient would be
                computed from the wrong values), as torch.
        """
        for t, version in zip(self.to_save, self._versions, strict=True):
            if t is not None and t._version != version:
                raise RuntimeError(f"one of the tensors saved for backward has been modified by "
                                   f"an in-place operation (version {version} when saved, now "
                                   f"{t._version})")
        return self.to_save

    def mark_non_differentiable(self, *tensors) -> None:
        """Accepted for compatibility: lamina's Functions have one output, which is
        differentiable when an input requires grad."""
        self.non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """Accepted for compatibility: gradients reaching ``backward`` are always Tensors."""


class Function:
    """Base class of user-defined differentiable operations (see the module docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define a static forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define a static backward(ctx, grad)")

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError(f"{type(self).__name__}: call {type(self).__name__}.apply(...); "
                           f"Function subclasses are not instantiated")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` and record the node that runs ``backward`` (see the module docs).

        Raises:
            TypeError: ``forward`` did not return a Tensor, or ``backward`` returned the wrong
                number of gradients.
            ValueError: a gradient's shape differs from its input's.
        """
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        with _GradMode(False):
            out = cls.forward(ctx, *args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return one Tensor, got "
                            f"{type(out).__name__} (lamina's Functions have one Tensor output)")
        name = cls.__name__
        value = out._data

        def op(*arrays):
            def backward(grad, need):
                with _GradMode(False):
                    grads = cls.backward(ctx, Tensor._wrap(grad))
                if not isinstance(grads, tuple):
                    grads = (grads,)
                if len(grads) != len(args):
                    raise TypeError(f"{name}.backward returned {len(grads)} gradients, expected "
                                    f"one per forward input ({len(args)}); use None for inputs "
                                    f"without a gradient")
                out_grads = []
                for arg, g, wanted in zip(args, grads, need, strict=True):
                    if g is None or not wanted:
                        out_grads.append(None)
                        continue
                    g = np.asarray(g._data if isinstance(g, Tensor) else g)
                    if g.shape != arg.shape:
                        try:
                            g = np.broadcast_to(g, arg.shape)
                        except ValueError:
                            raise ValueError(f"{name}.backward returned a gradient of shape "
                                             f"{g.shape} for an input of shape "
                                             f"{tuple(arg.shape)}") from None
                    out_grads.append(g.astype(arg.dtype, copy=False))
                return tuple(out_grads)

            backward.__qualname__ = name  # grad_fn shows "<NameBackward0>", as torch
            return value, backward

        op.__name__ = name
        return apply(op, *args)


class once_differentiable:  # noqa: N801 - torch's name
    """Decorator for ``backward`` accepted for compatibility (lamina's backward always runs
    with graph recording off, so it is differentiable once)."""

    def __new__(cls, fn):
        return fn
