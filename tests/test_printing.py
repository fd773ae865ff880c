"""lm.set_printoptions (lamina/printing.py)."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm


@pytest.fixture(autouse=True)
def _restore():
    saved = np.get_printoptions()
    yield
    np.set_printoptions(**saved)


def test_precision_profiles_and_sci_mode():
    t = lm.tensor([1.23456, 2.0])
    before = repr(t)
    lm.set_printoptions(precision=2)
    assert repr(t) == "tensor([1.23, 2.  ])"
    lm.set_printoptions(sci_mode=True)
    assert repr(t) == "tensor([1.23e+00, 2.00e+00])"
    lm.set_printoptions(profile="default", sci_mode=False)
    assert repr(t) == before
    lm.set_printoptions(threshold=5, edgeitems=1)
    assert "..." in repr(lm.arange(10))
    lm.set_printoptions(profile="full")
    assert "..." not in repr(lm.arange(2000))
    with pytest.raises(ValueError, match="profile must be one of"):
        lm.set_printoptions(profile="long")


def test_finfo_iinfo(torch):
    assert lm.finfo(lm.float32).eps == torch.finfo(torch.float32).eps
    assert lm.iinfo(lm.int64).max == torch.iinfo(torch.int64).max
