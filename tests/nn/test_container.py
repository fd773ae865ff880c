"""nn.Sequential as a whole model: parity with torch for outputs and all parameter gradients."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sequential_matches_torch(parity, torch, dtype, seed):
    from lamina import nn

    rng = np.random.default_rng(seed)
    sizes = [int(n) for n in rng.integers(2, 10, 4)]
    ours = nn.Sequential(nn.Flatten(), nn.Linear(sizes[0] * 2, sizes[1]), nn.ReLU(),
                         nn.Linear(sizes[1], sizes[2]), nn.Tanh(), nn.Dropout(0.3),
                         nn.Linear(sizes[2], sizes[3]), nn.SiLU(), nn.LogSoftmax(dim=1)).to(dtype)
    tnn = torch.nn
    theirs = tnn.Sequential(tnn.Flatten(), tnn.Linear(sizes[0] * 2, sizes[1]), tnn.ReLU(),
                            tnn.Linear(sizes[1], sizes[2]), tnn.Tanh(), tnn.Dropout(0.3),
                            tnn.Linear(sizes[2], sizes[3]), tnn.SiLU(), tnn.LogSoftmax(dim=1))
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((int(rng.integers(1, 6)), sizes[0], 2)).astype(dtype)
    parity.module(ours, theirs, x, seed)
