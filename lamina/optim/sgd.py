"""Stochastic gradient descent with momentum and Nesterov momentum (notes eq 3.1-3.7)."""

from __future__ import annotations

from typing import Any

import numpy as np

from lamina.optim.optimizer import Optimizer, ParamsT, check_non_negative, grad_with_decay


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum, as ``torch.optim.SGD``.

    Update rule for each parameter ``param`` with gradient ``grad`` (names as in the code)::

        g = grad + weight_decay * param             (-grad first if maximize)
        if momentum != 0:
            buf = g                                  at the first step
            buf = momentum * buf + (1 - dampening) * g   afterwards
            g = g + momentum * buf  if nesterov  else  buf
        param = param - lr * g

    Without momentum this is eq 3.4, ``theta <- theta - eps g``, with ``g`` the minibatch
    estimate of eq 3.3 (an unbiased estimate of the full gradient, eq 3.1-3.2).

    Momentum convention. The notes (eq 3.5-3.6) keep the learning rate inside the velocity::

        v <- alpha v - eps g ;   theta <- theta + v

    PyTorch (and lamina, so that results match torch) keeps it outside: with dampening 0,
    ``buf <- momentum buf + g ; param <- param - lr buf``. For a constant learning rate the two
    are the same algorithm: multiplying the buffer recursion by ``-lr`` gives
    ``(-lr buf) <- momentum (-lr buf) - lr g``, i.e. eq 3.5 with ``v = -lr buf``,
    ``alpha = momentum`` and ``eps = lr``, and then ``param <- param + v`` is eq 3.6. (They
    differ only when the learning rate changes during training: here a new lr rescales the
    whole accumulated step at once.)

    Nesterov momentum. Eq 3.7 evaluates the gradient at the look-ahead point ``theta + alpha v``:
    ``v <- alpha v - eps grad J(theta + alpha v) ; theta <- theta + v``. Tracking the look-ahead
    point ``theta' = theta + alpha v`` instead of theta, the same iteration reads
    ``v <- alpha v - eps g ; theta' <- theta' + alpha v - eps g`` with ``g`` the gradient at
    ``theta'`` (substitute ``theta = theta' - alpha v`` and expand). With ``v = -lr buf`` this is
    ``buf <- momentum buf + g ; param <- param - lr (g + momentum buf)``: the rule above, which
    needs only the gradient at the current parameters (Sutskever et al. 2013; PyTorch's form).

    Args:
        params: parameters or parameter groups (see :class:`~lamina.optim.Optimizer`).
        lr: learning rate (eps in the notes), >= 0.
        momentum: momentum factor (alpha in eq 3.5), >= 0.
        dampening: dampening of the gradient added to the momentum buffer.
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0).
        weight_decay: L2 coefficient, >= 0: ``weight_decay * param`` is the gradient of the
            penalty ``alpha * 1/2 ||w||^2`` of eq 8.1-8.2 with ``alpha = weight_decay``, here
            applied to every parameter of the group (biases too; use groups to exclude them).
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: an option is out of range, or nesterov without momentum / with dampening.

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(4).tolist()
        [0.8, -1.6]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "momentum", "weight_decay"):
            check_non_negative(self, options, key)
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True requires momentum > 0 and dampening 0, got "
                             f"momentum={options['momentum']!r}, "
                             f"dampening={options['dampening']!r}")

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        lr, momentum = group["lr"], group["momentum"]
        g = grad_with_decay(param, grad, group["weight_decay"], group["maximize"],
                            out=self.scratch(param, 1))
        scratch = self.scratch(param)
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=param.dtype)
            else:
                buf *= momentum
                dampening = group["dampening"]
                buf += g if dampening == 0 else np.multiply(g, 1 - dampening, out=scratch)
            if group["nesterov"]:
                g = np.add(g, np.multiply(buf, momentum, out=scratch), out=scratch)
            else:
                g = buf
        param -= np.multiply(g, lr, out=scratch)
