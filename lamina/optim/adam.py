"""Adam and AdamW (Kingma & Ba 2015; Loshchilov & Hutter 2019), the real ones.

The notes' section 3.5 is titled "Adam" but describes RMSProp (see
:class:`~lamina.optim.RMSprop`); these classes implement Adam as published.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lamina.kernels import thresholds as T
from lamina.optim.flat import FlatGroup
from lamina.optim.kernels import (
    PIECES,
    adam_kernel,
    adam_pieces_kernel,
    over_pieces,
    pieces_ready,
)
from lamina.optim.optimizer import (
    Optimizer,
    ParamsT,
    check_betas,
    check_non_negative,
    contiguous,
    grad_with_decay,
)


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba 2015), as ``torch.optim.Adam``.

    Update rule for each parameter ``param`` with gradient ``grad`` (names as in the code)::

        step = step + 1
        if decoupled_weight_decay:  param = param * (1 - lr * weight_decay);  g = grad
        else:                       g = grad + weight_decay * param
                                    (-grad first if maximize)
        exp_avg = exp_avg + (1 - beta1) * (g - exp_avg)          (= beta1 m + (1-beta1) g)
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        if amsgrad: max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq); v = max_exp_avg_sq
        else:       v = exp_avg_sq
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        step_size = lr / bias_correction1
        denom = sqrt(v) / sqrt(bias_correction2) + eps
        param = param - step_size * exp_avg / denom

    (computed as ``param - (step_size * sqrt(bias_correction2)) * exp_avg / (sqrt(v) + eps *
    sqrt(bias_correction2))``, the same number in one array operation fewer)

    which is the paper's ``theta <- theta - lr * m_hat / (sqrt(v_hat) + eps)`` with
    ``m_hat = exp_avg / bias_correction1`` and ``v_hat = v / bias_correction2``.

    Mapping to the notes. Section 3.5 ("Adam") gives RMSProp's idea with AdaGrad's accumulator
    (eq 3.10 ``r <- r + g*g``) and the step of eq 3.11 ``theta <- theta - eps/(delta +
    sqrt(r)) g``. Adam replaces ``r`` by the moving average ``exp_avg_sq`` (RMSProp's, with
    ``rho = beta2``), replaces ``g`` in the numerator by its moving average ``exp_avg``
    (momentum, with ``beta1``), and corrects both averages for their zero initialisation;
    the notes' eps is ``lr`` and delta is ``eps``.

    Args:
        params: parameters or parameter groups (see :class:`~lamina.optim.Optimizer`).
        lr: learning rate, >= 0.
        betas: decay rates (beta1, beta2) of the two moving averages, each in [0, 1).
        eps: added to the denominator for numerical stability, >= 0.
        weight_decay: L2 coefficient (alpha of eq 8.1-8.2), >= 0: ``weight_decay * param`` is
            added to the gradient, or with ``decoupled_weight_decay`` the parameters shrink
            directly (AdamW).
        amsgrad: use the running maximum of ``exp_avg_sq`` (Reddi et al. 2018).
        maximize: ascend the objective instead of descending it.
        decoupled_weight_decay: decay the weights as AdamW does.

    Raises:
        ValueError: an option is out of range.

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.Adam([w], lr=0.1)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(4).tolist()
        [0.9, -1.9]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas,
                        eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)
        self._prepare_kernel()

    def _prepare_kernel(self) -> None:
        """Load the compiled kernel now (Numba's first use in a process costs about a second)
        rather than inside the first step, so that step takes as long as the others."""
        kernel = adam_kernel()
        if kernel is None:
            return
        pieces = adam_pieces_kernel()
        for dtype in {p.dtype for group in self.param_groups for p in group["params"]}:
            one = dtype.type(1)
            arrays = [np.zeros(1, dtype) for _ in range(5)]
            kernel(*arrays, one, one, one, one, one, False)
            grads = (arrays[1],) + (np.empty(0, dtype),) * (PIECES - 1)
            pieces(arrays[0], grads, *arrays[2:], one, one, one, one, one, False)

    def _check_options(self, options: dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            check_non_negative(self, options, key)
        check_betas(self, options)

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        state: dict[str, Any] = {"step": 0, "exp_avg": np.zeros_like(param),
                                 "exp_avg_sq": np.zeros_like(param)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = np.zeros_like(param)
        return state

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        kernel = adam_kernel()
        if kernel is not None and contiguous(param, grad, *_moments(state, param, group)):
            self._kernel_step(kernel, param, [grad.reshape(-1)], [slice(None)], state, group)
            return
        state["step"] += 1
        exp_avg, exp_avg_sq, v_max = _moments(state, param, group)
        step_size, root = _step_size_and_root(state["step"], group)
        beta1, beta2 = group["betas"]
        g = self._decayed_grad(param, grad, group, self.scratch(param, 1))

        # twelve whole-array passes, no temporaries: scratch holds each intermediate
        scratch = np.subtract(g, exp_avg, out=self.scratch(param))
        scratch *= 1 - beta1
        exp_avg += scratch
        np.multiply(g, g, out=scratch)
        scratch *= 1 - beta2
        exp_avg_sq *= beta2
        exp_avg_sq += scratch
        if group["amsgrad"]:
            np.maximum(v_max, exp_avg_sq, out=v_max)
        # step_size * exp_avg / (sqrt(v) / sqrt(bc2) + eps), with sqrt(bc2) moved to the
        # numerator: one multiplication of the whole array fewer
        denom = np.sqrt(v_max, out=scratch)
        denom += group["eps"] * root
        update = np.divide(exp_avg, denom, out=denom)
        update *= step_size * root
        param -= update

    def update_group(self, flat: FlatGroup, grads: list[np.ndarray], state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        kernel = adam_kernel()
        if kernel is None:
            super().update_group(flat, grads, state, group)
        elif (group["weight_decay"] == 0 and not group["maximize"]
              and pieces_ready(grads, flat.param.dtype)):
            # the gradients read where they are, up to PIECES of them per call
            self._kernel_step(kernel, flat.param, grads, None, state, group)
        elif flat.param.size < T.GATHER_BELOW * len(grads):
            # small parameters: one copy of the gradients and one kernel call beat a call
            # per parameter (each costs a few microseconds to dispatch)
            self._kernel_step(kernel, flat.param, [flat.gather(grads)], [slice(None)], state,
                              group)
        else:  # no gathering: the kernel reads each gradient where it is
            self._kernel_step(kernel, flat.param, grads, flat.slices, state, group)

    def _decayed_grad(self, param: np.ndarray, grad: np.ndarray, group: dict[str, Any],
                      out: np.ndarray) -> np.ndarray:
        """Decoupled decay applied to ``param`` in place; the gradient with coupled decay (and
        the sign for ``maximize``) returned, in ``out`` unless it is ``grad`` itself."""
        lr, weight_decay = group["lr"], group["weight_decay"]
        if group["decoupled_weight_decay"]:
            if weight_decay != 0:
                param *= 1 - lr * weight_decay
            return grad_with_decay(param, grad, 0, group["maximize"], out=out)
        return grad_with_decay(param, grad, weight_decay, group["maximize"], out=out)

    def _kernel_step(self, kernel, param: np.ndarray, grads: list[np.ndarray],
                     parts: list[slice], state: dict[str, Any], group: dict[str, Any]) -> None:
        """The same step as :meth:`update` by the compiled kernel, one call per ``parts``
        (slices of the 1-D views of ``param`` and the state, with their gradients)."""
        state["step"] += 1
        exp_avg, exp_avg_sq, v_max = map(_one_d, _moments(state, param, group))
        step_size, root = _step_size_and_root(state["step"], group)
        beta1, beta2 = group["betas"]
        flat_param = _one_d(param)
        like = param.dtype.type
        coefficients = (like(1 - beta1), like(1 - beta2), like(beta2), like(group["eps"] * root),
                        like(step_size * root), bool(group["amsgrad"]))
        if parts is None:  # grads: every parameter's, end to end (see pieces_ready)
            over_pieces(adam_pieces_kernel(), flat_param, grads, (exp_avg, exp_avg_sq, v_max),
                        *coefficients)
            return
        scratch = self.scratch(flat_param, 1)
        for part, grad in zip(parts, grads, strict=True):
            p = flat_param[part]
            g = self._decayed_grad(p, grad, group, scratch[part])
            kernel(p, np.ascontiguousarray(g, param.dtype), exp_avg[part], exp_avg_sq[part],
                   v_max[part], *coefficients)


def _one_d(a: np.ndarray) -> np.ndarray:
    """``a.reshape(-1)``, or ``a`` itself when it is 1-D already (a flat group's buffers)."""
    return a if a.ndim == 1 else a.reshape(-1)


def _moments(state: dict[str, Any], param: np.ndarray, group: dict[str, Any]):
    """(exp_avg, exp_avg_sq, v) where v is what the step divides by: ``max_exp_avg_sq``
    (created on first use) with amsgrad, else ``exp_avg_sq`` itself."""
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    v_max = exp_avg_sq
    if group["amsgrad"]:
        v_max = state.setdefault("max_exp_avg_sq", np.zeros_like(param))
    return exp_avg, exp_avg_sq, v_max


def _step_size_and_root(step: int, group: dict[str, Any]) -> tuple[float, float]:
    """(lr / (1 - beta1**step), sqrt(1 - beta2**step)): the bias corrections as Python floats."""
    beta1, beta2 = group["betas"]
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    return group["lr"] / bias_correction1, math.sqrt(bias_correction2)



class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    The update is :class:`Adam`'s with ``decoupled_weight_decay=True``: the weights shrink by
    ``param = param * (1 - lr * weight_decay)`` before the Adam step, instead of
    ``weight_decay * param`` being added to the gradient (where the adaptive denominator
    would rescale it). Default ``weight_decay`` is 1e-2.

    Args:
        params: parameters or parameter groups (see :class:`~lamina.optim.Optimizer`).
        lr: learning rate, >= 0.
        betas: decay rates (beta1, beta2) of the two moving averages, each in [0, 1).
        eps: added to the denominator for numerical stability, >= 0.
        weight_decay: decoupled decay coefficient, >= 0.
        amsgrad: use the running maximum of ``exp_avg_sq``.
        maximize: ascend the objective instead of descending it.

    Raises:
        ValueError: an option is out of range.

    Example:
        >>> import lamina as lm
        >>> w = lm.nn.Parameter(lm.tensor([1.0, -2.0], dtype=lm.float64))
        >>> opt = lm.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> (w * w).sum().backward()
        >>> opt.step()
        >>> w.numpy().round(4).tolist()
        [0.85, -1.8]
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
