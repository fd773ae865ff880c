"""torch's dtype names and the default floating dtype (lamina/dtypes.py)."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


@pytest.mark.parametrize("name", ["float", "double", "half", "float16", "float32", "float64",
                                  "long", "int", "int8", "int16", "short", "int32", "int64",
                                  "uint8", "bool", "complex64", "complex128", "cfloat",
                                  "cdouble"])
def test_dtype_aliases_name_torch_dtypes(torch, name):
    assert str(getattr(lm, name)) == str(getattr(torch, name)).removeprefix("torch.")


def test_aliases_do_not_shadow_builtins_on_star_import():
    namespace: dict = {}
    exec("from lamina import *", namespace)
    for name in ("float", "int", "bool", "max", "min", "sum", "abs", "all", "any", "round"):
        assert name not in namespace, name
    assert "long" in namespace and "exp" in namespace


def test_dtype_keyword_accepts_aliases():
    assert lm.zeros(5, 3, dtype=lm.float16).dtype == np.float16
    assert lm.zeros(2, dtype=lm.double).dtype == np.float64
    assert lm.tensor([1, 2], dtype=lm.float).dtype == np.float32
    assert lm.ones(2).to(lm.long).dtype == np.int64


def test_default_dtype(torch):
    assert lm.get_default_dtype() == lm.float32 and str(torch.get_default_dtype()) == \
        "torch.float32"
    try:
        lm.set_default_dtype(lm.float64)
        assert lm.get_default_dtype() == lm.float64
        for t in (lm.tensor([1.5]), lm.zeros(2), lm.ones(2), lm.randn(2), lm.rand(2),
                  lm.full((2,), 0.5), lm.arange(0.0, 1.0, 0.5), lm.linspace(0, 1, 3),
                  lm.eye(2), lm.empty(2), lm.tensor(2) * 0.5):
            assert t.dtype == lm.float64, t
        assert lm.tensor([1, 2]).dtype == lm.long
        assert lm.tensor(np.zeros(2, np.float32)).dtype == lm.float32  # arrays keep theirs
        assert repr(lm.tensor([1.5])) == "tensor([1.5])"
        assert "dtype=float32" in repr(lm.tensor([1.5], dtype=lm.float32))
    finally:
        lm.set_default_dtype(lm.float32)
    assert lm.tensor([1.5]).dtype == lm.float32
    with pytest.raises(TypeError, match="expected lm.float32 or lm.float64"):
        lm.set_default_dtype(lm.long)
