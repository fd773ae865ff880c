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
need one. ``forward`` may return a tuple: each floating output not marked with
``ctx.mark_non_differentiable`` gets a gradient, and ``backward`` receives one gradient per
output (zeros for outputs that were not used, as torch's default).
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
        """Outputs that get no gradient (returned as they are, outside the graph)."""
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
            TypeError: ``forward`` returned neither a Tensor nor a tuple, or ``backward``
                returned the wrong number of gradients.
            ValueError: a gradient's shape differs from its input's.
        """
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        with _GradMode(False):
            out = cls.forward(ctx, *args, **kwargs)
        outputs = out if isinstance(out, tuple) else (out,)
        if not all(isinstance(o, Tensor) for o in outputs) and not isinstance(out, tuple):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple, got "
                            f"{type(out).__name__}")
        # the differentiable outputs travel as one flat node; each output is a slice of it
        live = [i for i, o in enumerate(outputs) if isinstance(o, Tensor)
                and o.dtype.kind == "f" and id(o) not in ctx.non_differentiable]
        if not live:
            return out
        shapes = [outputs[i].shape for i in live]
        dtype = np.result_type(*[outputs[i].dtype for i in live])
        bounds = np.cumsum([0] + [outputs[i]._data.size for i in live])
        value = (outputs[live[0]]._data if not isinstance(out, tuple) else
                 np.concatenate([outputs[i]._data.ravel().astype(dtype) for i in live]))
        name = cls.__name__

        def grads_of(grad: np.ndarray) -> list[Tensor]:
            if not isinstance(out, tuple):
                return [Tensor._wrap(grad)]
            pieces = [None] * len(outputs)
            for k, i in enumerate(live):
                piece = grad[bounds[k]:bounds[k + 1]].reshape(shapes[k])
                pieces[i] = Tensor._wrap(piece.astype(outputs[i].dtype, copy=False))
            return pieces

        def op(*arrays):
            def backward(grad, need):
                with _GradMode(False):
                    grads = cls.backward(ctx, *grads_of(grad))
                if not isinstance(grads, tuple):
                    grads = (grads,)
                if len(grads) != len(args):
                    raise TypeError(f"{name}.backward returned {len(grads)} gradients, expected "
                                    f"one per forward input ({len(args)}); use None for inputs "
                                    f"without a gradient")
                return tuple(_input_grad(name, arg, g, wanted)
                             for arg, g, wanted in zip(args, grads, need, strict=True))

            backward.__qualname__ = name  # grad_fn shows "<NameBackward0>", as torch
            return value, backward

        op.__name__ = name
        node = apply(op, *args)
        if not isinstance(out, tuple):
            return node
        results = list(outputs)
        for k, i in enumerate(live):
            piece = node[int(bounds[k]):int(bounds[k + 1])].reshape(shapes[k])
            results[i] = piece if piece.dtype == outputs[i].dtype else piece.to(outputs[i].dtype)
        return tuple(results)


def _input_grad(name: str, arg, g, wanted: bool):
    """The gradient ``backward`` returned for input ``arg`` as an array of its shape and dtype
    (None where it needs none)."""
    if g is None or not wanted:
        return None
    g = np.asarray(g._data if isinstance(g, Tensor) else g)
    if g.shape != arg.shape:
        try:
            g = np.broadcast_to(g, arg.shape)
        except ValueError:
            raise ValueError(f"{name}.backward returned a gradient of shape {g.shape} for an "
                             f"input of shape {tuple(arg.shape)}") from None
    return g.astype(arg.dtype, copy=False)


class once_differentiable:  # noqa: N801 - torch's name
    """Decorator for ``backward`` accepted for compatibility (lamina's backward always runs
    with graph recording off, so it is differentiable once)."""

    def __new__(cls, fn):
        return fn
