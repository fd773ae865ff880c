"""Numba kernels of the LSTM's and the GRU's time loops (:func:`lamina.ops.recurrent.lstm_sequence`,
:func:`lamina.ops.recurrent.gru_layer`).

Each step of the loop is a GEMM (BLAS, in the op) and a few elementwise formulas over
(B, H) numbers; done by NumPy those are 5 to 15 separate passes, each a call of a few
microseconds on arrays this small. These kernels do one step's elementwise work in one pass,
with the op's gate layout (o, i, f, g). The exact ones hold no transcendental functions (a
call of the C library's ``tanh`` per number is slower than NumPy's vectorised one): the
forward cell kernel runs after ``np.tanh`` of the pre-activations, the backward one only
multiplies and adds, in the same order as the NumPy references
(:func:`lamina.ops.recurrent._lstm_cell_forward`, ``_lstm_cell_backward``), so both give the
same bits. For float32, :func:`lstm_step_forward` does a whole step after its GEMM in one
pass with a rational tanh that vectorises (:func:`_tanh32`, within 3.5e-7 of tanh): equal
to the NumPy steps up to that error, not bitwise.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types

from lamina.kernels import blas

_F32P = types.CPointer(types.float32)
# cblas_sgemm(order, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), 64-bit
# integers: NumPy's bundled OpenBLAS, made known to the compiler when it is there (the loop
# kernels below are selected only then; see lamina.kernels.blas.sgemm_library)
_sgemm = types.ExternalFunction(blas.SGEMM_SYMBOL, types.void(
    types.int32, types.int32, types.int32, types.int64, types.int64, types.int64, types.float32,
    _F32P, types.int64, _F32P, types.int64, types.float32, _F32P, types.int64))
_ROW_MAJOR, _NO_TRANS = 101, 111
if blas.sgemm_library() is not None:
    import llvmlite.binding

    llvmlite.binding.load_library_permanently(blas.sgemm_library())


@njit(cache=True, nogil=True)
def lstm_cell_forward(act, c_prev, c):
    """One step's gates and cell from ``act`` = tanh of the pre-activations, whose sigmoid
    gates (o, i, f: the first 3H columns) were halved: sigma(a) = (1 + tanh(a / 2)) / 2 is
    written back in place, then c = f * c_prev + i * g.

    Args:
        act: (B, 4H) in: tanh(a_o / 2, a_i / 2, a_f / 2, a_g); out: (o, i, f, g).
        c_prev: (B, H) previous cell state.
        c: (B, H) out: the new cell state.
    """
    batch, hidden = c.shape
    half = np.full(1, 0.5, act.dtype)[0]  # typed: a float literal would compute in float64
    for b in range(batch):
        row = act[b]
        for j in range(3 * hidden):
            row[j] = half * row[j] + half
        i, f, g = row[hidden:2 * hidden], row[2 * hidden:3 * hidden], row[3 * hidden:]
        _cell(i, f, g, c_prev[b], c[b])


@njit(cache=True, nogil=True, inline="always")
def _cell(i, f, g, c_prev, c):
    for j in range(c.shape[0]):
        c[j] = f[j] * c_prev[j] + i[j] * g[j]


# tanh(x) ~ x P(x^2) / Q(x^2) for |x| <= 8, tanh(+-8) beyond: a rational fit of degree 4 / 4
# in x^2 (Lawson's iteration towards the smallest largest relative error, fitted in float64
# for lamina). Evaluated in float32 it is within 3.5e-7 of tanh (at most 6 units in the last
# place near +-1, fewer elsewhere; NumPy's tanh is within 1-2) and never above 1 in
# magnitude (it first exceeds 1 past 8.049, hence the clip at 8, where it is 1 - 2.4e-7).
# Plain multiplies, adds and one division: the loops vectorise (with error_model="numpy",
# which drops the division's zero check; the denominator is >= 1), as a call of the C
# library's tanhf does not.
_T_CLIP = np.float32(8.0)
_T_ONE = np.float32(1.0)
_P1, _P2, _P3, _P4 = (np.float32(c) for c in (1.3383979579552518e-01, 3.4989926666541011e-03,
                                               2.0661101811025333e-05, 1.3419422381461154e-08))
_Q1, _Q2, _Q3, _Q4 = (np.float32(c) for c in (4.6717301101872744e-01, 2.5890200233169288e-02,
                                               3.2910282079522655e-04, 7.8046018256762564e-07))


@njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _tanh32(x):
    """float32 tanh by the rational fit above; NaN stays NaN (the comparisons fail)."""
    if x > _T_CLIP:
        x = _T_CLIP
    elif x < -_T_CLIP:
        x = -_T_CLIP
    u = x * x
    p = (((_P4 * u + _P3) * u + _P2) * u + _P1) * u + _T_ONE
    q = (((_Q4 * u + _Q3) * u + _Q2) * u + _Q1) * u + _T_ONE
    return x * p / q


@njit(cache=True, nogil=True, error_model="numpy")
def tanh32(x, out):
    """out = tanh(x) elementwise by :func:`_tanh32` (float32, 1-D): the approximation the
    fused step uses, exposed for its accuracy test."""
    for k in range(x.shape[0]):
        out[k] = _tanh32(x[k])


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_step_forward(act, c_prev, c, tanh_c, xh_next, h_col):
    """One whole LSTM step after its GEMM, float32, in one pass per row (replaces ``np.tanh``
    of the gates, :func:`lstm_cell_forward`, ``np.tanh`` of the cell and h = o tanh(c)):
    act = tanh of the pre-activations (sigmoid gates halved, then sigma = (1 + tanh) / 2),
    c = f c_prev + i g, tanh_c = tanh(c), h = o tanh_c into the next step's operand. tanh is
    the rational approximation :func:`_tanh32` (within 3.5e-7), not NumPy's.

    Args:
        act: (B, 4H) in: the GEMM's pre-activations (o, i, f halved, g); out: the gates.
        c_prev: (B, H) previous cell state.
        c, tanh_c: (B, H) out: the new cell state and its tanh.
        xh_next: (B, K) the next step's operand [x 1 h]: h goes to columns h_col..h_col+H.
        h_col: the first column of h in ``xh_next``.
    """
    batch, hidden = c.shape
    half = np.float32(0.5)
    for b in range(batch):
        row = act[b]
        for j in range(4 * hidden):
            row[j] = _tanh32(row[j])
        for j in range(3 * hidden):
            row[j] = half * row[j] + half
        h2, h3 = 2 * hidden, 3 * hidden
        o, i, f, g = row[:hidden], row[hidden:h2], row[h2:h3], row[h3:]
        cb, tb, hb = c[b], tanh_c[b], xh_next[b, h_col:h_col + hidden]
        _cell(i, f, g, c_prev[b], cb)
        for j in range(hidden):
            t = _tanh32(cb[j])
            tb[j] = t
            hb[j] = o[j] * t


@njit(cache=True, nogil=True, inline="always")
def _matmul32(a, b, c):
    """c = a @ b by cblas_sgemm, float32, all three C-contiguous 2-D."""
    m, k = a.shape
    n = b.shape[1]
    _sgemm(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, np.float32(1.0), a.ctypes, k, b.ctypes,
           n, np.float32(0.0), c.ctypes, n)


@njit(cache=True, nogil=True, error_model="numpy")
def lstm_forward_steps(xh, w_step, gates, cells, tanh_c, h_col):
    """The whole float32 time loop of :func:`lamina.ops.recurrent.lstm_sequence`'s forward
    in one call: per step s the GEMM gates[s] = xh[s] @ w_step (BLAS, the same call as
    ``np.matmul``'s) and :func:`lstm_step_forward` (no Python between the steps).

    Args:
        xh: (T + 1, B, K) the steps' operands [x_t 1 h_{t-1}]; h_t is written into row s + 1.
        w_step: (K, 4H) the step GEMM's right operand.
        gates: (T, B, 4H) out: the activated gates.
        cells: (T + 1, B, H) cells[0] in, the cell states after each step out.
        tanh_c: (T, B, H) out: their tanh.
        h_col: the first column of h in a row of ``xh``.
    """
    for s in range(gates.shape[0]):
        act = gates[s]
        _matmul32(xh[s], w_step, act)
        lstm_step_forward(act, cells[s], cells[s + 1], tanh_c[s], xh[s + 1], h_col)


@njit(cache=True, nogil=True)
def lstm_backward_steps(grad, order, w_back, gates, tanh_c, cells, dh_next, dc, da, need_dh0):
    """The whole float32 backpropagation-through-time loop of
    :func:`lamina.ops.recurrent.lstm_sequence` in one call: for s = T-1..0,
    :func:`lstm_cell_backward` on grad[order[s]], then dh_next = da[s] @ w_back (BLAS; at
    s = 0 only when ``need_dh0``).

    Args:
        grad: (T + 1, B, H) the output's gradient, indexed by time t = order[s].
        order: (T,) int64, the time of each step.
        w_back: (4H, H) W_hh in the op's gate order, C-contiguous.
        gates, tanh_c, cells, dh_next, dc, da: as :func:`lstm_cell_backward`'s, all steps
            (gates, da (T, B, 4H); tanh_c (T, B, H); cells (T + 1, B, H)).
        need_dh0: compute dh_next at the first step (the gradient of h_0).
    """
    for s in range(gates.shape[0] - 1, -1, -1):
        lstm_cell_backward(grad[order[s]], dh_next, gates[s], tanh_c[s], cells[s], dc, da[s])
        if s > 0 or need_dh0:
            _matmul32(da[s], w_back, dh_next)


@njit(cache=True, nogil=True)
def lstm_cell_backward(grad_h, dh_next, gate, tanh_c, c_prev, dc, da):
    """One step of backpropagation through time (the formulas of
    :func:`lamina.ops.recurrent.lstm_sequence`): with dh = grad_h + dh_next,
    dc += dh o (1 - tanh^2 c); da = (dh tanh c o (1 - o), dc g i (1 - i),
    dc c_prev f (1 - f), dc i (1 - g^2)); then dc *= f (the carry to the step before).

    Each formula is its own loop over a row, reading few arrays: the loops vectorise (one
    loop over all of them reads and writes too many arrays for the compiler to check that
    they do not overlap).

    Args:
        grad_h, dh_next: (B, H) the output's gradient and the one from the later step;
            ``dh_next`` is overwritten with dh = grad_h + dh_next.
        gate: (B, 4H) the activated gates (o, i, f, g).
        tanh_c, c_prev: (B, H) tanh of this step's cell state, the previous cell state.
        dc: (B, H) in: dL/dc_t from later steps; out: the carry dL/dc_{t-1}.
        da: (B, 4H) out: dL/d(pre-activation).
    """
    batch, hidden = dc.shape
    one = np.ones(1, dc.dtype)[0]  # typed: the literal 1 would compute in float64
    for b in range(batch):
        gt, dab = gate[b], da[b]
        o, i, f, g = gt[:hidden], gt[hidden:2 * hidden], gt[2 * hidden:3 * hidden], gt[3 * hidden:]
        dh, d = dh_next[b], dc[b]
        _add(grad_h[b], dh)
        _cell_grad(dh, o, tanh_c[b], d, dab[:hidden], one)
        _gate_grads(d, i, f, g, c_prev[b], dab[hidden:2 * hidden], dab[2 * hidden:3 * hidden],
                    dab[3 * hidden:], one)
        _scale(d, f)


@njit(cache=True, nogil=True, inline="always")
def _add(a, out):
    for j in range(out.shape[0]):
        out[j] = a[j] + out[j]


@njit(cache=True, nogil=True, inline="always")
def _cell_grad(dh, o, tc, d, da_o, one):
    for j in range(d.shape[0]):
        t = tc[j]
        d[j] = d[j] + dh[j] * (o[j] * (one - t * t))
    for j in range(d.shape[0]):
        t = tc[j]
        da_o[j] = dh[j] * (t * (o[j] * (one - o[j])))


@njit(cache=True, nogil=True, inline="always")
def _gate_grads(d, i, f, g, c_prev, da_i, da_f, da_g, one):
    for j in range(d.shape[0]):
        da_i[j] = d[j] * (g[j] * (i[j] * (one - i[j])))
    for j in range(d.shape[0]):
        da_f[j] = d[j] * (c_prev[j] * (f[j] * (one - f[j])))
    for j in range(d.shape[0]):
        da_g[j] = d[j] * (i[j] * (one - g[j] * g[j]))


@njit(cache=True, nogil=True, inline="always")
def _scale(d, f):
    for j in range(d.shape[0]):
        d[j] = d[j] * f[j]


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
