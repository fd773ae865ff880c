"""Optimizer: the base class of every optimizer (PyTorch's ``torch.optim.Optimizer`` semantics).

An optimizer holds ``param_groups`` (a list of dicts: ``"params"`` plus the options, read afresh
at every :meth:`Optimizer.step`) and ``state`` (per-parameter arrays created on first use, as
chainer's ``init_state``). A subclass supplies three things:

- ``_check_options(options)``: raise ``ValueError`` for an invalid option (run on the defaults
  and on every group added);
- ``init_state(param, group)``: the state dict of a parameter seen for the first time;
- ``update(param, grad, state, group)``: the update rule on NumPy arrays, writing ``param``
  and the state arrays in place. The rule must be elementwise: it runs once per step on all the
  parameters of a group laid end to end (see :mod:`lamina.optim.flat`), or on one parameter at
  a time when they cannot be merged; ``self.scratch(param, i)`` gives reusable work arrays.

``group`` there holds the options only, as Python scalars, so that scalar arithmetic never
promotes float32 arrays to float64.
"""

from __future__ import annotations

import copy
import numbers
import operator
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from lamina.optim.flat import FlatGroup
from lamina.tensor import Tensor, enable_grad

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]


class Optimizer:
    """Base class of the optimizers in :mod:`lamina.optim`.

    Args:
        params: an iterable of parameters (Tensors that require grad), or of dicts defining
            parameter groups: ``{"params": [...], "lr": 0.1, ...}``; options missing from a group
            take the optimizer's defaults.
        defaults: the default value of every option (``lr`` and the optimizer's others).

    Attributes:
        param_groups: list of dicts, each with ``"params"`` (a list) and every option. Changing
            ``group["lr"]`` takes effect at the next :meth:`step`.
        state: dict from parameter to its state dict (created at the parameter's first step);
            its arrays are views into the group's flat state buffers: change them in place
            (``state[p]["exp_avg"][...] = 0``) or replace them (then the buffers are rebuilt).
        defaults: the options a new group starts from.

    At its first step the optimizer moves each group's parameters into one contiguous buffer
    and re-points every ``p._data`` at its slice (see :mod:`lamina.optim.flat`): layers keep
    working as before, but an array taken from ``p._data`` before that step is a stale copy.

    Raises:
        TypeError: ``params`` is a single Tensor, a set, or holds something that is not a Tensor.
        ValueError: ``params`` is empty, a parameter appears twice, or an option is invalid.
    """

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self._check_options(self.defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        self._flat: dict[int, FlatGroup | None] = {}  # by group index, built at the first step
        self._option_cache: dict[int, tuple] = {}  # by group index: (group, values, options)
        self._scratch: dict[tuple, np.ndarray] = {}
        name = type(self).__name__
        if isinstance(params, Tensor) or isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered iterable of Tensors or of dicts "
                            f"(e.g. model.parameters()), got {type(params).__name__}")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list; pass model.parameters() of a "
                             f"model that has parameters")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ------------------------------------------------------------------ to override
    def _check_options(self, options: dict[str, Any]) -> None:
        """Raise ValueError naming an invalid option of ``options``; the base checks ``lr``."""
        check_non_negative(self, options, "lr")

    def init_state(self, param: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """The state of a parameter at its first step (arrays shaped and typed as ``param``)."""
        return {}

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        """Update ``param`` in place from ``grad``, its ``state`` and its group's options."""
        raise NotImplementedError(f"{type(self).__name__} must define update()")

    def update_group(self, flat: FlatGroup, grads: list[np.ndarray], state: dict[str, Any],
                     group: dict[str, Any]) -> None:
        """Update every parameter of a group at once: by default :meth:`update` on the whole
        flat buffer, with the gradients gathered end to end (a subclass with a compiled kernel
        may instead run it on each parameter's slice, reading ``grads`` in place).

        Args:
            flat: the group's buffers (``flat.param``, ``flat.slices``).
            grads: each parameter's gradient, 1-D.
            state: the group's state as flat arrays and shared scalars.
            group: the options, as Python scalars.
        """
        self.update(flat.param, flat.gather(grads), state, group)

    def scratch(self, like: np.ndarray, index: int = 0) -> np.ndarray:
        """A work array of ``like``'s shape and dtype, reused across steps (contents undefined;
        ``index`` tells apart several needed at once)."""
        key = (like.shape, like.dtype, index)
        buffer = self._scratch.get(key)
        if buffer is None:
            buffer = self._scratch[key] = np.empty_like(like)
        return buffer

    # ------------------------------------------------------------------ public API
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. a layer to fine-tune).

        Args:
            param_group: ``{"params": Tensor or iterable of Tensors, option: value, ...}``;
                missing options take :attr:`defaults`.

        Raises:
            TypeError: not a dict, or ``params`` is a set or holds a non-Tensor.
            ValueError: a parameter already in a group (or twice in this one), or a bad option.
        """
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}.add_param_group: expected a dict with key 'params', got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}.add_param_group: the group has no 'params' key "
                             f"(keys: {sorted(param_group)})")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: a group's params must be an ordered iterable, not a set "
                            f"(the order of a set changes between runs)")
        else:
            params = list(params)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got "
                                f"{type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"{name}: can only optimize floating-point Tensors, got dtype "
                                f"{p.dtype}")
            if id(p) in seen:
                raise ValueError(f"{name}: a parameter of shape {p.shape} appears twice in the "
                                 f"parameter groups; give each parameter once")
            seen.add(id(p))
        group = {**self.defaults, **param_group, "params": params}
        self._check_options(group)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's gradient: set it to None, or fill it with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad._data[...] = 0

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (parameters with ``grad`` None are skipped).
        Each updated parameter's version counter moves on (an in-place change): backward
        through a graph built before the step then raises RuntimeError, as in PyTorch.

        Args:
            closure: optional function that re-evaluates the model and returns the loss (it
                runs with gradients enabled, before the update).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for index, group in enumerate(self.param_groups):
            options = self._group_options(index, group)
            params = group["params"]
            flat = self._flat.get(index)
            if flat is None or not flat.is_current(params):
                flat = FlatGroup(params) if FlatGroup.can_hold(params) else None
                self._flat[index] = flat
            grads = flat.grads() if flat is not None else None
            if grads is not None:
                state = flat.flat_state(self.state, self.init_state, options)
                if state is not None:
                    self.update_group(flat, grads, state, options)
                    flat.sync(self.state)
                    _bump_versions(params)
                    continue
            for p in params:  # parameter by parameter (see lamina.optim.flat for when)
                if p.grad is None:
                    continue
                grad = p.grad._data if isinstance(p.grad, Tensor) else np.asarray(p.grad)
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self.init_state(p._data, options)
                self.update(p._data, grad, state, options)
            _bump_versions(params)
        return loss

    def _group_options(self, index: int, group: dict[str, Any]) -> dict[str, Any]:
        """:func:`_options` of ``group``, made again only when the group is another dict or
        one of its values another object than at the last step (a scheduler sets a new
        ``lr``): the same dict otherwise, which the update rules only read."""
        cached = self._option_cache.get(index)
        if (cached is not None and cached[0] is group and len(group) == len(cached[1])
                and all(map(operator.is_, group.values(), cached[1]))):
            return cached[2]
        options = _options(group)
        self._option_cache[index] = (group, tuple(group.values()), options)
        return options

    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state in PyTorch's layout, with parameters replaced by indices.

        Returns:
            ``{"state": {index: {name: array or number}}, "param_groups": [{option: value,
            ..., "params": [index, ...]}]}``; indices number the parameters in group order.
            Arrays are copies, so the result is a snapshot that later steps do not change.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            packed["params"] = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                packed["params"].append(index[id(p)])
            groups.append(packed)
        state = {index[id(p)]: {k: _copy_value(v) for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (of this optimizer class).

        State arrays are copied and cast to their parameter's dtype; group options are taken from
        ``state_dict`` while each group keeps its current parameters. Arrays may be NumPy arrays,
        lamina Tensors or anything ``np.asarray`` takes (torch tensors too).

        Raises:
            ValueError: the number of groups, a group's size, or a state array's shape differs.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            keys = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict)
            raise ValueError(f"{name}.load_state_dict: expected a dict with keys 'state' and "
                             f"'param_groups', got {keys}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the state has {len(saved_groups)} "
                             f"parameter groups, this optimizer has {len(self.param_groups)}")
        by_index: dict[int, Tensor] = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: group {i} has "
                                 f"{len(saved['params'])} parameters in the state, "
                                 f"{len(group['params'])} in this optimizer")
            by_index.update(zip(map(int, saved["params"]), group["params"], strict=True))
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved_state in state_dict["state"].items():
            if int(key) not in by_index:
                raise ValueError(f"{name}.load_state_dict: state for parameter index {key} "
                                 f"which no group lists")
            param = by_index[int(key)]
            new_state[param] = {k: _load_value(k, v, param, name)
                                for k, v in saved_state.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            # an option missing from the saved group keeps its current value
            new_group = {**group, **{k: copy.deepcopy(v) for k, v in saved.items()},
                         "params": group["params"]}
            self._check_options(new_group)
            new_groups.append(new_group)
        self.param_groups = new_groups
        self.state = new_state

    def __getstate__(self) -> dict[str, Any]:
        # a copy (pickle, deepcopy) rebuilds its flat buffers from the copied parameters
        return {**self.__dict__, "_flat": {}, "_scratch": {}, "_option_cache": {}}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params")
        lines.append(")")
        return "\n".join(lines)


_PLAIN = frozenset({float, int, bool, str, type(None)})


def _options(group: dict[str, Any]) -> dict[str, Any]:
    """The options of ``group`` (all but ``params``), NumPy scalars made Python numbers."""
    options = group.copy()
    del options["params"]
    for key, value in options.items():
        if type(value) not in _PLAIN:
            options[key] = _python_scalar(value)
    return options


def _python_scalar(value: Any) -> Any:
    """NumPy scalars as Python numbers: ``float32_array * np.float64(lr)`` would be float64."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_python_scalar(v) for v in value)
    return value


