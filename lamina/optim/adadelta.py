"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.optim.flat import FlatGroup
from lamina.optim.kernels import (
    adadelta_kernel,
    adadelta_pieces_kernel,
    over_pieces,
    pieces_ready,
)
from lamina.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_non_negative,
    contiguous,
    grad_with_decay,
)


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, "ADADELTA: an adaptive learning rate method"), as
    ``torch.optim.Adadelta``.

    Update rule for each parameter ``param`` with gradient ``grad``::

        g = grad + weight_decay * param               (-grad first if maximize)
        square_avg = rho * square_avg + (1 - rho) * g * g
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta * delta
        param = param - lr * delta

    Mapping to the notes: ``square_avg`` is RMSProp's moving average ``r`` of section 3.5
    (eq 3.10 with decay ``rho``); the ratio of the two root-mean-squares replaces the global
    learning rate of eq 3.11, so ``lr`` (default 1) only scales the step.

    Args:
        params: parameters or parameter groups (see :class:`~lamina.optim.Optimizer`).
        lr: scale of the update, >= 0.
        rho: decay rate of both running averages, in [0, 1].
        eps: added inside both square roots, >= 0.
        weight_decay: L2 coefficient added to the gradient (eq 8.1-8.2), >= 0.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: an option is negative or ``rho`` is outside [0, 1].

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.Adadelta([w])
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(6).tolist()
        [0.996838, -1.996838]
    """

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            check_non_negative(self, options, key)
        if not 0.0 <= options["rho"] <= 1.0:
            raise ValueError(f"Adadelta: rho must be in [0, 1], got rho={options['rho']!r}")

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "square_avg": np.zeros_like(param), "acc_delta": np.zeros_like(param)}

    def update_group(self, flat: FlatGroup, grads: list[np.ndarray], state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        """The compiled step reading the gradients where they are (no gathering copy) when
        it can (no weight decay or maximize, see :func:`lamina.optim.kernels.pieces_ready`);
        else :meth:`update` on the gathered gradients."""
        kernel = adadelta_pieces_kernel()
        if (kernel is None or group["weight_decay"] != 0 or group["maximize"]
                or not pieces_ready(grads, flat.param.dtype)):
            super().update_group(flat, grads, state, group)
            return
        state["step"] += 1
        rho, like = group["rho"], flat.param.dtype.type
        over_pieces(kernel, flat.param, grads, (state["square_avg"], state["acc_delta"]),
                    like(rho), like(1 - rho), like(group["eps"]), like(group["lr"]))

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        state["step"] += 1
        rho, eps = group["rho"], group["eps"]
        g = grad_with_decay(param, grad, group["weight_decay"], group["maximize"])
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        kernel = adadelta_kernel()
        if (kernel is not None and g.dtype == param.dtype
                and contiguous(param, g, square_avg, acc_delta)):
            like = param.dtype.type
            kernel(param.reshape(-1), g.reshape(-1), square_avg.reshape(-1),
                   acc_delta.reshape(-1), like(rho), like(1 - rho), like(eps), like(group["lr"]))
            return
        square_avg *= rho
        square_avg += (1 - rho) * g * g
        delta = np.sqrt(acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param -= group["lr"] * delta
