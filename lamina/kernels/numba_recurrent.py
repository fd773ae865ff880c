"""Numba kernels of the LSTM's and the GRU's time loops (:func:`lamina.ops.recurrent.lstm_sequence`,
:func:`lamina.ops.recurrent.gru_layer`).

Each step of the loop is a GEMM (BLAS, in the op) and a few elementwise formulas over
(B, H) numbers; done by NumPy those are 5 to 15 separate passes, each a call of a few
microseconds on arrays this small. These kernels do one step's elementwise work in one pass.
The LSTM's take the op's transposed layout: gates (o, i, f, g) along axis 0, the batch along
axis 1 (the GRU's: (B, 3H)). They hold no transcendental functions (NumPy's
vectorised ``tanh`` is faster than a scalar one in a compiled loop): the forward kernel runs
after ``np.tanh`` of the pre-activations, the backward one only multiplies and adds, in the
same order as the NumPy reference (:func:`lamina.ops.recurrent._lstm_step_back`), so both
give the same bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def lstm_cell_forward(act, c_prev, c):
    """One step's gates and cell from ``act`` = tanh of the pre-activations, whose sigmoid
    gates (o, i, f: the first 3H rows) were halved: sigma(a) = (1 + tanh(a / 2)) / 2 is
    written back in place, then c = f * c_prev + i * g. Gates along axis 0, the batch along
    axis 1 (the op's transposed layout: each loop runs along a row of B numbers).

    Args:
        act: (4H, B) in: tanh(a_o / 2, a_i / 2, a_f / 2, a_g); out: (o, i, f, g).
        c_prev: (H, B) previous cell state.
        c: (H, B) out: the new cell state.
    """
    hidden = c.shape[0]
    half = np.full(1, 0.5, act.dtype)[0]  # typed: a float literal would compute in float64
    for j in range(3 * hidden):
        row = act[j]
        for b in range(row.shape[0]):
            row[b] = half * row[b] + half
    for j in range(hidden):
        _cell(act[hidden + j], act[2 * hidden + j], act[3 * hidden + j], c_prev[j], c[j])


@njit(cache=True, nogil=True, inline="always")
def _cell(i, f, g, c_prev, c):
    for j in range(c.shape[0]):
        c[j] = f[j] * c_prev[j] + i[j] * g[j]


@njit(cache=True, nogil=True)
def lstm_cell_backward(grad_t, dh_next, gate, tanh_c, c_prev, dc, da, s):
    """One step of backpropagation through time (the formulas of
    :func:`lamina.ops.recurrent.lstm_sequence`): with dh = grad_h + dh_next,
    dc += dh o (1 - tanh^2 c); da = (dh tanh c o (1 - o), dc g i (1 - i),
    dc c_prev f (1 - f), dc i (1 - g^2)); then dc *= f (the carry to the step before).
    Gates along axis 0, the batch along axis 1.

    Each formula is its own loop over a row, reading few arrays: the loops vectorise (one
    loop over all of them reads and writes too many arrays for the compiler to check that
    they do not overlap). The step's rows of ``da`` are taken here (``da[j, s]``), so the
    compiler knows that they are contiguous.

    Args:
        grad_t: (B, H) the output's gradient dL/dh_t (read transposed, as grad_h (H, B)).
        dh_next: (H, B) the gradient from the later step; overwritten with dh = grad_h +
            dh_next.
        gate: (4H, B) the activated gates (o, i, f, g).
        tanh_c, c_prev: (H, B) tanh of this step's cell state, the previous cell state.
        dc: (H, B) in: dL/dc_t from later steps; out: the carry dL/dc_{t-1}.
        da: (4H, T, B) out, at step ``s``: dL/d(pre-activation).
        s: the step.
    """
    hidden, batch = dc.shape
    one = np.ones(1, dc.dtype)[0]  # typed: the literal 1 would compute in float64
    h2, h3 = 2 * hidden, 3 * hidden
    for j in range(hidden):
        for b in range(batch):
            dh_next[j, b] = grad_t[b, j] + dh_next[j, b]
    for j in range(hidden):
        for b in range(batch):
            t = tanh_c[j, b]
            dc[j, b] = dc[j, b] + dh_next[j, b] * (gate[j, b] * (one - t * t))
    for j in range(hidden):
        for b in range(batch):
            o = gate[j, b]
            da[j, s, b] = dh_next[j, b] * (tanh_c[j, b] * (o * (one - o)))
    for j in range(hidden):
        for b in range(batch):
            i = gate[hidden + j, b]
            da[hidden + j, s, b] = dc[j, b] * (gate[h3 + j, b] * (i * (one - i)))
    for j in range(hidden):
        for b in range(batch):
            f = gate[h2 + j, b]
            da[h2 + j, s, b] = dc[j, b] * (c_prev[j, b] * (f * (one - f)))
    for j in range(hidden):
        for b in range(batch):
            g = gate[h3 + j, b]
            da[h3 + j, s, b] = dc[j, b] * (gate[hidden + j, b] * (one - g * g))
    for j in range(hidden):
        for b in range(batch):
            dc[j, b] = dc[j, b] * gate[h2 + j, b]


# ------------------------------------------------------------------------------------ GRU
# (:func:`lamina.ops.recurrent.gru_layer`, gate layout (r, z, n) as PyTorch's). The same
# operations in the same order as the NumPy references there (_gru_*), so the same bits.


@njit(cache=True, nogil=True)
def gru_rz_input(p, u, g):
    """g[:, :2H] = (p + u)[:, :2H] / 2: the halved pre-activations of r and z, for
    sigma(a) = (1 + tanh(a / 2)) / 2. p, u, g (B, 3H)."""
    batch, width = g.shape[0], 2 * (g.shape[1] // 3)
    half = np.full(1, 0.5, g.dtype)[0]
    for b in range(batch):
        pb, ub, gb = p[b], u[b], g[b]
        for j in range(width):
            gb[j] = half * (pb[j] + ub[j])


@njit(cache=True, nogil=True)
def gru_n_input(p, u, g):
    """From g[:, :2H] = tanh of the halved r, z pre-activations: r, z = (1 + t) / 2 in place,
    then g[:, 2H:] = p_n + r * u_n, the pre-activation of n. p, u, g (B, 3H)."""
    batch, hidden = g.shape[0], g.shape[1] // 3
    half = np.full(1, 0.5, g.dtype)[0]
    for b in range(batch):
        pb, ub, gb = p[b], u[b], g[b]
        for j in range(2 * hidden):
            gb[j] = half * gb[j] + half
        r, pn, un, gn = gb[:hidden], pb[2 * hidden:], ub[2 * hidden:], gb[2 * hidden:]
        for j in range(hidden):  # (slices: an index plus an offset is not vectorised)
            gn[j] = pn[j] + r[j] * un[j]


@njit(cache=True, nogil=True)
def gru_hidden(g, h_prev, h):
    """h = (1 - z) * n + z * h_prev from the activated gates g (B, 3H) = (r, z, n)."""
    batch, hidden = h.shape
    one = np.ones(1, h.dtype)[0]
    for b in range(batch):
        z, n, hp, hb = g[b, hidden:2 * hidden], g[b, 2 * hidden:], h_prev[b], h[b]
        for j in range(hidden):
            hb[j] = (one - z[j]) * n[j] + z[j] * hp[j]


@njit(cache=True, nogil=True)
def gru_cell_backward(grad_h, carry, mm, g, h_prev, u, dp, du):
    """One step of backpropagation through time: dh = grad_h + carry + mm (carry = dh_{t+1}
    z_{t+1}, mm = du_{t+1} W_hh, the two paths from the later step), then da_n = dh (1 - z)
    (1 - n^2), da_r = da_n u_n r (1 - r), da_z = dh (h_prev - n) z (1 - z); dp = (da_r,
    da_z, da_n) (the input projection's gradient), du = (da_r, da_z, da_n r) (of
    h_prev W_hh^T + b_hh); carry becomes dh z. Each formula is its own loop (vectorised)."""
    batch, hidden = h_prev.shape
    one = np.ones(1, h_prev.dtype)[0]
    for b in range(batch):
        gb, ub, dpb, dub = g[b], u[b], dp[b], du[b]
        dh, hp, gh, mb = carry[b], h_prev[b], grad_h[b], mm[b]
        for j in range(hidden):
            dh[j] = gh[j] + dh[j] + mb[j]
        r, z, n = gb[:hidden], gb[hidden:2 * hidden], gb[2 * hidden:]
        dr, dz, dn = dpb[:hidden], dpb[hidden:2 * hidden], dpb[2 * hidden:]
        un, dur, dun = ub[2 * hidden:], dub[:2 * hidden], dub[2 * hidden:]
        for j in range(hidden):
            dn[j] = dh[j] * (one - z[j]) * (one - n[j] * n[j])
        for j in range(hidden):
            dr[j] = dn[j] * un[j] * r[j] * (one - r[j])
        for j in range(hidden):
            dz[j] = dh[j] * (hp[j] - n[j]) * z[j] * (one - z[j])
        rz = dpb[:2 * hidden]
        for j in range(2 * hidden):
            dur[j] = rz[j]
        for j in range(hidden):
            dun[j] = dn[j] * r[j]
        for j in range(hidden):
            dh[j] = dh[j] * z[j]
