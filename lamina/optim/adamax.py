"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_betas,
    check_non_negative,
    grad_with_decay,
)


class Adamax(Optimizer):
    """Adamax (Kingma & Ba 2015, section 7.1), as ``torch.optim.Adamax``.

    Update rule, ``t`` the step count::

        g = grad + weight_decay * param               (-grad first if maximize)
        exp_avg = beta1 * exp_avg + (1 - beta1) * g
        exp_inf = max(beta2 * exp_inf, |g| + eps)
        param = param - lr / (1 - beta1 ** t) * exp_avg / exp_inf

    Mapping to the notes: Adam's first moment (section 3.5's moving average applied to ``g``)
    with the second moment's root replaced by an exponentially weighted infinity norm.

    Args:
        params: parameters or parameter groups.
        lr: learning rate, >= 0.
        betas: decay rates ``(beta1, beta2)``, each in [0, 1).
        eps: added to ``|g|`` (keeps ``exp_inf`` positive), >= 0.
        weight_decay: L2 coefficient added to the gradient, >= 0.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: a negative option or betas outside [0, 1).

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.Adamax([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(6).tolist()
        [0.9, -1.9]
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            check_non_negative(self, options, key)
        check_betas(self, options)

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_inf": np.zeros_like(param)}

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        state["step"] += 1
        beta1, beta2 = group["betas"]
        g = grad_with_decay(param, grad, group["weight_decay"], group["maximize"])
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        exp_avg += (1 - beta1) * (g - exp_avg)
        np.maximum(exp_inf * beta2, np.abs(g) + group["eps"], out=exp_inf)
        clr = group["lr"] / (1 - beta1 ** state["step"])
        param -= clr * exp_avg / exp_inf
