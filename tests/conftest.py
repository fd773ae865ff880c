"""Shared fixtures: a seeded NumPy generator, lamina's global seed, and torch for parity tests."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm

# Parity tolerances against PyTorch, per dtype (rtol and atol).
TOLERANCES = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


@pytest.fixture(autouse=True)
def _seed_lamina():
    """Every test starts from the same global lamina seed."""
    lm.manual_seed(0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(params=["numpy", "numba"])
def backend(request, monkeypatch) -> str:
    """Run the test on the pure-NumPy path and on the compiled kernels (skipped without
    Numba), switched at run time as ``LAMINA_NO_NUMBA=1`` switches them at start."""
    import lamina.kernels

    if request.param == "numba":
        pytest.importorskip("numba")
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: request.param == "numba")
    return request.param


@pytest.fixture
def torch():
    """PyTorch, a test-only dependency: tests that use it are skipped where it is missing."""
    return pytest.importorskip("torch")


class Parity:
    """Helpers to run the same computation in lamina and PyTorch and compare the results."""

    def __init__(self, torch):
        self.torch = torch

    def to_torch(self, array, requires_grad: bool = False):
        t = self.torch.from_numpy(np.array(array))
        return t.requires_grad_(requires_grad)

    def assert_close(self, actual, expected, dtype=None) -> None:
        """``actual`` (lamina) equals ``expected`` (torch or NumPy) within the dtype's tolerance
        and has the same dtype and shape."""
        actual = np.asarray(actual.data if isinstance(actual, lm.Tensor) else actual)
        if hasattr(expected, "detach"):
            expected = expected.detach().numpy()
        expected = np.asarray(expected)
        dtype = np.dtype(dtype or expected.dtype)
        assert actual.dtype == dtype, f"dtype {actual.dtype}, expected {dtype}"
        tol = TOLERANCES[dtype]
        np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


    def call(self, fn_l, fn_t, *arrays, seed: int = 0, grad: bool = True):
        """Run ``fn_l`` on lamina leaves and ``fn_t`` on torch leaves made from ``arrays``
        (floating ones require grad), compare the outputs (a tensor, or a tuple of them such
        as a (values, indices) named tuple, or a Python value), then back-propagate the same
        random gradient through every floating output and compare the inputs' gradients.
        Returns the lamina output."""
        leaves_l = [lm.tensor(a, requires_grad=grad and np.asarray(a).dtype.kind == "f")
                    for a in arrays]
        leaves_t = [self.to_torch(a, grad and np.asarray(a).dtype.kind == "f") for a in arrays]
        out_l, out_t = fn_l(*leaves_l), fn_t(*leaves_t)
        outs_l = list(out_l) if isinstance(out_l, tuple) else [out_l]
        outs_t = list(out_t) if isinstance(out_t, tuple) else [out_t]
        assert len(outs_l) == len(outs_t)
        rng = np.random.default_rng(seed)
        total_l, total_t = None, None
        for a, b in zip(outs_l, outs_t, strict=True):
            if not isinstance(a, lm.Tensor):
                assert a == (b.item() if hasattr(b, "item") and not isinstance(b, bool) else b)
                continue
            assert tuple(a.shape) == tuple(b.shape), (a.shape, b.shape)
            expected = b.detach().numpy()
            if expected.dtype.kind == "f":
                self.assert_close(a, expected)
            else:
                np.testing.assert_array_equal(a.numpy(), expected)
                assert a.dtype == expected.dtype, (a.dtype, expected.dtype)
            if grad and a.requires_grad:
                g = rng.standard_normal(a.shape)
                term_l, term_t = (a * g).sum(), (b * self.torch.from_numpy(g)).sum()
                total_l = term_l if total_l is None else total_l + term_l
                total_t = term_t if total_t is None else total_t + term_t
        if total_l is not None:
            total_l.backward()
            total_t.backward()
            for x_l, x_t in zip(leaves_l, leaves_t, strict=True):
                if x_t.grad is not None:
                    self.assert_close(x_l.grad, x_t.grad)
        return out_l

    def torch_dtype(self, dtype):
        return {np.dtype(np.float32): self.torch.float32,
                np.dtype(np.float64): self.torch.float64}[np.dtype(dtype)]

    def module(self, ours, theirs, x: np.ndarray, seed: int = 0):
        """Copy ``ours``'s weights into ``theirs`` (same names and layout), run both on ``x``,
        back-propagate the same random output gradient, and compare the outputs and the
        gradients w.r.t. the input and every parameter."""
        dtype = x.dtype
        theirs.to(self.torch_dtype(dtype))
        theirs.load_state_dict({k: self.torch.from_numpy(np.array(v))
                                for k, v in ours.state_dict().items()})
        xl = lm.tensor(x, requires_grad=True)
        xt = self.to_torch(x, requires_grad=True)
        out_l, out_t = ours(xl), theirs(xt)
        self.assert_close(out_l, out_t)
        grad = np.random.default_rng(seed).standard_normal(out_l.shape).astype(dtype)
        out_l.backward(grad)
        out_t.backward(self.to_torch(grad))
        self.assert_close(xl.grad, xt.grad)
        theirs_params = dict(theirs.named_parameters())
        ours_params = dict(ours.named_parameters())
        assert list(ours_params) == list(theirs_params)
        for name, p in ours_params.items():
            self.assert_close(p.grad, theirs_params[name].grad)
        return out_l


@pytest.fixture
def parity(torch) -> Parity:
    return Parity(torch)
