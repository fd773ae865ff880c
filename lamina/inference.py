"""Layer patterns and the no-grad inference plan: how a chain of layers runs fast.

A container whose ``forward`` applies its children in order (:class:`lamina.nn.Sequential`,
or any Module that calls :func:`forward`) runs through this module:

- in grad mode, :func:`layer_steps`: each run of two Linear layers or more (each followed
  by a ReLU or not, the last one without) is the one op
  :func:`lamina.ops.linalg.linear_chain`, each other run of
  children that matches a pattern of :data:`PATTERNS` is one fused op (same values and
  gradients, less time and memory), every other child is called as usual;
- under ``lm.no_grad()``, :func:`plan`: the children become a :class:`Plan`, a list of
  steps from array to array. Known layers run their op's forward on the arrays (no Tensors
  in between, nothing kept for a backward pass), fused patterns run prepared programs, and
  other children are called on a Tensor as usual.

Which layers are known: :data:`LAYER_OPS` maps a layer class (exactly: a subclass may change
``forward``) to the op it runs; :mod:`lamina.nn.container` registers Conv2d ("conv2d"),
ReLU ("relu"), MaxPool2d ("max_pool2d"), Flatten ("flatten"), Linear ("linear") and
BatchNorm2d ("batch_norm": a pattern's first layer in training mode, a module call in the
plan) with :func:`register_layer` (this module does not import :mod:`lamina.nn`, which
imports it).

When a plan is rebuilt (:meth:`Plan.current`): when a child is replaced, when the compiled
kernels in use change (:func:`lamina.kernels.numba_kernels`), or when a parameter that a step
holds changes its version stamp or is replaced. Every Tensor has a ``_version`` that in-place
operators, item assignment and ``p.data = ...`` bump; code that rebinds a parameter's array
(``p._data = ...``) bumps it too: the optimizers' flat buffers
(:class:`lamina.optim.flat.FlatGroup`), ``Module.to`` and ``Module.load_state_dict``. So a
plan never compares arrays; it holds the arrays of the versions it was built from. Layer
settings (stride, padding, pool sizes, Flatten's dims) are read when a step runs.

The code paths of Conv2d -> ReLU -> MaxPool2d (which one runs when):

1. grad mode: the op :func:`lamina.ops.conv.conv2d_relu_max_pool2d`, which picks its
   kernels through :func:`lamina.kernels.registry.select`:

   a. ``small_conv_relu_pool_2x2`` (``[fast]``, few weights, 2 x 2 pool of stride 2, e.g.
      LeNet-5's conv1): convolution, pool, bias and ReLU in one compiled pass;
   b. otherwise the convolution as im2col + GEMM (``_conv_forward``: the whole matrix,
      blocks of rows above FULL_COL_BYTES, or the wide matrix for short rows, WIDE_RUN; or
      ``small_conv_forward`` for few weights), then the window max with bias and ReLU
      (``max_pool_bias_relu`` compiled, or NumPy, whose argmax is found in the backward
      pass);

2. no grad, one program per input shape (:func:`lamina.ops.conv.conv2d_relu_max_pool2d_program`):

   a. ``[fast]`` and at most DIRECT_MAX_BATCH images, stride 1, no pool padding:
      ``conv_relu_max_pool_direct``, one compiled call (batch-1 latency);
   b. pure NumPy, one image, stride 1, 2 x 2 pool: the NumPy steps on (C, H, W) arrays
      with everything but the arithmetic prepared (``_conv_relu_pool_one``);
   c. pure NumPy otherwise: path 1b's NumPy steps, bias and ReLU in place (none of the
      op's bookkeeping for a backward pass);
   d. otherwise (``[fast]``, larger batches) the op's forward value (path 1).

A Conv2d not followed by ReLU and MaxPool2d runs the op ``conv2d`` (path 1b without the
pool). A Module subclass whose ``forward`` calls ``F.max_pool2d(F.relu(self.conv(x)), 2)``
(or ``F.relu(self.fc(x))``) gets the same backward pass through the folding of
:mod:`lamina.functional` (the ReLU applied in place to the conv's output, which nothing else
holds, and the pool's backward fused with it), and the compiled kernels per op. The sizes
are in :mod:`lamina.kernels.thresholds`; every compiled kernel is
registered, with its eligibility check, in :mod:`lamina.kernels.registry`.

Example:
    >>> import lamina as lm
    >>> model = lm.nn.Sequential(lm.nn.Linear(3, 4), lm.nn.ReLU(), lm.nn.Linear(4, 2))
    >>> with lm.no_grad():
    ...     plan(model)(lm.ones(1, 3).numpy()).shape
    (1, 2)
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lamina import functional as F
from lamina import kernels
from lamina.convsize import as_pair
from lamina.kernels import thresholds as T
from lamina.ops import OPS
from lamina.ops.conv import conv2d_relu_max_pool2d_program
from lamina.ops.linalg import LinearChain
from lamina.tensor import Tensor, apply, is_grad_enabled

#: layer class -> the op it runs, for the classes registered with :func:`register_layer`
LAYER_OPS: dict[type, str] = {}


def register_layer(cls: type, op: str) -> None:
    """Declare that instances of exactly ``cls`` run ``op`` ("conv2d", "relu", "max_pool2d",
    "flatten" or "linear"), reading the settings that layer class has (see the steps)."""
    if op not in _SINGLE_STEPS and op != "linear":
        raise ValueError(f"register_layer: unknown op {op!r}; expected one of "
                         f"{sorted([*_SINGLE_STEPS, 'linear'])}")
    LAYER_OPS[cls] = op


# ------------------------------------------------------------------ grad mode: fused ops


def conv_relu_max_pool(conv, pool, x) -> Tensor:
    """``pool(relu(conv(x)))`` as the op ``conv2d_relu_max_pool2d`` (see
    :func:`lamina.nn.conv.conv_relu_max_pool`), reading the layers' parameters and settings
    now."""
    params, name = conv._parameters, "MaxPool2d"
    return apply(OPS["conv2d_relu_max_pool2d"], x if isinstance(x, Tensor) else Tensor(x),
                 params["weight"], params.get("bias"), stride=conv.stride,
                 padding=conv.padding,
                 pool_kernel_size=as_pair(pool.kernel_size, name, "kernel_size"),
                 pool_stride=as_pair(pool.stride, name, "stride"),
                 pool_padding=as_pair(pool.padding, name, "padding"))


def linear_relu(linear, x) -> Tensor:
    """``relu(linear(x))`` as one op (:func:`lamina.nn.linear.linear_relu`), reading the
    parameters now."""
    return F.linear_relu(x, *linear._weight_and_bias())


def linear_run(layers, relus: tuple[bool, ...], x) -> Tensor:
    """Linear layers applied in turn, each through ReLU where ``relus`` says, as the one op
    :func:`lamina.ops.linalg.linear_chain`, reading the parameters now."""
    params = []
    for layer in layers:
        params += layer._weight_and_bias()
    if not isinstance(x, Tensor):
        x = F._tensor(x, like=params[0])
    return apply(OPS["linear_chain"], x, *params, relus=relus)


def _linear_run(ops: list, i: int, most: int | None = None) -> tuple[int, tuple[bool, ...]]:
    """(the number of children, the ReLU flags) of the run of Linear layers, each followed by
    a ReLU or not, that starts at child ``i`` (0 children, () when none does); at most
    ``most`` layers when given."""
    j, relus = i, []
    while j < len(ops) and ops[j] == "linear" and (most is None or len(relus) < most):
        relu = j + 1 < len(ops) and ops[j + 1] == "relu"
        relus.append(relu)
        j += 1 + relu
    return j - i, tuple(relus)


def _grad_linear_run(ops: list, i: int) -> tuple[int, tuple[bool, ...]]:
    """The run of :func:`_linear_run` that grad mode computes as one linear_chain op: at
    most LINEAR_CHAIN_MAX_LAYERS layers, ending at a Linear without ReLU (the Linear + ReLU
    pairs after it run as linear_relu, whose backward reads its own output)."""
    count, relus = _linear_run(ops, i, T.LINEAR_CHAIN_MAX_LAYERS)
    while relus and relus[-1]:
        count, relus = count - 2, relus[:-1]
    return count, relus


@dataclass(frozen=True)
class Pattern:
    """A run of layers fused into one op in grad mode.

    Attributes:
        ops: the layers' ops, in order (each layer's entry of :data:`LAYER_OPS`).
        fused: the op of :data:`lamina.ops.OPS` it runs.
        step: ``step(*layers)`` -> a function from Tensor to Tensor.
    """

    ops: tuple[str, ...]
    fused: str
    step: Callable


#: the conv block, a pattern of both modes
CONV_BLOCK = ("conv2d", "relu", "max_pool2d")

#: the grad-mode patterns, tried in order at each child that does not start a run of two
#: Linear layers or more (:func:`linear_run`; the no-grad plan fuses the conv block too, and
#: whole runs of Linear layers each with its ReLU or not, see :func:`plan`)
PATTERNS: tuple[Pattern, ...] = (
    Pattern(("conv2d", "batch_norm", "relu", "max_pool2d"), "conv2d_batch_norm_relu_max_pool2d",
            lambda conv, norm, relu, pool: lambda x: norm.conv_relu_max_pool(conv, relu, pool,
                                                                             x)),
    Pattern(CONV_BLOCK, "conv2d_relu_max_pool2d",
            lambda conv, relu, pool: lambda x: conv_relu_max_pool(conv, pool, x)),
    Pattern(("linear", "relu"), "linear_relu",
            lambda linear, relu: lambda x: linear_relu(linear, x)),
    Pattern(("batch_norm", "relu", "max_pool2d"), "batch_norm_relu_max_pool2d",
            lambda norm, relu, pool: lambda x: norm.relu_max_pool(relu, pool, x)),
)


def _ops(children) -> list[str | None]:
    # a layer whose op cannot express its settings (a dilated or grouped Conv2d) says so by
    # ``plain_op = False`` and is called as a module
    return [LAYER_OPS.get(type(m)) if getattr(m, "plain_op", True) else None
            for m in children]


def _matches(ops: list, i: int, pattern: tuple[str, ...]) -> bool:
    return tuple(ops[i:i + len(pattern)]) == pattern


def layer_steps(module) -> tuple[Callable, ...]:
    """The grad-mode forward pass of ``module``'s children, as steps from Tensor to Tensor:
    each run of two Linear layers or more (each with its ReLU or not, the last one without)
    is one step (:func:`linear_run`), each other run that matches a pattern of
    :data:`PATTERNS` is one step, every other child is called. Built again when the children
    are not the same objects as last time."""
    children = tuple(module._modules.values())
    cache = _cache(module)
    if cache.steps is not None and cache.steps[0] == children:
        return cache.steps[1]
    ops, steps, i = _ops(children), [], 0
    while i < len(children):
        count, relus = _grad_linear_run(ops, i)
        if len(relus) > 1:  # two Linear layers or more: one op
            layers = [m for m, op in zip(children[i:i + count], ops[i:i + count], strict=True)
                      if op == "linear"]
            steps.append(lambda x, layers=layers, relus=relus: linear_run(layers, relus, x))
            i += count
            continue
        for pattern in PATTERNS:
            if _matches(ops, i, pattern.ops):
                steps.append(pattern.step(*children[i:i + len(pattern.ops)]))
                i += len(pattern.ops)
                break
        else:
            steps.append(children[i])
            i += 1
    cache.steps = (children, tuple(steps))
    return cache.steps[1]


def forward(module, x):
    """``module``'s children applied in order to ``x``, the way :class:`lamina.nn.Sequential`
    runs them: through :func:`plan` under ``lm.no_grad()`` (for a Tensor input), else
    through :func:`layer_steps`."""
    if isinstance(x, Tensor) and not is_grad_enabled():
        out = plan(module).run(x._data)
        return Tensor._wrap(out) if isinstance(out, np.ndarray) else out
    for step in layer_steps(module):
        x = step(x)
    return x


# ------------------------------------------------------------------ no grad: the plan


class Plan:
    """The no-grad forward pass of a chain of children, as steps from array to array.

    Built by :func:`plan`; call it on an array. It holds the parameter arrays of the
    versions it was built from, and :meth:`current` says whether it still may run.
    """

    def __init__(self, children: tuple) -> None:
        self.children = children
        self.fast = kernels.numba_available()
        self.compiled = kernels.numba_kernels()
        self._tables: list[dict] = []  # (parameter table, name) of every parameter held
        self._names: list[str] = []
        self.steps = self._build(list(children))
        held = tuple(map(dict.get, self._tables, self._names))  # (None: no bias)
        #: (parameter table, name, the Tensor held or None, its version) per parameter
        self._checks = tuple(zip(self._tables, self._names, held,
                                 [None if p is None else p._version for p in held],
                                 strict=True))
        steps = self.steps
        #: ``run(x)``: the steps applied in turn (the one step itself when there is one)
        self.run = steps[0] if len(steps) == 1 else self._run_all

    def current(self, children: tuple) -> bool:
        """Whether this plan still computes the children's forward pass: the same children,
        the same kernels in use, and every parameter it holds the same Tensor at the same
        version."""
        if children != self.children or kernels.numba_available() is not self.fast:
            return False
        # a plain loop: half the time of the same tests as map/all chains (6 parameters)
        for table, name, held, version in self._checks:
            p = table.get(name)
            if p is not held or (p is not None and p._version != version):
                return False
        return True

    def __call__(self, x):
        return self.run(x)

    def _run_all(self, x):
        for step in self.steps:
            x = step(x)
        return x

    # ---------------------------------------------------------------- building
    def _array(self, layer, name: str):
        """The array of ``layer``'s parameter ``name`` (None when it has none), held."""
        table = layer._parameters
        self._tables.append(table)
        self._names.append(name)
        p = table.get(name)
        return None if p is None else p._data

    def _build(self, children: list) -> list[Callable]:
        ops, steps, i = _ops(children), [], 0
        while i < len(children):
            m, op = children[i], ops[i]
            if _matches(ops, i, CONV_BLOCK):
                steps.append(self._conv_block(m, children[i + 2]))
                i += 3
            elif op == "linear":  # a run of Linear layers, each with its ReLU or not
                count, relus = _linear_run(ops, i)
                layers = [m for m, o in zip(children[i:i + count], ops[i:i + count],
                                            strict=True) if o == "linear"]
                i += count
                arrays = [(self._array(layer, "weight"), self._array(layer, "bias"))
                          for layer in layers]
                chain = LinearChain([w for w, _ in arrays], [b for _, b in arrays],
                                    tuple(relus))
                steps.append(chain.bind(kernels.numba_kernels("linear")))
            elif op == "conv2d":
                steps.append(_conv_step(m, self._array(m, "weight"), self._array(m, "bias")))
                i += 1
            elif op is not None:
                steps.append(_SINGLE_STEPS[op](m))
                i += 1
            else:
                steps.append(_module_step(m))
                i += 1
        return steps

    def _conv_block(self, conv, pool) -> Callable:
        """``x -> conv2d_relu_max_pool2d_program(x, ...)(x)``: the programs of the last
        KEPT_PROGRAMS input shapes (and settings) are kept, most recent first."""
        weight, bias = self._array(conv, "weight"), self._array(conv, "bias")
        compiled = self.compiled
        kept: list = [()]  # ((what it was built for, program), ...), newest first

        def step(x):
            state = (x.shape, x.dtype, conv.stride, conv.padding, pool.kernel_size,
                     pool.stride, pool.padding)
            programs = kept[0]
            for held in programs:  # (the first, most often)
                if held[0] == state:
                    if held is not programs[0]:
                        kept[0] = (held,) + tuple(h for h in programs if h is not held)
                    return held[1](x)
            held = (state, conv2d_relu_max_pool2d_program(
                x, weight, bias, conv.stride, conv.padding, *_pool_options(pool), compiled))
            kept[0] = (held,) + programs[:T.KEPT_PROGRAMS - 1]
            return held[1](x)

        return step


