"""Float64 finite-difference gradchecks of every registered op (lamina.ops.OPS).

``CASES`` maps each op name to input builders; each builder takes a NumPy generator and returns
``(fn, inputs)``. An op registered without a case fails ``test_every_op_has_a_case``. Ops from
``lamina/ops/conv.py`` are checked in ``tests/ops/test_conv.py``, those of the modules in
``CHECKED_ELSEWHERE`` in ``tests/ops/test_gradcheck_layers.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import lamina as lm
from lamina.ops import FRESH_GRADS, OPS
from lamina.tensor import apply
from lamina.testing import gradcheck

Builder = Callable[[np.random.Generator], tuple[Callable, list]]


def leaf(data) -> lm.Tensor:
    return lm.tensor(np.asarray(data, dtype=np.float64), requires_grad=True)


def randn(rng, *shape) -> lm.Tensor:
    return leaf(rng.standard_normal(shape))


def positive(rng, *shape) -> lm.Tensor:
    return leaf(rng.uniform(0.5, 2.0, shape))


def away_from_zero(rng, *shape, margin: float = 0.1) -> lm.Tensor:
    """Values with |x| >= margin, so that kinks (abs, relu, clip) are not straddled by eps."""
    magnitude = rng.uniform(margin, 1.5, shape)
    return leaf(np.where(rng.random(shape) < 0.5, -magnitude, magnitude))


def _inside_unit(rng, *shape) -> lm.Tensor:
    """Values in (-0.9, 0.9), inside the domain of asin and acos with room for eps."""
    return leaf(rng.uniform(-0.9, 0.9, shape))


def _off_integers(rng, *shape) -> lm.Tensor:
    """Values at least 0.1 from any integer or half-integer (the steps of floor, round, sign)."""
    return leaf(rng.integers(-3, 3, shape) + rng.choice([0.2, 0.3, 0.7, 0.8], size=shape))


def op(name: str, **options) -> Callable:
    return lambda *inputs: apply(OPS[name], *inputs, **options)


def case(name: str, *shapes, make=randn, **options) -> Builder:
    """A builder for op ``name`` with one random input per shape."""
    return lambda rng: (op(name, **options), [make(rng, *s) for s in shapes])


def const_case(name: str, shape, constant, **options) -> Builder:
    """A builder whose second operand is a constant (no gradient)."""
    return lambda rng: (op(name, **options), [randn(rng, *shape), constant])


BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1)), ((), (3,)),
                    ((2, 3), (1, 1))]


def binary_cases(name: str, make=randn) -> list[Builder]:
    return [case(name, a, b, make=make) for a, b in BROADCAST_SHAPES] + [
        const_case(name, (2, 3), 1.5), const_case(name, (2, 3), np.full(3, 0.7))]


def reduction_cases(name: str) -> list[Builder]:
    axes = [None, 0, 1, -1, (0, 2), (-1, 0)]
    return [case(name, (2, 3, 4), axis=a, keepdims=k) for a in axes for k in (False, True)] + [
        case(name, (5,), axis=None), case(name, (), axis=None)]


def _power_with_exponent(rng):
    return op("power"), [positive(rng, 2, 3), randn(rng, 3)]


def _power_const_base(rng):
    return (lambda b: apply(OPS["power"], 2.0, b)), [randn(rng, 2, 3)]


def _where(cond_shape, a_shape, b_shape):
    def build(rng):
        cond = rng.random(cond_shape) < 0.5
        return (lambda a, b: apply(OPS["where"], cond, a, b)), [randn(rng, *a_shape),
                                                                  randn(rng, *b_shape)]
    return build


def _getitem(shape, index):
    return lambda rng: (op("getitem", index=index), [randn(rng, *shape)])


def _bool_mask(rng):
    x = randn(rng, 3, 4)
    mask = rng.random((3, 4)) < 0.5
    return op("getitem", index=mask), [x]


def _row_mask(rng):
    return op("getitem", index=np.array([True, False, True])), [randn(rng, 3, 4)]


def _concat(*shapes, axis):
    return lambda rng: (lambda *xs: apply(OPS["concatenate"], *xs, axis=axis),
                        [randn(rng, *s) for s in shapes])


def _stack(n, shape, axis):
    return lambda rng: (lambda *xs: apply(OPS["stack"], *xs, axis=axis),
                        [randn(rng, *shape) for _ in range(n)])


def _linear(x_shape, out_features, bias=True, name="linear"):
    def build(rng):
        inputs = [randn(rng, *x_shape), randn(rng, out_features, x_shape[-1])]
        if bias:
            inputs.append(randn(rng, out_features))
        return op(name), inputs
    return build


def _linear_const_x(rng):
    x = rng.standard_normal((4, 3))
    return (lambda w, b: apply(OPS["linear"], x, w, b)), [randn(rng, 2, 3), randn(rng, 2)]


def _chain(x_shape, widths, relus, bias=True, const_x=False, frozen=()):
    """linear_chain through layers of ``widths`` outputs; ``const_x``: the input needs no
    gradient (the first layers' input gradients are skipped); ``frozen``: indices of
    parameters (0 = W_1, 1 = b_1, ...) passed as plain arrays."""
    def build(rng):
        x = rng.standard_normal(x_shape) if const_x else randn(rng, *x_shape)
        params, inputs, width = [], [], x_shape[-1]
        for out in widths:
            params += [randn(rng, out, width), randn(rng, out) if bias else None]
            width = out
        params = [p.numpy() if i in frozen else p for i, p in enumerate(params)]
        inputs = [p for p in params if isinstance(p, lm.Tensor)]
        chain = op("linear_chain", relus=relus)

        def fn(*ts):
            it = iter(ts if const_x else ts[1:])
            args = [next(it) if isinstance(p, lm.Tensor) else p for p in params]
            return chain(x if const_x else ts[0], *args)
        return fn, inputs if const_x else [x, *inputs]
    return build


def _clip(**bounds):
    return lambda rng: (op("clip", **bounds), [leaf(rng.choice([-1.3, -0.7, 0.2, 0.6, 1.4],
                                                                size=(3, 4))
                                                     + rng.uniform(-0.05, 0.05, (3, 4)))])


def _maximum_const(rng):
    return (lambda a: apply(OPS["maximum"], a, 0.0)), [away_from_zero(rng, 3, 4)]


def _maximum_no_ties(a_shape, b_shape):
    def build(rng):
        a, b = randn(rng, *a_shape), randn(rng, *b_shape)
        return op("maximum"), [a, b]
    return build


def _loss_pair(name, shape, make_target=randn, **options):
    return lambda rng: (op(name, **options), [randn(rng, *shape), make_target(rng, *shape)])


def _l1(reduction):
    def build(rng):
        x = randn(rng, 3, 4)
        target = leaf(x.data + np.asarray(away_from_zero(rng, 3, 4).data))
        return op("l1_loss", reduction=reduction), [x, target]
    return build


def _cross_entropy_index(reduction="mean", weighted=False, label_smoothing=0.0, n=5, c=4):
    def build(rng):
        target = np.array([0, 3, 3, 1, 2][:n])
        weight = rng.uniform(0.5, 2.0, c) if weighted else None
        fn = op("cross_entropy", weight=weight, reduction=reduction,
                label_smoothing=label_smoothing)
        return (lambda z: fn(z, target)), [randn(rng, n, c)]
    return build


def _cross_entropy_prob(reduction="mean", weighted=False, label_smoothing=0.0):
    def build(rng):
        probs = rng.random((4, 3))
        probs /= probs.sum(axis=1, keepdims=True)
        weight = rng.uniform(0.5, 2.0, 3) if weighted else None
        fn = op("cross_entropy", weight=weight, reduction=reduction,
                label_smoothing=label_smoothing)
        return fn, [randn(rng, 4, 3), leaf(probs)]
    return build


def _bce(reduction="mean", weight=False, pos_weight=False, scale=1.0, shape=(4, 3)):
    def build(rng):
        w = rng.uniform(0.5, 2.0, shape) if weight else None
        pw = rng.uniform(0.5, 3.0, shape[-1:]) if pos_weight else None
        fn = op("binary_cross_entropy_with_logits", weight=w, pos_weight=pw, reduction=reduction)
        logits = leaf(scale * rng.standard_normal(shape))
        return fn, [logits, leaf(rng.random(shape))]
    return build


REDUCTIONS = ["mean", "sum", "none"]

CASES: dict[str, list[Builder]] = {
    # elementwise
    "add": binary_cases("add"),
    "sub": binary_cases("sub"),
    "mul": binary_cases("mul"),
    "div": [case("div", a, b, make=positive) for a, b in BROADCAST_SHAPES]
    + [const_case("div", (2, 3), 1.5), lambda rng: (op("div"), [2.0, positive(rng, 2, 3)])],
    "neg": [case("neg", (3, 4)), case("neg", ())],
    "power": [case("power", a, b, make=positive) for a, b in BROADCAST_SHAPES]
    + [lambda rng: (op("power"), [randn(rng, 2, 3), 3.0]), _power_with_exponent,
       _power_const_base],
    "exp": [case("exp", (3, 4)), case("exp", ())],
    "log": [case("log", (3, 4), make=positive)],
    "sqrt": [case("sqrt", (3, 4), make=positive)],
    "absolute": [case("absolute", (3, 4), make=away_from_zero)],
    # einsum (lamina/ops/einsum.py)
    "einsum": [case("einsum", (3, 4), (4, 2), equation="ij,jk->ik"),
               case("einsum", (2, 3, 4), (2, 4, 5), equation="bij,bjk->bik"),
               case("einsum", (3, 4), equation="ij->j"),
               case("einsum", (3, 4), (4,), equation="ij,j"),
               case("einsum", (3,), (4,), equation="i,j->ij"),
               case("einsum", (2, 3), (3, 4), (4, 5), equation="ab,bc,cd->ad"),
               case("einsum", (2, 3), (2, 3), equation="ij,ij->"),
               case("einsum", (2, 3, 4), (4,), equation="abc,c->ba")],
    # scans (lamina/ops/scan.py)
    "cumsum": [case("cumsum", (5,)), case("cumsum", (3, 4), axis=1),
               case("cumsum", (2, 3, 4), axis=-2)],
    # unary (lamina/ops/unary.py)
    **{name: [case(name, (3, 4)), case(name, ())]
       for name in ["sin", "cos", "tan", "arctan", "sinh", "cosh", "expm1"]},
    **{name: [case(name, (3, 4), make=_inside_unit)] for name in ["arcsin", "arccos"]},
    **{name: [case(name, (3, 4), make=positive)] for name in ["log1p", "log2", "log10"]},
    **{name: [case(name, (3, 4), make=_off_integers)]
       for name in ["floor", "ceil", "rint", "trunc", "sign"]},
    "clip": [_clip(min=-1.0, max=1.0), _clip(min=0.0), _clip(max=0.5)],
    "maximum": [_maximum_no_ties((3, 4), (3, 4)), _maximum_no_ties((3, 4), (4,)),
                _maximum_no_ties((2, 1), (1, 3)), _maximum_const],
    "where": [_where((3, 4), (3, 4), (3, 4)), _where((3, 4), (4,), (3, 1)),
              _where((2, 1, 4), (3, 4), ())],
    # reductions
    "sum": reduction_cases("sum"),
    "mean": reduction_cases("mean"),
    "max": reduction_cases("max"),
    "min": reduction_cases("min"),
    # shape
    "reshape": [case("reshape", (2, 6), shape=(3, 4)), case("reshape", (2, 3, 2), shape=(-1,)),
                case("reshape", (4,), shape=(2, 1, 2))],
    "transpose": [case("transpose", (2, 3)), case("transpose", (2, 3, 4), axes=(1, 2, 0)),
                  case("transpose", (2, 3, 4), axes=(-1, 0, 1))],
    "getitem": [
        _getitem((5, 4), 2),
        _getitem((5, 4), -1),
        _getitem((5, 4), slice(1, 4)),
        _getitem((5, 4), (slice(None, None, 2), slice(1, None))),
        _getitem((5, 4), (Ellipsis, None, 1)),
        _getitem((2, 3, 4), (1, slice(None), -2)),
        _getitem((5, 4), np.array([0, 2, 2, 4, 0])),  # fancy, repeated rows
        _getitem((5, 4), [3, 3, 1]),
        _getitem((5, 4), (np.array([0, 1, 1, 4]), np.array([3, 2, 2, 0]))),  # repeated pairs
        _getitem((5, 4), (slice(1, 3), [0, 0, 3])),
        _getitem((2, 3, 4), (np.array([[0, 1], [1, 1]]), slice(None), 2)),
        _bool_mask,
        _row_mask,
    ],
    "concatenate": [_concat((2, 3), (4, 3), axis=0), _concat((2, 3), (2, 1), (2, 2), axis=1),
                    _concat((2, 3, 2), (2, 3, 1), axis=-1)],
    "stack": [_stack(3, (2, 3), axis=0), _stack(2, (2, 3), axis=-1), _stack(2, (), axis=0)],
    "pad": [case("pad", (2, 3), pad_width=((1, 0), (2, 1))),
            case("pad", (1, 2, 3, 3), pad_width=((0, 0), (0, 0), (1, 1), (2, 2)), value=1.5)],
    # linalg
    "matmul": [case("matmul", (3, 4), (4, 2)),
               case("matmul", (2, 3, 4), (4, 5)),
               case("matmul", (2, 3, 4), (2, 4, 5)),
               case("matmul", (2, 1, 3, 4), (3, 4, 2)),
               case("matmul", (4,), (4, 3)),
               case("matmul", (3, 4), (4,)),
               case("matmul", (4,), (4,)),
               case("matmul", (4,), (2, 4, 3)),
               case("matmul", (2, 3, 4), (4,))],
    "linear": [_linear((4, 3), 2), _linear((4, 3), 2, bias=False), _linear((2, 4, 3), 5),
               _linear((3,), 2), _linear_const_x],
    "linear_relu": [_linear((6, 3), 4, name="linear_relu"),
                    _linear((6, 3), 4, bias=False, name="linear_relu"),
                    _linear((2, 4, 3), 5, name="linear_relu"),
                    _linear((3,), 4, name="linear_relu")],
    "linear_chain": [_chain((5, 3), (4, 4, 2), (True, True, False)),
                     _chain((5, 3), (4, 2), (True, False), bias=False),
                     _chain((5, 3), (4, 3, 2), (False, True, False), const_x=True),
                     _chain((2, 4, 3), (4, 2), (True, False)),
                     _chain((3,), (4, 2), (True, False), frozen=(0, 1, 3)),
                     _chain((5, 3), (4, 3, 2), (True, True, False), const_x=True,
                            frozen=(0, 1))],
    # activations
    "relu": [case("relu", (3, 4), make=away_from_zero)],
    "leaky_relu": [case("leaky_relu", (3, 4), make=away_from_zero),
                   case("leaky_relu", (3, 4), make=away_from_zero, negative_slope=0.2)],
    "sigmoid": [case("sigmoid", (3, 4)), lambda rng: (op("sigmoid"), [leaf([-30.0, -3.0, 30.0])])],
    "tanh": [case("tanh", (3, 4))],
    "swish": [case("swish", (3, 4)), lambda rng: (op("swish"), [leaf([-30.0, -3.0, 4.0])])],
    "scaled_tanh": [case("scaled_tanh", (3, 4)),
                    case("scaled_tanh", (3, 4), scale=2.0, slope=0.5)],
    "softmax": [case("softmax", (3, 4)), case("softmax", (3, 4), axis=0),
                case("softmax", (2, 3, 4), axis=1)],
    "log_softmax": [case("log_softmax", (3, 4)), case("log_softmax", (3, 4), axis=0),
                    case("log_softmax", (2, 3, 4), axis=1)],
    # losses
    "mse_loss": [_loss_pair("mse_loss", (3, 4), reduction=r) for r in REDUCTIONS]
    + [_loss_pair("mse_loss", (5,))],
    "l1_loss": [_l1(r) for r in REDUCTIONS],
    "cross_entropy": [_cross_entropy_index(r) for r in REDUCTIONS]
    + [_cross_entropy_index(r, weighted=True) for r in REDUCTIONS]
    + [_cross_entropy_index("mean", label_smoothing=0.2),
       _cross_entropy_index("mean", weighted=True, label_smoothing=0.1),
       _cross_entropy_index("none", weighted=True, label_smoothing=0.3),
       _cross_entropy_index("sum", n=1, c=4)]
    + [_cross_entropy_prob(r) for r in REDUCTIONS]
    + [_cross_entropy_prob("mean", weighted=True), _cross_entropy_prob("sum", weighted=True),
       _cross_entropy_prob("mean", label_smoothing=0.1),
       _cross_entropy_prob("none", weighted=True, label_smoothing=0.2)],
    "binary_cross_entropy_with_logits": [_bce(r) for r in REDUCTIONS]
    + [_bce("mean", weight=True), _bce("mean", pos_weight=True),
       _bce("sum", weight=True, pos_weight=True), _bce("none", pos_weight=True),
       _bce("mean", scale=20.0, pos_weight=True)],
}


CHECKED_ELSEWHERE = {"lamina.ops.conv", "lamina.ops.norm", "lamina.ops.activation_more",
                     "lamina.ops.loss_more", "lamina.ops.embedding", "lamina.ops.recurrent"}


def conv_ops() -> set[str]:
    """Ops registered from lamina/ops/conv.py (gradchecked in tests/ops/test_conv.py) and the
    other CHECKED_ELSEWHERE modules (tests/ops/test_gradcheck_layers.py)."""
    return {name for name, fn in OPS.items() if fn.__module__ in CHECKED_ELSEWHERE}


def test_every_op_has_a_case():
    assert set(CASES) == set(OPS) - conv_ops(), (
        f"ops without a gradcheck case: {sorted(set(OPS) - conv_ops() - set(CASES))}; "
        f"cases for unknown ops: {sorted(set(CASES) - set(OPS))}")


def test_every_op_has_several_cases_where_behaviour_differs():
    for name in ["add", "sub", "mul", "div", "power", "maximum", "where", "matmul", "linear",
                 "linear_relu", "linear_chain", "getitem", "sum", "mean", "max", "min",
                 "cross_entropy", "binary_cross_entropy_with_logits"]:
        assert len(CASES[name]) >= 3, name


PARAMS = [pytest.param(name, i, id=f"{name}-{i}")
          for name, builders in CASES.items() for i in range(len(builders))]


@pytest.mark.parametrize(("name", "index"), PARAMS)
def test_gradcheck(name: str, index: int):
    rng = np.random.default_rng(100 + index)
    fn, inputs = CASES[name][index](rng)
    assert any(isinstance(x, lm.Tensor) and x.requires_grad for x in inputs)
    assert gradcheck(fn, inputs)


@pytest.mark.parametrize(("name", "index"), PARAMS)
def test_backward_returns_one_gradient_per_input_with_its_shape(name: str, index: int):
    """The op contract: backward(grad, need) gives one gradient per array input, of its shape,
    in the output's dtype."""
    rng = np.random.default_rng(100 + index)
    fn, inputs = CASES[name][index](rng)
    out = fn(*inputs)
    out.backward(np.ones(out.shape))
    for x in inputs:
        if isinstance(x, lm.Tensor) and x.requires_grad:
            assert x.grad is not None
            assert x.grad.shape == x.shape
            assert x.grad.dtype == np.float64


FRESH = [pytest.param(name, i, id=f"{name}-{i}") for name, builders in CASES.items()
         if OPS[name] in FRESH_GRADS for i in range(len(builders))]


@pytest.mark.parametrize(("name", "index"), FRESH)
def test_fresh_grads_ops_return_arrays_of_their_own(name: str, index: int):
    """The ``fresh_grads=True`` promise that lets leaves keep an op's gradients uncopied: no
    gradient shares memory with the incoming gradient, an input, or another gradient."""
    rng = np.random.default_rng(100 + index)
    fn, inputs = CASES[name][index](rng)
    out = fn(*inputs)  # the op's node: its backward closure and its inputs
    arrays = [x.data for x in inputs if isinstance(x, lm.Tensor)]
    grad = rng.standard_normal(out.shape)
    need = tuple(p is not None for p in out._parents)
    grads = [g for g in out._backward(grad, need) if g is not None]
    assert grads
    for i, g in enumerate(grads):
        assert type(g) is np.ndarray
        others = [grad, out.data, *arrays, *grads[:i], *grads[i + 1:]]
        assert not any(np.shares_memory(g, other) for other in others)
