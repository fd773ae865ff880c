"""The compiled Adam and Adadelta kernels (lamina/optim/kernels.py) give bit for bit the NumPy
rules."""

import numpy as np
import pytest

import lamina as lm
import lamina.kernels
from lamina import nn, optim
from lamina.optim.kernels import adadelta_kernel, adam_kernel

pytest.importorskip("numba")

CASES = [
    (optim.Adam, dict(lr=0.01)),
    (optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, amsgrad=True)),
    (optim.Adam, dict(lr=0.01, weight_decay=0.1, maximize=True)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    (optim.Adadelta, dict()),
    (optim.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1, maximize=True)),
]


def train(numba: bool, cls, options, dtype, monkeypatch, groups: bool) -> list[np.ndarray]:
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: numba)
    assert (adam_kernel() is not None) == numba
    assert (adadelta_kernel() is not None) == numba
    lm.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).to(dtype)
    params = list(model.parameters())
    opt = cls([{"params": [p]} for p in params] if groups else params, **options)
    rng = np.random.default_rng(0)
    for _ in range(6):
        x, y = rng.standard_normal((9, 5)).astype(dtype), rng.standard_normal((9, 3))
        opt.zero_grad()
        # (MSE: the cross-entropy kernel equals its NumPy path only up to rounding)
        nn.MSELoss()(model(lm.tensor(x)), lm.tensor(y.astype(dtype))).backward()
        opt.step()
    return [p._data.copy() for p in params] + [
        v.copy() for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray)]


@pytest.mark.parametrize("groups", [False, True], ids=["flat", "per-parameter"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cls", "options"), CASES,
                         ids=[f"{c.__name__}-{i}" for i, (c, _) in enumerate(CASES)])
def test_kernel_equals_numpy_bitwise(cls, options, dtype, groups, monkeypatch):
    compiled = train(True, cls, options, dtype, monkeypatch, groups)
    numpy = train(False, cls, options, dtype, monkeypatch, groups)
    assert len(compiled) == len(numpy)
    for a, b in zip(compiled, numpy, strict=True):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)


def test_the_kernel_follows_the_switch_of_lamina_kernels(monkeypatch):
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)
    assert adam_kernel() is None
    monkeypatch.setattr(lamina.kernels, "numba_available", lambda: True)
    assert callable(adam_kernel())


@pytest.mark.parametrize(("cls", "options"), [(optim.Adam, dict(lr=0.01)),
                                              (optim.Adam, dict(lr=0.01, amsgrad=True)),
                                              (optim.Adadelta, dict(lr=0.5))],
                         ids=["Adam", "Adam-amsgrad", "Adadelta"])
def test_pieces_kernels_chunk_many_parameters_bitwise(cls, options, monkeypatch):
    """More parameters than one call of a pieces kernel takes (PIECES), and gradients that
    are not C-contiguous (then they are gathered): bit for bit the NumPy rule."""
    from lamina.optim.kernels import PIECES

    def run(numba: bool, transposed: bool) -> list[np.ndarray]:
        monkeypatch.setattr(lamina.kernels, "numba_available", lambda: numba)
        rng = np.random.default_rng(1)
        params = [lm.nn.Parameter(lm.tensor(rng.standard_normal((3, 2 + i % 3))
                                            .astype(np.float32)))
                  for i in range(PIECES + 5)]
        opt = cls(params, **options)
        for _ in range(4):
            for p in params:
                g = rng.standard_normal(p.shape[::-1]).astype(np.float32).T
                p.grad = lm.tensor(g if transposed else np.ascontiguousarray(g))
            opt.step()
        return [p._data.copy() for p in params]

    for transposed in (False, True):
        compiled, numpy = run(True, transposed), run(False, transposed)
        for a, b in zip(compiled, numpy, strict=True):
            np.testing.assert_array_equal(a, b)
