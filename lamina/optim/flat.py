"""One contiguous buffer per parameter group, so that an update is a few whole-array ops.

An optimizer's update rule is elementwise, so it can run once on all the parameters of a group
laid end to end instead of once per parameter: Adam then costs about a dozen NumPy calls per
step whatever the number of layers, and each call streams through one long array.

:class:`FlatGroup` copies the parameters of a group into one array and re-points every
parameter's ``._data`` at its slice (a view, shaped as before), so that updating the flat array
updates the parameters, and layers see the new values with no copy back. Gradients are copied
into a second flat array at every step (one pass; an optimizer with a compiled kernel may read
them where they are instead, see ``Optimizer.update_group``), and the optimizer state lives in
flat arrays too; the per-parameter state dicts of :attr:`Optimizer.state` hold views into them, so
``state_dict()`` and ``load_state_dict()`` keep PyTorch's per-parameter layout.

The layout is checked at every step and rebuilt when something moved under it:

- a parameter's ``._data`` was rebound (``Module.to``/``double()``/``float()``, or
  ``p._data = array``): the flat buffer is rebuilt from the parameters' current values (in their
  new dtype) and the state is cast to it;
- ``Optimizer.state`` holds other dicts or arrays than the views it was given
  (``load_state_dict``, or a state entry replaced by hand): the flat state is rebuilt from them.

A group whose parameters differ in dtype, a step where some parameter has no gradient (it is
skipped, as PyTorch skips it) and parameters whose states differ (different step counts) fall
back to the per-parameter update, which runs the same rule on the views.

Rebinding a parameter's array bumps its version (``p._version``, as ``p.data = x`` does):
that is how the cached no-grad plans of :mod:`lamina.inference`, which hold parameter
arrays, learn that they must be rebuilt; nothing compares arrays across the two.

Caveat: a parameter's array changes identity once, at its first step; code that kept a
reference to the old array (``w = layer.weight._data`` before training) no longer sees updates.
Keep the Parameter, not its array. Two Parameters sharing one array, or one Parameter in two
optimizers, are not supported (each optimizer would keep re-pointing it).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from itertools import repeat
from typing import Any

import numpy as np

from lamina.tensor import Tensor, aligned_empty

_BASE = operator.attrgetter("base")


class FlatGroup:
    """The parameters of one group in one array, with flat gradient and state arrays.

    Args:
        params: the group's parameters, all of one floating dtype.

    Attributes:
        param: 1-D array of every parameter's values, end to end; each ``p._data`` is a view.
        grad: 1-D array of the same size, filled by :meth:`gather` (None until then).
        slices: the part of the flat arrays that belongs to each parameter.
        state: the group's state as whole-buffer arrays and shared scalars (``step``), or None
            before :meth:`flat_state` built it.
    """

    def __init__(self, params: list[Tensor]) -> None:
        dtype = params[0].dtype
        bounds = np.cumsum([0] + [p.numel() for p in params])
        self.params = list(params)
        self.slices = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.param = aligned_empty(int(bounds[-1]), dtype)  # (see aligned_empty)
        self._owner = self.param.base  # the buffer that every view's ``base`` is
        self.grad: np.ndarray | None = None  # allocated by the first gather()
        self.views: list[np.ndarray] = []
        for p, part in zip(self.params, self.slices, strict=True):
            view = self.param[part].reshape(p.shape)
            view[...] = p._data
            p._data = view
            p._bump_version()  # a new array: plans holding the old one rebuild
            self.views.append(view)
        self.state: dict[str, Any] | None = None
        self._dicts: list[dict] = []  # the per-parameter state dicts handed to the optimizer
        self._arrays: dict[str, np.ndarray] = {}  # the flat arrays those dicts hold views of
        self._array_views: dict[str, list[np.ndarray]] = {}

    @staticmethod
    def can_hold(params: list[Tensor]) -> bool:
        """Whether ``params`` can share one buffer (non-empty, one floating dtype)."""
        return bool(params) and all(p.dtype == params[0].dtype for p in params)

    def is_current(self, params: list[Tensor]) -> bool:
        """Whether ``params`` are still exactly this buffer's parameters, each ``._data`` still
        its view (false after ``p._data = ...``, ``Module.to``, or a changed group)."""
        if len(params) != len(self.params):
            return False
        owner = self._owner
        for p, q, view in zip(params, self.params, self.views, strict=True):
            if p is not q or p._data is not view or view.base is not owner:
                return False  # (a copied FlatGroup's views no longer share its buffer)
        return True

    def grads(self) -> list[np.ndarray] | None:
        """Every parameter's gradient as a 1-D array (a view where possible), or None when
        some parameter has no gradient."""
        grads = []
        for p in self.params:
            g = p.grad
            if g is None:
                return None
            grads.append((g._data if isinstance(g, Tensor) else np.asarray(g)).ravel())
        return grads

    def gather(self, grads: list[np.ndarray]) -> np.ndarray:
        """Copy ``grads`` (from :meth:`grads`) end to end into :attr:`grad` and return it."""
        if self.grad is None:
            self.grad = np.empty_like(self.param)
        return np.concatenate(grads, out=self.grad, casting="same_kind")

    def flat_state(self, states: dict[Tensor, dict[str, Any]],
                   init_state: Callable[[np.ndarray, dict[str, Any]], dict[str, Any]],
                   options: dict[str, Any]) -> dict[str, Any] | None:
        """The group's state as flat arrays, ready for one update of the whole buffer.

        Args:
            states: the optimizer's per-parameter state (updated in place when rebuilt).
            init_state: the optimizer's ``init_state(array, options)``, which makes the state
                of parameters seen for the first time (here of the whole flat buffer).
            options: the group's options, passed to ``init_state``.

        Returns:
            A dict of flat arrays and scalars shared by every parameter, or None when the
            parameters' states cannot be merged (some have state and others not, or their
            scalars such as ``step`` differ): then the caller updates parameter by parameter.
        """
        own = self._dicts
        if own and self.state is not None and self._still_ours(states):
            return self.state
        current = [states.get(p) for p in self.params]
        if all(s is None for s in current):
            merged = init_state(self.param, options)
        elif any(s is None for s in current):
            return None
        else:
            merged = self._merge(current)
            if merged is None:
                return None
        self.state = merged
        self._distribute(states)
        return merged

    def sync(self, states: dict[Tensor, dict[str, Any]]) -> None:
        """After an update of :attr:`state`: copy its scalars (``step``) into every parameter's
        dict, and hand out views of arrays the update created (e.g. SGD's first momentum)."""
        flat = self.state
        arrays = self._arrays
        for key, value in flat.items():
            if isinstance(value, np.ndarray) and arrays.get(key) is not value:
                self._distribute(states)
                return
        for key, value in flat.items():
            if key not in arrays:
                for own in self._dicts:
                    own[key] = value

    # ------------------------------------------------------------------ internals
    def _still_ours(self, states: dict[Tensor, dict[str, Any]]) -> bool:
        """Whether every parameter's state is still the dict handed out, holding the views
        of the flat arrays and the flat state's scalars (C-level loops: this runs every step)."""
        own = self._dicts
        if not all(map(operator.is_, map(states.get, self.params), own)):
            return False
        for key, views in self._array_views.items():
            base = self._arrays[key]
            if not (all(map(operator.is_, map(dict.get, own, repeat(key)), views))
                    and all(map(operator.is_, map(_BASE, views), repeat(base)))):
                return False
        for key, value in self.state.items():
            if key not in self._array_views and any(
                    map(operator.ne, map(dict.get, own, repeat(key)), repeat(value))):
                return False
        return True

    def _merge(self, current: list[dict[str, Any]]) -> dict[str, Any] | None:
        """One state from the parameters' states (arrays end to end), or None if they differ in
        keys or in a scalar, or hold an array not shaped as its parameter. Checks everything
        before copying anything."""
        keys = set(current[0])
        if any(set(s) != keys for s in current[1:]):
            return None
        arrays, merged = [], {}
        for key in current[0]:
            values = [s[key] for s in current]
            if all(isinstance(v, np.ndarray) and v.shape == p.shape
                   for v, p in zip(values, self.params, strict=True)):
                arrays.append((key, values))
            elif any(isinstance(v, np.ndarray) for v in values):
                return None
            elif all(v == values[0] for v in values[1:]):
                merged[key] = values[0]
            else:
                return None
        for key, values in arrays:
            flat = np.empty_like(self.param)
            for v, part in zip(values, self.slices, strict=True):
                flat[part] = v.reshape(-1)
            merged[key] = flat
        return {key: merged[key] for key in current[0]}

    def _distribute(self, states: dict[Tensor, dict[str, Any]]) -> None:
        """Give every parameter a fresh state dict holding views of the flat arrays."""
        flat = self.state
        self._arrays = {k: v for k, v in flat.items() if isinstance(v, np.ndarray)}
        self._array_views = {
            key: [value[part].reshape(p.shape) for p, part in
                  zip(self.params, self.slices, strict=True)]
            for key, value in flat.items() if isinstance(value, np.ndarray)}
        self._dicts = []
        for i, p in enumerate(self.params):
            own = {key: (self._array_views[key][i] if key in self._array_views else value)
                   for key, value in flat.items()}
            states[p] = own
            self._dicts.append(own)