def plan(module) -> Plan:
    """The no-grad plan of ``module``'s children (applied in order), built again when
    :meth:`Plan.current` says so."""
    children = tuple(module._modules.values())
    cache = _CACHES.get(id(module))  # (_cache inlined: this runs at every no-grad call)
    if cache is None or cache.owner() is not module:
        cache = _cache(module)
    elif cache.plan is not None and cache.plan.current(children):
        return cache.plan
    cache.plan = Plan(children)
    return cache.plan


# ------------------------------------------------------------------ the caches


class _Cache:
    """What :func:`layer_steps` and :func:`plan` built for one module."""

    __slots__ = ("owner", "steps", "plan")

    def __init__(self, owner) -> None:
        self.owner, self.steps, self.plan = owner, None, None


# id(module) -> its _Cache, holding a weak reference to the module. Kept here, not in the
# module: a copy (copy.deepcopy) or a saved model never carries steps bound to the
# original's children, and an entry goes when its module does.
_CACHES: dict[int, _Cache] = {}


def _cache(module) -> _Cache:
    key = id(module)
    cache = _CACHES.get(key)
    if cache is None or cache.owner() is not module:
        cache = _CACHES[key] = _Cache(weakref.ref(module, lambda _, key=key: _drop(key)))
    return cache


def _drop(key: int) -> None:
    cache = _CACHES.get(key)
    if cache is not None and cache.owner() is None:
        del _CACHES[key]


