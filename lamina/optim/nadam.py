"""NAdam: Adam with Nesterov momentum."""

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


class NAdam(Optimizer):
    """NAdam (Dozat 2016, "Incorporating Nesterov momentum into Adam"), as ``torch.optim.NAdam``.

    Update rule, ``t`` the step count and ``psi = momentum_decay``::

        param = param * (1 - lr * weight_decay)       (if decoupled_weight_decay, else
        g = grad + weight_decay * param                 the L2 term goes into g)
        mu_t = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = mu_product * mu_t
        exp_avg = beta1 * exp_avg + (1 - beta1) * g
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        denom = sqrt(exp_avg_sq / (1 - beta2 ** t)) + eps
        param = param - lr * (1 - mu_t) / (1 - mu_product) * g / denom
                      - lr * mu_next / (1 - mu_product * mu_next) * exp_avg / denom

    Mapping to the notes: Adam (section 3.5) whose momentum term looks one step ahead, as
    Nesterov momentum does for SGD.

    Args:
        params: parameters or parameter groups.
        lr: learning rate, >= 0.
        betas: ``(beta1, beta2)``, each in [0, 1).
        eps: added to the denominator, >= 0.
        weight_decay: L2 (or decoupled) weight decay, >= 0.
        momentum_decay: ``psi``, >= 0.
        decoupled_weight_decay: shrink the weights directly (as AdamW) instead of adding the L2
            gradient.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: a negative option or betas outside [0, 1).

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.NAdam([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(4).tolist()
        [0.8944, -1.8944]
    """

    def __init__(self, params: ParamsT, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay", "momentum_decay"):
            check_non_negative(self, options, key)
        check_betas(self, options)

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "mu_product": 1.0, "exp_avg": np.zeros_like(param),
                "exp_avg_sq": np.zeros_like(param)}

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        state["step"] += 1
        step, lr = state["step"], group["lr"]
        beta1, beta2 = group["betas"]
        decay, psi = group["weight_decay"], group["momentum_decay"]
        if group["decoupled_weight_decay"] and decay != 0:
            param *= 1 - lr * decay
            decay = 0.0
        g = grad_with_decay(param, grad, decay, group["maximize"])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (g - exp_avg)
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * g * g
        denom = np.sqrt(exp_avg_sq / (1 - beta2 ** step)) + group["eps"]
        param -= lr * (1.0 - mu) / (1.0 - mu_product) * g / denom
        param -= lr * mu_next / (1.0 - mu_product * mu_next) * exp_avg / denom
