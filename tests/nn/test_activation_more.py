"""GELU, ELU, SELU, CELU, Softplus, Mish, Hardswish, Hardsigmoid, PReLU, LogSigmoid, Softsign,
Threshold and the LogSoftmax layer against PyTorch in float64."""

from __future__ import annotations

import numpy as np
import pytest

from lamina import nn

CASES = [
    ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}), ("ELU", (), {}),
    ("ELU", (), {"alpha": 0.5}), ("SELU", (), {}), ("CELU", (), {}), ("CELU", (), {"alpha": 2.0}),
    ("Softplus", (), {}), ("Softplus", (), {"beta": 2.0, "threshold": 3.0}), ("Mish", (), {}),
    ("Hardswish", (), {}), ("Hardsigmoid", (), {}), ("PReLU", (), {}),
    ("PReLU", (), {"num_parameters": 3}), ("PReLU", (), {"num_parameters": 3, "init": 0.1}),
    ("LogSigmoid", (), {}), ("Softsign", (), {}), ("Threshold", (0.1, 20.0), {}),
    ("LogSoftmax", (), {"dim": 1}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), CASES)
def test_activation_matches_torch(layer_parity, torch, rng, name, args, kwargs):
    # values from -6 to 6 that avoid the kinks at 0, +-3 and the thresholds
    x = rng.uniform(-6, 6, (4, 3, 5))
    x = np.where(np.min(np.abs(x[..., None] - np.array([0.0, -3.0, 3.0, 0.1, 1.5])), axis=-1)
                 < 0.05, 0.7, x)
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    # torch's Hardsigmoid backward multiplies by the float32 constant 1/6, even in float64
    tol = 1e-7 if name == "Hardsigmoid" else 1e-10
    layer_parity(ours, theirs, x, tol=tol)
    layer_parity(ours, theirs, np.array([-40.0, -25.0, 25.0, 40.0]).reshape(1, 4, 1)
                 if name != "PReLU" or kwargs.get("num_parameters", 1) == 1 else x * 10, tol=tol)


def test_reprs_and_bad_arguments(torch):
    assert repr(nn.GELU(approximate="tanh")) == repr(torch.nn.GELU(approximate="tanh"))
    assert repr(nn.ELU(alpha=0.5)) == repr(torch.nn.ELU(alpha=0.5))
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="slopes"):
        nn.PReLU(3)(np.zeros((2, 4)))