# ------------------------------------------------------------------ single steps


def _conv_step(conv, weight, bias) -> Callable:
    def step(x):
        return OPS["conv2d"](x, weight, bias, stride=conv.stride, padding=conv.padding)[0]
    return step


def _relu_step(layer) -> Callable:
    relu = OPS["relu"]
    return lambda x: relu(x)[0]


def _max_pool_step(pool) -> Callable:
    max_pool = OPS["max_pool2d"]
    return lambda x: max_pool(x, *_pool_options(pool))[0]


def _flatten_step(layer) -> Callable:
    def step(x):
        """``Tensor.flatten`` on an array: merge dims start_dim..end_dim."""
        shape = x.shape
        if not shape:
            return x.reshape(1)
        start, end = layer.start_dim % len(shape), layer.end_dim % len(shape)
        return x.reshape(shape[:start] + (math.prod(shape[start:end + 1]),) + shape[end + 1:])
    return step


def _module_step(module) -> Callable:
    """A child the plan has no step for, called as a module. A layer that returns something
    else than a Tensor (a recurrent layer's ``(output, states)``) hands it on unchanged, as
    ``Sequential`` does with grad on."""

    def step(x):
        out = module(Tensor._wrap(x) if isinstance(x, np.ndarray) else x)
        return out._data if isinstance(out, Tensor) else out

    return step


_SINGLE_STEPS: dict[str, Callable] = {"conv2d": None, "relu": _relu_step,
                                      "max_pool2d": _max_pool_step, "flatten": _flatten_step,
                                      "batch_norm": _module_step}


def _pair(value, name: str) -> tuple[int, int]:
    if type(value) is int:
        return value, value
    return as_pair(value, "MaxPool2d", name)


def _pool_options(pool) -> tuple[tuple[int, int], ...]:
    """(kernel_size, stride, padding) of a MaxPool2d as pairs."""
    return (_pair(pool.kernel_size, "kernel_size"), _pair(pool.stride, "stride"),
            _pair(pool.padding, "padding"))


__all__ = ["LAYER_OPS", "PATTERNS", "Pattern", "Plan", "conv_relu_max_pool", "forward",
           "layer_steps", "linear_relu", "linear_run", "plan", "register_layer"]
