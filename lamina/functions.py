"""torch's top-level functions that mirror Tensor methods: ``lm.exp(x)`` is ``x.exp()``,
``lm.max(x, 1)`` is ``x.max(1)`` (values and indices), ``lm.max(a, b)`` the elementwise
maximum, ``lm.flatten(x)``, ``lm.matmul(a, b)``... Each function converts a non-Tensor first
argument with ``lm.as_tensor`` and calls the method of the same name, so the math (and its
docstring) lives in one place: lamina/tensor.py, tensor_methods.py, selection.py.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamina.ops import OPS
from lamina.tensor import Tensor, apply, cat
from lamina.tensor import where as _where

# torch function name -> Tensor method name
METHOD_FUNCTIONS = {name: name for name in (
    "abs", "sin", "cos", "tan", "asin", "arcsin", "acos", "arccos", "atan", "arctan", "sinh",
    "cosh", "tanh", "exp", "exp2", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
    "square", "reciprocal", "neg", "negative", "sigmoid", "relu", "floor", "ceil", "round",
    "trunc", "fix", "frac", "sign", "clamp", "clip", "clamp_min", "clamp_max", "add", "sub",
    "subtract", "mul", "multiply", "div", "divide", "true_divide", "pow", "matmul", "mm", "bmm",
    "mv", "dot", "outer", "sum", "mean", "std", "var", "prod", "cumsum", "norm", "dist", "max",
    "min", "amax", "amin", "argmax", "argmin", "argsort", "sort", "topk", "kthvalue", "median",
    "mode", "maximum", "minimum", "all", "any", "eq", "ne", "lt", "le", "gt", "ge", "greater",
    "greater_equal", "less", "less_equal", "not_equal", "equal", "allclose", "isclose",
    "isnan", "isinf", "isfinite", "signbit", "logical_not", "logical_and", "logical_or",
    "logical_xor", "flatten", "reshape", "squeeze", "unsqueeze", "transpose", "swapaxes",
    "swapdims", "permute", "movedim", "t", "split", "chunk", "tensor_split", "unbind",
    "narrow", "flip", "gather", "index_select", "masked_fill", "nonzero", "softmax",
    "log_softmax", "numel", "clone", "detach", "logsumexp", "diag", "trace", "roll",
    "count_nonzero", "unique", "bincount", "ravel", "diff", "lerp", "addmm",
    "take_along_dim")}
METHOD_FUNCTIONS["argwhere"] = "nonzero"
METHOD_FUNCTIONS["absolute"] = "abs"


def _function(name: str, method: str) -> Callable:
    def function(input, *args, **kwargs):  # noqa: A002 - torch's argument name
        if not isinstance(input, Tensor):
            input = Tensor(input)  # noqa: A001
        return getattr(input, method)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = (f"``lm.{name}(input, ...)``: the same as ``input.{method}(...)`` "
                        f"(torch.{name}); see ``Tensor.{method}``.")
    return function


FUNCTIONS = {name: _function(name, method) for name, method in METHOD_FUNCTIONS.items()}
globals().update(FUNCTIONS)


def where(condition, input=None, other=None):  # noqa: A002
    """``input`` where ``condition`` else ``other`` (gradients flow to both); with only
    ``condition``, the indices of its true elements as a tuple (``torch.where(cond)``)."""
    if input is None and other is None:
        cond = condition if isinstance(condition, Tensor) else Tensor(np.asarray(condition))
        return cond.nonzero(as_tuple=True)
    return _where(condition, input, other)


def is_tensor(obj) -> bool:
    """Whether ``obj`` is a lamina Tensor."""
    return isinstance(obj, Tensor)


def is_floating_point(input) -> bool:  # noqa: A002
    """Whether ``input``'s dtype is a floating type."""
    return input.is_floating_point()


def concat(tensors, dim: int = 0) -> Tensor:
    """``lm.cat`` under its other torch names (``concat``, ``concatenate``)."""
    return cat(tensors, dim)


concatenate = concat


def hstack(tensors) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-D tensors)."""
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Concatenate along dim 0, 1-D tensors as rows."""
    return cat([t.reshape(1, -1) if t.ndim == 1 else t for t in tensors], 0)


def broadcast_tensors(*tensors) -> tuple[Tensor, ...]:
    """The tensors expanded to their common broadcast shape."""
    shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(t.expand(shape) for t in tensors)


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation (``torch.einsum('ij,jk->ik', a, b)``; operands may also be given
    as one list); differentiable (op ``einsum``, lamina/ops/einsum.py)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = tuple(o if isinstance(o, Tensor) else Tensor(o) for o in operands)
    return apply(OPS["einsum"], *operands, equation=equation)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0) -> Tensor:
    """Pairwise p-norm distances between the rows of x1 (…, P, M) and x2 (…, R, M): (…, P, R)."""
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return diff.norm(p, dim=-1)


def var_mean(input, dim=None, unbiased: bool = True, keepdim: bool = False, *,  # noqa: A002
             correction=None) -> tuple[Tensor, Tensor]:
    """(variance, mean) along ``dim``."""
    if correction is not None:
        unbiased = bool(correction)
    return (input.var(dim=dim, unbiased=unbiased, keepdim=keepdim),
            input.mean(dim=dim, keepdim=keepdim))


def std_mean(input, dim=None, unbiased: bool = True, keepdim: bool = False, *,  # noqa: A002
             correction=None) -> tuple[Tensor, Tensor]:
    """(standard deviation, mean) along ``dim``."""
    var, mean = var_mean(input, dim, unbiased, keepdim, correction=correction)
    return var.sqrt(), mean


__all__ = [*FUNCTIONS, "einsum", "cdist", "var_mean", "std_mean", "where", "is_tensor",
           "is_floating_point", "concat", "concatenate", "hstack", "vstack", "broadcast_tensors"]
