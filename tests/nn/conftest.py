"""The ``layer_parity`` fixture: one float64 forward/backward comparison of a lamina layer with
its PyTorch twin, from the same weights (copied from torch), inputs and output gradients."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm
from lamina.io import from_torch_state_dict

TOL = 1e-10


def _flat(out) -> list:
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flat(item)]
    return [out]


class LayerParity:
    def __init__(self, torch):
        self.torch = torch

    def close(self, ours, theirs, what: str, tol: float = TOL) -> None:
        a = np.asarray(ours._data if isinstance(ours, lm.Tensor) else ours)
        b = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
        assert a.shape == b.shape, f"{what}: shape {a.shape}, torch {b.shape}"
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=what)

    def __call__(self, ours, theirs, *inputs, train: bool = True, seed: int = 0,
                 tol: float = TOL, steps: int = 1, torch_only: tuple[str, ...] = ()):
        """Copy torch's float64 state into ``ours``, then ``steps`` times: run both on the
        inputs (NumPy arrays; float ones get gradients; tuples are passed as tuples), compare
        outputs, back-propagate the same random gradients, compare input and parameter
        gradients and the buffers. ``torch_only``: state_dict keys that only torch has (a
        loss's class ``weight``, a buffer there and a constructor argument in lamina).
        Returns lamina's last output."""
        torch = self.torch
        theirs.double()
        ours.double()
        state = {k: v for k, v in theirs.state_dict().items() if k not in torch_only}
        assert list(ours.state_dict()) == list(state)
        from_torch_state_dict(ours, state)
        ours.train(train)
        theirs.train(train)
        rng = np.random.default_rng(seed)
        for step in range(steps):
            ours_in, theirs_in, grads_of = [], [], []
            for x in inputs:
                group = x if isinstance(x, tuple) else (x,)
                lg, tg = [], []
                for a in group:
                    a = np.asarray(a)
                    floating = a.dtype.kind == "f"
                    lt = lm.tensor(a, requires_grad=floating) if floating else a
                    tt = torch.from_numpy(a.copy()).requires_grad_(floating)
                    if floating:
                        grads_of.append((lt, tt))
                    lg.append(lt)
                    tg.append(tt)
                ours_in.append(tuple(lg) if isinstance(x, tuple) else lg[0])
                theirs_in.append(tuple(tg) if isinstance(x, tuple) else tg[0])
            out_l, out_t = _flat(ours(*ours_in)), _flat(theirs(*theirs_in))
            assert len(out_l) == len(out_t)
            total_l, total_t = None, None
            for i, (a, b) in enumerate(zip(out_l, out_t, strict=True)):
                self.close(a, b, f"step {step} output {i}", tol)
                g = rng.standard_normal(b.shape)
                term_l = (a * lm.tensor(g)).sum()
                term_t = (b * torch.from_numpy(g)).sum()
                total_l = term_l if total_l is None else total_l + term_l
                total_t = term_t if total_t is None else total_t + term_t
            ours.zero_grad()
            theirs.zero_grad()
            total_l.backward()
            total_t.backward()
            for i, (lt, tt) in enumerate(grads_of):
                self.close(lt.grad, tt.grad, f"step {step} input grad {i}", tol)
            theirs_params = dict(theirs.named_parameters())
            for name, p in ours.named_parameters():
                if theirs_params[name].grad is None:
                    assert p.grad is None or not np.any(p.grad._data), name
                else:
                    self.close(p.grad, theirs_params[name].grad, f"grad of {name}", tol)
            theirs_buffers = dict(theirs.named_buffers())
            for name, b in ours.named_buffers():
                if name in torch_only:
                    continue
                self.close(b, theirs_buffers[name], f"buffer {name}", tol)
        return out_l


@pytest.fixture
def layer_parity(torch) -> LayerParity:
    return LayerParity(torch)
