"""RAdam: Adam with a rectified (variance-corrected) adaptive learning rate."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lamina.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_betas,
    check_non_negative,
    grad_with_decay,
)


class RAdam(Optimizer):
    """RAdam (Liu et al. 2020, "On the variance of the adaptive learning rate and beyond"), as
    ``torch.optim.RAdam``.

    Update rule, ``t`` the step count::

        param = param * (1 - lr * weight_decay)       (if decoupled_weight_decay, else
        g = grad + weight_decay * param                 the L2 term goes into g)
        exp_avg = beta1 * exp_avg + (1 - beta1) * g
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        m_hat = exp_avg / (1 - beta1 ** t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2 ** t / (1 - beta2 ** t)
        if rho_t > 5:
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            param = param - lr * m_hat * r * sqrt(1 - beta2 ** t) / (sqrt(exp_avg_sq) + eps)
        else:
            param = param - lr * m_hat                 (plain momentum SGD while the variance
                                                         of the adaptive rate is intractable)

    Mapping to the notes: Adam (section 3.5) with the rectification factor ``r`` on its
    adaptive step.

    Args:
        params: parameters or parameter groups.
        lr: learning rate, >= 0.
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: L2 (or decoupled) weight decay, >= 0.
        decoupled_weight_decay: shrink the weights directly instead of adding the L2 gradient.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: a negative option or betas outside [0, 1).

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.RAdam([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(4).tolist()
        [0.8, -1.6]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            check_non_negative(self, options, key)
        check_betas(self, options)

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "exp_avg": np.zeros_like(param), "exp_avg_sq": np.zeros_like(param)}

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        state["step"] += 1
        step, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        decay = group["weight_decay"]
        if group["decoupled_weight_decay"] and decay != 0:
            param *= 1 - lr * decay
            decay = 0.0
        g = grad_with_decay(param, grad, decay, group["maximize"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (g - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        m_hat = exp_avg / bias_correction1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bias_correction2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = math.sqrt(bias_correction2) / (np.sqrt(exp_avg_sq) + group["eps"])
            param -= m_hat * lr * adaptive * rect
        else:
            param -= m_hat * lr
