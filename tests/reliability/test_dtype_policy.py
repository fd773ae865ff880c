"""The dtype policy at the op boundary (lamina.ops: each op declares the dtype kinds it takes),
property-tested against PyTorch over random shapes, broadcasts and dtypes, plus the issue's
reproductions. The rule: where PyTorch computes, lamina computes the same value in the same
dtype; where PyTorch refuses, lamina raises TypeError naming the op, the input, the dtype
received and the dtypes accepted -- except the documented promotions (DOCUMENTED_PROMOTIONS),
where lamina gives PyTorch's value on the promoted inputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import lamina as lm
from lamina import nn

torch = pytest.importorskip("torch")

SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None)
DTYPES = ["float32", "float64", "int64", "bool"]


def values(shape, dtype: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if dtype == "int64":
        return rng.integers(-4, 5, shape).astype(np.int64)
    return (rng.standard_normal(shape) * 2).astype(dtype)


def run(fn, *args):
    """(result, None) or (None, the exception)."""
    try:
        return fn(*args), None
    except Exception as err:  # noqa: BLE001 - comparing whether each library raises
        return None, err


def assert_same(mine, theirs) -> None:
    mine = mine.numpy() if isinstance(mine, lm.Tensor) else np.asarray(mine)
    theirs = theirs.detach().numpy()
    assert str(mine.dtype) == str(theirs.dtype), (mine.dtype, theirs.dtype)
    assert mine.shape == theirs.shape
    if mine.dtype.kind == "f":
        tol = 1e-5 if mine.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(mine, theirs, rtol=tol, atol=tol, equal_nan=True)
    else:
        np.testing.assert_array_equal(mine, theirs)


LOSS_NAMES = ("mse", "l1", "bce")


def documented_promotion(name: str, dtypes: list) -> bool:
    """Where lamina computes and PyTorch 2.13 raises, giving PyTorch's value on the inputs
    promoted to floating point (documented in lamina.ops and the README's Guarantees):
    the mean of integers or bools (as NumPy; PyTorch asks for a float dtype); matmul of a
    floating operand with an integer one or with a float of another width (the operators'
    promotion: the integer takes the float dtype, float32 with float64 gives float64); a loss
    target of integers or bools (cast to the input's floating dtype: PyTorch accepts that for
    MSE and refuses it for L1 and BCE)."""
    floats = [d.kind == "f" for d in dtypes]
    return (name == "mean" or (name == "matmul" and any(floats))
            or (name in LOSS_NAMES and floats[0]))


def documented_refusal(name: str, dtypes: list) -> bool:
    """Where lamina raises TypeError and PyTorch 2.13 computes: a loss whose input (the model's
    output) is not floating point (PyTorch's L1Loss takes an integer input with a float
    target; its MSELoss and BCE refuse it)."""
    return name in LOSS_NAMES and dtypes[0].kind != "f"


def check(name: str, lamina_fn, torch_fn, arrays) -> None:
    dtypes = [np.asarray(a).dtype for a in arrays]
    mine, my_err = run(lamina_fn, *[lm.tensor(a) for a in arrays])
    theirs, their_err = run(torch_fn, *[torch.from_numpy(np.array(a)) for a in arrays])
    if my_err is not None:
        assert isinstance(my_err, TypeError), repr(my_err)
        assert their_err is not None or documented_refusal(name, dtypes), (
            f"{name} on {dtypes}: torch computes, lamina raised {my_err!r}")
        return
    if their_err is None:
        assert_same(mine, theirs)
        return
    assert documented_promotion(name, dtypes), (
        f"{name} on {dtypes}: torch raises ({their_err}) but lamina returned {mine}")
    dtype = mine.dtype if mine.dtype.kind == "f" else np.float32
    promoted = [torch.from_numpy(np.array(a).astype(dtype)) for a in arrays]
    np.testing.assert_allclose(mine.numpy(), torch_fn(*promoted).numpy(), rtol=1e-5, atol=1e-6)


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "maximum": (lm.maximum, torch.maximum),
}


@SETTINGS
@given(op=st.sampled_from(sorted(BINARY)), shapes=mutually_broadcastable_shapes(
    num_shapes=2, max_dims=3, max_side=4), dtypes=st.tuples(st.sampled_from(DTYPES),
                                                            st.sampled_from(DTYPES)),
       seed=st.integers(0, 2**16))
def test_binary_elementwise_ops_match_torch(op, shapes, dtypes, seed):
    a = values(shapes.input_shapes[0], dtypes[0], seed)
    b = values(shapes.input_shapes[1], dtypes[1], seed + 1)
    if op == "div" and dtypes[0] != "float32" and dtypes[1] != "float32" and \
            "float64" not in dtypes:
        b = np.where(b == 0, 1, b).astype(b.dtype)  # integer 0/0: both give nan, skip noise
    with np.errstate(all="ignore"):
        check(op, *BINARY[op], (a, b))


UNARY = {
    "exp": (lambda x: x.exp(), torch.exp),
    "log": (lambda x: x.log(), torch.log),
    "sqrt": (lambda x: x.sqrt(), torch.sqrt),
    "sigmoid": (lambda x: x.sigmoid(), torch.sigmoid),
    "tanh": (lambda x: x.tanh(), torch.tanh),
    "relu": (lambda x: x.relu(), torch.relu),
    "abs": (lambda x: x.abs(), torch.abs),
    "neg": (lambda x: -x, lambda x: -x),
    "softmax": (lambda x: x.softmax(-1), lambda x: x.softmax(-1)),
    "log_softmax": (lambda x: x.log_softmax(-1), lambda x: x.log_softmax(-1)),
    "leaky_relu": (lambda x: nn.functional.leaky_relu(x), torch.nn.functional.leaky_relu),
    "silu": (lambda x: nn.functional.silu(x), torch.nn.functional.silu),
}


@SETTINGS
@given(op=st.sampled_from(sorted(UNARY)), shape=array_shapes(min_dims=1, max_dims=3,
                                                              max_side=4),
       dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_unary_ops_match_torch(op, shape, dtype, seed):
    with np.errstate(all="ignore"):
        check(op, *UNARY[op], (values(shape, dtype, seed),))


REDUCTIONS = {
    "sum": (lambda x, d: x.sum(axis=d), lambda x, d: x.sum() if d is None else x.sum(dim=d)),
    "mean": (lambda x, d: x.mean(axis=d),
             lambda x, d: x.mean() if d is None else x.mean(dim=d)),
    "max": (lambda x, d: x.max(axis=d), lambda x, d: x.amax() if d is None else x.amax(dim=d)),
    "min": (lambda x, d: x.min(axis=d), lambda x, d: x.amin() if d is None else x.amin(dim=d)),
}


@SETTINGS
@given(op=st.sampled_from(sorted(REDUCTIONS)), shape=array_shapes(min_dims=1, max_dims=3,
                                                                   max_side=4),
       dtype=st.sampled_from(DTYPES), axis=st.sampled_from([None, 0, -1]),
       seed=st.integers(0, 2**16))
def test_reductions_match_torch(op, shape, dtype, axis, seed):
    mine, theirs = REDUCTIONS[op]
    check(op, lambda x: mine(x, axis), lambda x: theirs(x, axis), (values(shape, dtype, seed),))


@SETTINGS
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4), batch=st.sampled_from(
    [(), (2,), (3, 1)]), dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)),
       seed=st.integers(0, 2**16))
def test_matmul_matches_torch(n, k, m, batch, dtypes, seed):
    a = values(batch + (n, k), dtypes[0], seed)
    b = values((k, m), dtypes[1], seed + 1)
    check("matmul", lambda x, y: x @ y, lambda x, y: x @ y, (a, b))


LOSSES = {
    "mse": (nn.MSELoss(), torch.nn.MSELoss()),
    "l1": (nn.L1Loss(), torch.nn.L1Loss()),
    "bce": (nn.BCEWithLogitsLoss(), torch.nn.BCEWithLogitsLoss()),
}


@SETTINGS
@given(loss=st.sampled_from(sorted(LOSSES)), shape=array_shapes(min_dims=1, max_dims=2,
                                                                 max_side=4),
       dtypes=st.tuples(st.sampled_from(DTYPES), st.sampled_from(DTYPES)),
       seed=st.integers(0, 2**16))
def test_elementwise_losses_match_torch(loss, shape, dtypes, seed):
    a = values(shape, dtypes[0], seed)
    b = values(shape, dtypes[1], seed + 1)
    if loss == "bce":
        b = (b > 0).astype(b.dtype) if dtypes[1] != "bool" else b
    mine, theirs = LOSSES[loss]
    if a.dtype.kind == b.dtype.kind == "f":  # a float target takes the input's dtype (lamina)
        theirs = (lambda fn: lambda x, y: fn(x, y.to(x.dtype)))(theirs)
    check(loss, mine, theirs, (a, b))


@SETTINGS
@given(n=st.integers(1, 5), c=st.integers(2, 5), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**16))
def test_cross_entropy_matches_torch(n, c, dtype, seed):
    logits = values((n, c), dtype, seed)
    target = np.random.default_rng(seed).integers(0, c, n)
    check("cross_entropy", lambda z, t: nn.CrossEntropyLoss()(z, t),
          lambda z, t: torch.nn.CrossEntropyLoss()(z, t), (logits, target))


# ------------------------------------------------------------------ the reproductions
def test_integer_logits_raise_naming_op_dtype_and_accepted():
    for array in (np.array([[1, 2, 3]]), np.array([[1, 2, 3]], np.int8)):
        with pytest.raises(TypeError, match=r"^cross_entropy: input 0 \(logits\) must be "
                                            r"floating point \(float16, float32 or float64\), "
                                            r"got dtype int64"):
            nn.CrossEntropyLoss()(lm.tensor(array), np.array([1]))
    with pytest.raises(NotImplementedError):  # PyTorch refuses too
        torch.nn.CrossEntropyLoss()(torch.tensor([[1, 2, 3]]), torch.tensor([1]))
    value = nn.CrossEntropyLoss()(lm.tensor(np.array([[1, 2, 3]])).float(), np.array([1]))
    assert value.item() == pytest.approx(1.4076, abs=1e-4)


def test_mse_on_integers_is_never_silently_truncated():
    with pytest.raises(TypeError, match=r"^mse_loss: input 0 \(input\) must be floating point"):
        nn.MSELoss()(lm.tensor([[1], [2]]), lm.tensor([[2], [2]]))
    # a float input with an integer target: promoted, as PyTorch (0.5, not 0)
    assert nn.MSELoss()(lm.tensor([[1.0], [2.0]]), lm.tensor([[2], [2]])).item() == 0.5
    assert torch.nn.MSELoss()(torch.tensor([[1.0], [2.0]]), torch.tensor([[2], [2]])) == 0.5


@pytest.mark.parametrize("grad", [True, False])
def test_complex_input_to_linear_raises(grad):
    layer = nn.Sequential(nn.Linear(3, 2))
    x = lm.tensor(np.array([[1, 2, 3j]]))
    with lm.enable_grad() if grad else lm.no_grad():
        with pytest.raises(TypeError, match=r"^linear: input 0 \(x\) must be floating point "
                                            r".*got dtype complex128; lamina has no complex"):
            layer(x)
        with pytest.raises(TypeError, match="complex128"):
            layer(np.array([[1, 2, 3j]]))


def test_text_input_to_linear_names_the_dtype():
    with pytest.raises(TypeError, match=r"^linear: .* got dtype <U1; text is not numbers"):
        nn.Linear(3, 2)(np.array([["a", "b", "c"]]))


@pytest.mark.parametrize(("reduction", "expected"), [("mean", "nan"), ("sum", 0.0)])
def test_empty_batch_losses_follow_torch(reduction, expected):
    mine = nn.CrossEntropyLoss(reduction=reduction)(lm.zeros(0, 3), np.zeros(0, np.int64))
    theirs = torch.nn.CrossEntropyLoss(reduction=reduction)(torch.zeros(0, 3),
                                                           torch.zeros(0, dtype=torch.long))
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert mine.dtype == np.float32
    assert str(theirs.item()) == str(float(expected))
    mse = nn.MSELoss(reduction=reduction)(lm.zeros(0), lm.zeros(0))
    np.testing.assert_array_equal(mse.numpy(), torch.nn.MSELoss(reduction=reduction)(
        torch.zeros(0), torch.zeros(0)).numpy())


def test_every_registered_op_declares_a_policy():
    from lamina.ops import DTYPES as POLICIES
    from lamina.ops import OPS

    assert all(fn in POLICIES for fn in OPS.values())


LAYERS = ("linear", "conv2d", "max_pool2d", "avg_pool2d")


def layer_pair(kind: str, channels: int, seed: int):
    """A lamina layer and a PyTorch layer with the same float32 parameters."""
    lm.manual_seed(seed)
    if kind == "linear":
        mine, theirs = nn.Linear(channels, 3), torch.nn.Linear(channels, 3)
    elif kind == "conv2d":
        mine, theirs = nn.Conv2d(channels, 2, 3, padding=1), torch.nn.Conv2d(channels, 2, 3,
                                                                            padding=1)
    elif kind == "max_pool2d":
        return nn.MaxPool2d(2), torch.nn.MaxPool2d(2)
    else:
        return nn.AvgPool2d(2), torch.nn.AvgPool2d(2)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(mine.weight.numpy().copy()))
        theirs.bias.copy_(torch.from_numpy(mine.bias.numpy().copy()))
    return mine, theirs


@SETTINGS
@given(kind=st.sampled_from(LAYERS), batch=st.integers(1, 3), channels=st.integers(1, 3),
       side=st.integers(2, 5), dtype=st.sampled_from(DTYPES), grad=st.booleans(),
       seed=st.integers(0, 2**16))
def test_layers_match_torch_or_refuse(kind, batch, channels, side, dtype, grad, seed):
    mine, theirs = layer_pair(kind, channels, seed)
    shape = (batch, channels) if kind == "linear" else (batch, channels, side, side)
    x = values(shape, dtype, seed)
    with lm.enable_grad() if grad else lm.no_grad():
        out, err = run(mine, lm.tensor(x))
    expected, their_err = run(theirs, torch.from_numpy(x.copy()))
    if err is not None:
        assert isinstance(err, TypeError) and str(dtype) in str(err), repr(err)
        # stricter than PyTorch: pooling takes floating images only (the message says to
        # convert, e.g. images / 255.0), where PyTorch pools integers
        assert their_err is not None or (dtype == "int64" and "pool" in kind), (
            f"{kind} on {dtype}: torch computes, lamina raised {err!r}")
        return
    if their_err is None:
        assert_same(out, expected)
        return
    # lamina computes a float64 input with float32 parameters in float64 (PyTorch asks for
    # one dtype): the value is PyTorch's with the parameters in float64
    assert dtype == "float64" and kind in ("linear", "conv2d"), (kind, dtype, their_err)
    expected = theirs.double()(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-6, atol=1e-6)
