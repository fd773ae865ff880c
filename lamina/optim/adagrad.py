"""AdaGrad: per-coordinate learning rates from the sum of squared gradients (notes eq 3.8-3.9)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.optim.optimizer import Optimizer, ParamsT, check_non_negative, grad_with_decay


class Adagrad(Optimizer):
    """AdaGrad (Duchi et al. 2011), as ``torch.optim.Adagrad``.

    Update rule for each parameter ``param`` with gradient ``grad`` (names as in the code)::

        step = step + 1
        g = grad + weight_decay * param             (-grad first if maximize)
        clr = lr / (1 + (step - 1) * lr_decay)
        sum = sum + g * g                           (sum starts at initial_accumulator_value)
        param = param - clr * g / (sqrt(sum) + eps)

    Mapping to the notes. Eq 3.9 accumulates the full outer product ``G = sum_t g_t g_t^T``
    and eq 3.8 uses ``diag(G)``; only that diagonal is ever needed, so ``sum`` holds exactly
    ``diag(G)`` (the elementwise sum of squared gradients) and no d x d matrix is formed. Eq 3.8
    also puts its delta inside the square root, ``sqrt(delta + diag(G))``; this implementation,
    like PyTorch's (and for parity with it), adds ``eps`` after the root. ``lr`` is the notes'
    eps and ``eps`` the notes' delta.

    Args:
        params: parameters or parameter groups (see :class:`~lamina.optim.Optimizer`).
        lr: learning rate, >= 0.
        lr_decay: learning-rate decay per step, >= 0.
        weight_decay: L2 coefficient (alpha of eq 8.1-8.2): ``weight_decay * param`` is added
            to the gradient, >= 0.
        initial_accumulator_value: starting value of ``sum``, >= 0.
        eps: added to the denominator for numerical stability, >= 0.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: an option is negative.

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.Adagrad([w], lr=0.5)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(4).tolist()
        [0.5, -1.5]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_non_negative(self, options, key)

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": np.full_like(param, group["initial_accumulator_value"])}

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        state["step"] += 1
        step, total = state["step"], state["sum"]
        g = grad_with_decay(param, grad, group["weight_decay"], group["maximize"],
                            out=self.scratch(param, 1))
        clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        scratch = np.multiply(g, g, out=self.scratch(param))
        total += scratch
        std = np.sqrt(total, out=scratch)
        std += group["eps"]
        update = np.divide(g, std, out=scratch)
        update *= clr
        param -= update
