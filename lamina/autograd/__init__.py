"""``lm.autograd``: user-defined differentiable operations (:class:`Function`) and
gradients of outputs with respect to chosen inputs (:func:`grad`)."""

from lamina.autograd.function import Function, FunctionCtx, once_differentiable
from lamina.autograd.grad import backward, grad
from lamina.autograd.variable import Variable

__all__ = ["Function", "FunctionCtx", "once_differentiable", "grad", "backward", "Variable"]
