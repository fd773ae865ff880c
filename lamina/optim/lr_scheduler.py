"""Learning-rate schedulers, with ``torch.optim.lr_scheduler``'s semantics and values.

A scheduler rewrites ``group["lr"]`` of its optimizer's parameter groups. Call
``scheduler.step()`` once per epoch, after the epoch's ``optimizer.step()`` calls
(``ReduceLROnPlateau.step(metric)`` takes the monitored value). Constructing a scheduler
records each group's starting rate as ``group["initial_lr"]`` (``base_lrs``).

Example:
    >>> import lamina as lm
    >>> w = lm.nn.Parameter(lm.zeros(2))
    >>> opt = lm.optim.SGD([w], lr=1.0)
    >>> sched = lm.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    >>> lrs = []
    >>> for epoch in range(5):
    ...     lrs.append(sched.get_last_lr()[0])
    ...     opt.step()
    ...     sched.step()
    >>> lrs
    [1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
import numbers
from collections import Counter
from collections.abc import Iterable
from typing import Any

from lamina.optim.optimizer import Optimizer


def _check_optimizer(optimizer: Any, where: str) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{where}: expected a lamina.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")


def _check_positive_int(value: Any, name: str, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive integer, got {name}={value!r}")


class LRScheduler:
    """Base class of the epoch-indexed schedulers.

    Subclasses define :meth:`get_lr`, the learning rates for epoch ``last_epoch`` computed from
    the groups' current ``lr`` (PyTorch's recursive, chainable form) or from ``base_lrs``.

    Args:
        optimizer: the optimizer whose learning rates are scheduled.
        last_epoch: index of the last epoch seen; -1 (default) starts a fresh schedule. Another
            value resumes one and needs ``"initial_lr"`` in every group.

    Attributes:
        base_lrs: each group's ``initial_lr``.
        last_epoch: number of :meth:`step` calls since epoch 0 (0 after construction).

    Raises:
        TypeError: ``optimizer`` is not a lamina Optimizer.
        KeyError: resuming (``last_epoch != -1``) and a group has no ``initial_lr``.
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        _check_optimizer(optimizer, name)
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{name}: param_groups[{i}] has no 'initial_lr', needed to "
                                   f"resume with last_epoch={last_epoch}; load the optimizer's "
                                   f"state_dict first or use last_epoch=-1")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each group for epoch ``last_epoch`` (called by :meth:`step`)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates the last :meth:`step` set, one per parameter group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch and write the new learning rates into the optimizer's groups."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (plain Python values)."""
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore attributes saved by :meth:`state_dict`."""
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs.

    ``lr(epoch) = base_lr * gamma ** (epoch // step_size)`` (applied recursively to the
    groups' current lr, so it composes with other changes, as in PyTorch).

    Args:
        optimizer: the wrapped optimizer.
        step_size: period of the decay, in epochs (> 0).
        gamma: multiplicative factor.
        last_epoch: see :class:`LRScheduler`.

    Raises:
        ValueError: ``step_size`` is not a positive integer.
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        _check_positive_int(step_size, "step_size", "StepLR")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` at each epoch listed in ``milestones``.

    ``lr(epoch) = base_lr * gamma ** (number of milestones <= epoch)``.

    Args:
        optimizer: the wrapped optimizer.
        milestones: epoch indices (a repeated one decays by ``gamma`` per repetition).
        gamma: multiplicative factor.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch: ``lr = base_lr * gamma ** epoch``.

    Args:
        optimizer: the wrapped optimizer.
        gamma: multiplicative factor.
        last_epoch: see :class:`LRScheduler`.
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from ``base_lr`` to ``eta_min`` over ``T_max`` epochs (SGDR, no restarts).

    Closed form (Loshchilov & Hutter 2017), ``T_cur = last_epoch``::

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_max)) / 2

    Like PyTorch, each step applies it recursively to the groups' current lr, which equals the
    closed form when nothing else changes the lr::

        lr = eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_max))
                                      / (1 + cos(pi * (T_cur - 1) / T_max))

    Past ``T_max`` the rate rises again along the cosine (period ``2 * T_max``).

    Args:
        optimizer: the wrapped optimizer.
        T_max: half-period, in epochs (> 0).
        eta_min: minimum learning rate.
        last_epoch: see :class:`LRScheduler`.

    Raises:
        ValueError: ``T_max`` is not a positive integer.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:
        _check_positive_int(T_max, "T_max", "CosineAnnealingLR")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, t_max, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and epoch > 0:
            return self._closed_form_lr(epoch)
        if (epoch - 1 - t_max) % (2 * t_max) == 0:
            # at the trough the recursion divides by 0: step up along the cosine instead
            return [lr + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
                    for lr, base in zip(self._current_lrs(), self.base_lrs, strict=True)]
        ratio = ((1 + math.cos(math.pi * epoch / t_max))
                 / (1 + math.cos(math.pi * (epoch - 1) / t_max)))
        return [ratio * (lr - eta_min) + eta_min for lr in self._current_lrs()]

    def _closed_form_lr(self, epoch: int) -> list[float]:
        """The closed-form rate of each group at ``epoch``."""
        return [self.eta_min + (base - self.eta_min)
                * (1 + math.cos(math.pi * epoch / self.T_max)) / 2 for base in self.base_lrs]


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    Unlike the other schedulers it is driven by a metric, not by the epoch count. At each
    ``step(metric)`` the metric counts as an improvement when (mode 'min')
    ``metric < best * (1 - threshold)`` ('rel') or ``metric < best - threshold`` ('abs');
    mode 'max' mirrors it. After more than ``patience`` epochs without improvement,
    ``lr = max(lr * factor, min_lr)`` (skipped when that changes lr by no more than ``eps``),
    then ``cooldown`` epochs pass before bad epochs count again. Same values as PyTorch.

    Args:
        optimizer: the wrapped optimizer.
        mode: 'min' (e.g. a loss) or 'max' (e.g. an accuracy).
        factor: multiplicative factor, < 1.
        patience: epochs without improvement tolerated before reducing.
        threshold: minimal change that counts as an improvement.
        threshold_mode: 'rel' or 'abs'.
        cooldown: epochs to wait after a reduction.
        min_lr: lower bound on the lr: one number, or one per parameter group.
        eps: minimal change of lr that is applied.

    Raises:
        TypeError: ``optimizer`` is not a lamina Optimizer.
        ValueError: ``factor >= 1``, an unknown mode or threshold_mode, or a ``min_lr`` list
            whose length differs from the number of groups.

    Example:
        >>> import lamina as lm
        >>> opt = lm.optim.SGD([lm.nn.Parameter(lm.zeros(1))], lr=1.0)
        >>> sched = lm.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=1, factor=0.5)
        >>> for loss in [3.0, 2.0, 2.0, 2.0, 2.0]:
        ...     sched.step(loss)
        >>> sched.get_last_lr()
        [0.5]
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr: float | list[float] = 0, eps: float = 1e-8) -> None:
        # LRScheduler.__init__ is not called: there is no epoch-indexed first step here
        where = "ReduceLROnPlateau"
        _check_optimizer(optimizer, where)
        if not factor < 1.0:
            raise ValueError(f"{where}: factor must be < 1, got factor={factor!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"{where}: mode must be 'min' or 'max', got mode={mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{where}: threshold_mode must be 'rel' or 'abs', got "
                             f"threshold_mode={threshold_mode!r}")
        self.optimizer = optimizer
        n_groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != n_groups:
                raise ValueError(f"{where}: min_lr has {len(min_lr)} values, the optimizer has "
                                 f"{n_groups} parameter groups")
            self.default_min_lr = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * n_groups
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.best = math.inf if mode == "min" else -math.inf
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def is_better(self, value: float, best: float) -> bool:
        """Whether ``value`` improves on ``best`` by more than the threshold."""
        if self.mode == "min":
            bound = best * (1 - self.threshold) if self.threshold_mode == "rel" \
                else best - self.threshold
            return value < bound
        bound = best * (1 + self.threshold) if self.threshold_mode == "rel" \
            else best + self.threshold
        return value > bound

    def step(self, metrics: float) -> None:
        """Record one epoch's metric (a number or a one-element Tensor) and maybe reduce lr."""
        current = float(metrics)
        self.last_epoch += 1
        if self.is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _reduce_lr(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau: the optimizer now has {len(groups)} "
                                 f"parameter groups but min_lr has {len(self.min_lrs)} values; "
                                 f"set scheduler.min_lrs to one value per group")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs, strict=True):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, min_lr)
            if old_lr - new_lr > self.eps:
                group["lr"] = new_lr
