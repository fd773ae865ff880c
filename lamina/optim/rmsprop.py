"""RMSProp: AdaGrad with a moving average of squared gradients (the notes' section 3.5)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.optim.optimizer import Optimizer, ParamsT, check_non_negative, grad_with_decay


class RMSprop(Optimizer):
    """RMSProp (Hinton, Coursera lecture 6e, 2012), as ``torch.optim.RMSprop``.

    Update rule for each parameter ``param`` with gradient ``grad`` (names as in the code)::

        step = step + 1
        g = grad + weight_decay * param             (-grad first if maximize)
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:
            grad_avg = grad_avg + (1 - alpha) * (g - grad_avg)
            avg = sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg = sqrt(square_avg) + eps
        if momentum > 0:
            buf = momentum * buf + g / avg
            param = param - lr * buf
        else:
            param = param - lr * g / avg

    Mapping to the notes. Section 3.5 is titled "Adam" but describes RMSProp, and its eq 3.10,
    ``r <- r + g*g``, is AdaGrad's accumulator (eq 3.9's diagonal), not RMSProp's.
    RMSProp's is the exponentially weighted moving average ``r <- rho r + (1 - rho) g*g``:
    here ``r`` is ``square_avg`` and ``rho`` is ``alpha``. Eq 3.11,
    ``theta <- theta - eps / (delta + sqrt(r)) * g``, is the non-centered update above with the
    notes' eps as ``lr`` and delta as ``eps``. For Adam itself see :class:`~lamina.optim.Adam`.

    Args:
        params: parameters or parameter groups (see :class:`~lamina.optim.Optimizer`).
        lr: learning rate, >= 0.
        alpha: decay rate of the moving average (rho), >= 0.
        eps: added to the denominator for numerical stability, >= 0.
        weight_decay: L2 coefficient (alpha of eq 8.1-8.2): ``weight_decay * param`` is added
            to the gradient, >= 0.
        momentum: momentum factor, >= 0.
        centered: normalise by an estimate of the gradient's variance instead of its second
            moment.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: an option is negative.

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.RMSprop([w], lr=0.01, alpha=0.75)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(4).tolist()
        [0.98, -1.98]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "alpha", "eps", "weight_decay", "momentum"):
            check_non_negative(self, options, key)

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "square_avg": np.zeros_like(param)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = np.zeros_like(param)
        if group["centered"]:
            state["grad_avg"] = np.zeros_like(param)
        return state

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        state["step"] += 1
        alpha, momentum = group["alpha"], group["momentum"]
        g = grad_with_decay(param, grad, group["weight_decay"], group["maximize"],
                            out=self.scratch(param, 1))
        square_avg = state["square_avg"]
        scratch = np.multiply(g, g, out=self.scratch(param))
        scratch *= 1 - alpha
        square_avg *= alpha
        square_avg += scratch
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(param))
            delta = np.subtract(g, grad_avg, out=scratch)
            delta *= 1 - alpha
            grad_avg += delta
            avg = np.multiply(grad_avg, grad_avg, out=scratch)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            avg = np.sqrt(square_avg, out=scratch)
        avg += group["eps"]
        ratio = np.divide(g, avg, out=avg)
        if momentum > 0:
            buf = state.setdefault("momentum_buffer", np.zeros_like(param))
            buf *= momentum
            buf += ratio
            ratio = np.multiply(buf, group["lr"], out=ratio)
        else:
            ratio *= group["lr"]
        param -= ratio