def _copy_value(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)


def _load_value(key: str, value: Any, param: Tensor, where: str) -> Any:
    """A saved state entry made ready for ``param``: arrays copied and cast, ``step`` an int."""
    if isinstance(value, Tensor):
        value = value._data
    if value is None or isinstance(value, (bool, numbers.Number)):
        return value
    array = np.asarray(value)
    if key == "step" and array.size == 1:
        return int(array.item())
    if array.shape != param.shape:
        raise ValueError(f"{where}.load_state_dict: state {key!r} has shape {array.shape}, "
                         f"its parameter has shape {param.shape}")
    return array.astype(param.dtype)  # always a copy


def check_non_negative(optimizer: Optimizer, options: dict[str, Any], key: str) -> None:
    """Raise unless ``options[key]`` is a real number >= 0 (TypeError / ValueError)."""
    value = options[key]
    name = type(optimizer).__name__
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {key} must be a real number, got {key}={value!r} "
                        f"({type(value).__name__})")
    if not value >= 0:
        raise ValueError(f"{name}: {key} must be >= 0, got {key}={value!r}")


def check_betas(optimizer: Optimizer, options: dict[str, Any]) -> None:
    """Raise unless ``options["betas"]`` is a pair of numbers in [0, 1)."""
    betas = options["betas"]
    name = type(optimizer).__name__
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got betas={betas!r}")
    for i, beta in enumerate(betas):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta < 1:
            raise ValueError(f"{name}: betas[{i}] must be in [0, 1), got betas={betas!r}")


def contiguous(*arrays: np.ndarray) -> bool:
    """Whether every array is C-contiguous (so ``reshape(-1)`` is a view a kernel can write)."""
    return all(a.flags.c_contiguous for a in arrays)


def grad_with_decay(param: np.ndarray, grad: np.ndarray, weight_decay: float,
                    maximize: bool, out: np.ndarray | None = None) -> np.ndarray:
    """g = (-grad if maximize else grad) + weight_decay * param, without touching ``grad``.

    Returns ``grad`` itself when there is nothing to add (callers never write into it), else
    the result in ``out`` (a new array when None).
    """
    if not maximize and weight_decay == 0:
        return grad
    if weight_decay == 0:
        return np.negative(grad, out=out)
    g = np.multiply(param, weight_decay, out=out)
    return np.subtract(g, grad, out=g) if maximize else np.add(g, grad, out=g)


def _bump_versions(params) -> None:
    """Record the in-place update of each parameter that had a gradient (its version
    counter), so that backward through a graph built before the step raises, as PyTorch."""
    for p in params:
        if p.grad is not None:
            p._version += 1
