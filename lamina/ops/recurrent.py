"""Recurrent layers as one op per layer and direction: the time loop of RNN, LSTM and GRU runs
inside the op and its backward is backpropagation through time, written out.

The input projection of every time step, P = x W_ih^T + b_ih of shape (T, B, G*H), is one
GEMM for all steps: done before the op (``F.linear``) for ``gru_layer``, ``rnn_layer`` and
``lstm_layer``, inside the op for ``lstm_sequence`` (which the LSTM layers use), whose
backward then also gives dW_ih as one GEMM over all steps. Gate layouts are PyTorch's:
LSTM (i, f, g, o), GRU (r, z, n). ``reverse=True`` runs t = T-1..0 (the backward direction
of a bidirectional layer); outputs stay indexed by t.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from lamina.kernels.registry import select
from lamina.ops import register, scratch
from lamina.ops.activation import _sigmoid


def _hh(h: np.ndarray, w_hh: np.ndarray, b_hh) -> np.ndarray:
    out = h @ w_hh.T
    return out if b_hh is None else out + b_hh


def _steps(n: int, reverse: bool) -> range:
    return range(n - 1, -1, -1) if reverse else range(n)


def _hh_grads(da: np.ndarray, h_prev: np.ndarray, need_w: bool, need_b: bool):
    """dL/dW_hh and dL/db_hh summed over time: sum_t da_t^T h_{t-1}, sum_t da_t."""
    gw = da.reshape(-1, da.shape[2]).T @ h_prev.reshape(-1, h_prev.shape[2]) if need_w else None
    gb = da.sum(axis=(0, 1)) if need_b else None
    return gw, gb


@register
def lstm_layer(proj, h0, c0, w_hh, b_hh=None, reverse=False):
    """One LSTM layer in one direction (Hochreiter and Schmidhuber 1997, PyTorch's form):

        a_t = P_t + h_{t-1} W_hh^T + b_hh;  i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
        c_t = f * c_{t-1} + i * g;          h_t = o * tanh(c_t)

    Returns an array (T + 1, B, H): rows 0..T-1 are h_t, row T is the last cell state c_n
    (c_{T-1}, or c_0 when ``reverse``). Backward, from t = last to first, with dh_t = the
    output gradient + the gradient arriving from step t+1:
    dc_t += dh_t o (1 - tanh^2 c_t); da = (dc_t g, dc_t c_{t-1}, dc_t i, dh_t tanh c_t) times
    the gate derivatives; dh_{t-1} = da W_hh; dc_{t-1} = dc_t f.

    Shape: proj (T, B, 4H); h0, c0 (B, H); w_hh (4H, H); b_hh (4H,).
    """
    t_len, batch, four_h = proj.shape
    hidden = four_h // 4
    gates = np.empty((t_len, batch, four_h), proj.dtype)  # i, f, g, o after activation
    cells = np.empty((t_len, batch, hidden), proj.dtype)
    out = np.empty((t_len + 1, batch, hidden), proj.dtype)
    h_prev = np.empty((t_len, batch, hidden), proj.dtype)
    h, c = h0, c0
    for t in _steps(t_len, reverse):
        h_prev[t] = h
        a = proj[t] + _hh(h, w_hh, b_hh)
        act = gates[t]
        act[:, :2 * hidden] = _sigmoid(a[:, :2 * hidden])
        act[:, 2 * hidden:3 * hidden] = np.tanh(a[:, 2 * hidden:3 * hidden])
        act[:, 3 * hidden:] = _sigmoid(a[:, 3 * hidden:])
        i, f, g, o = np.split(act, 4, axis=1)
        c = f * c + i * g
        cells[t] = c
        h = o * np.tanh(c)
        out[t] = h
    out[t_len] = c
    tanh_c = np.tanh(cells)

    def backward(grad, need):
        da = np.empty_like(gates)
        dh_next = np.zeros((batch, hidden), grad.dtype)
        dc = grad[t_len].copy()
        order = list(_steps(t_len, reverse))
        for k, t in enumerate(reversed(order)):
            i, f, g, o = np.split(gates[t], 4, axis=1)
            dh = grad[t] + dh_next
            dc = dc + dh * o * (1 - tanh_c[t] * tanh_c[t])
            c_prev = c0 if k == t_len - 1 else cells[order[t_len - 2 - k]]
            d = da[t]
            d[:, :hidden] = dc * g * i * (1 - i)
            d[:, hidden:2 * hidden] = dc * c_prev * f * (1 - f)
            d[:, 2 * hidden:3 * hidden] = dc * i * (1 - g * g)
            d[:, 3 * hidden:] = dh * tanh_c[t] * o * (1 - o)
            dh_next = d @ w_hh
            dc = dc * f
        gw, gb = _hh_grads(da, h_prev, need[3], b_hh is not None and need[4])
        return (da if need[0] else None, dh_next if need[1] else None,
                dc if need[2] else None, gw, gb)

    return out, backward


def _lstm_cell_forward(act: np.ndarray, c_prev: np.ndarray, c: np.ndarray) -> None:
    """NumPy reference of :func:`lamina.kernels.numba_recurrent.lstm_cell_forward`: the
    sigmoid gates (o, i, f) from tanh of their halved pre-activations, in place, and
    c = f * c_prev + i * g into ``c``."""
    hidden = c.shape[1]
    sig = act[:, :3 * hidden]
    sig *= 0.5
    sig += 0.5
    np.multiply(act[:, 2 * hidden:3 * hidden], c_prev, out=c)
    c += act[:, hidden:2 * hidden] * act[:, 3 * hidden:]


def _lstm_cell_backward(grad_h, dh_next, gate, tanh_c, c_prev, dc, da) -> None:
    """NumPy reference of :func:`lamina.kernels.numba_recurrent.lstm_cell_backward` (the same
    operations in the same order): one step of backpropagation through time; ``dh_next``
    becomes dh = grad_h + dh_next, ``dc`` the carry, ``da`` the gate gradients."""
    hidden = dc.shape[1]
    o, i, f, g = (gate[:, k * hidden:(k + 1) * hidden] for k in range(4))
    dh = np.add(grad_h, dh_next, out=dh_next)
    d = dc + dh * (o * (1 - tanh_c * tanh_c))
    np.multiply(dh, tanh_c * (o * (1 - o)), out=da[:, :hidden])
    np.multiply(d, g * (i * (1 - i)), out=da[:, hidden:2 * hidden])
    np.multiply(d, c_prev * (f * (1 - f)), out=da[:, 2 * hidden:3 * hidden])
    np.multiply(d, i * (1 - g * g), out=da[:, 3 * hidden:])
    np.multiply(d, f, out=dc)


def _step_columns(out: np.ndarray, w: np.ndarray, hidden: int) -> None:
    """out (rows, 4H) = w^T for w (4H, rows) in PyTorch's gate blocks (i, f, g, o): the
    op's (o, i, f, g) columns, the sigmoid ones (o, i, f) halved (exact: a power of two)."""
    np.multiply(w[3 * hidden:].T, 0.5, out=out[:, :hidden])
    np.multiply(w[:2 * hidden].T, 0.5, out=out[:, hidden:3 * hidden])
    out[:, 3 * hidden:] = w[2 * hidden:3 * hidden].T


def _to_gates(a: np.ndarray, hidden: int, dtype=None) -> np.ndarray:
    """PyTorch's gate blocks (i, f, g, o) along axis 0 as the op's (o, i, f, g): a new
    C-contiguous array (of ``dtype``, default a's)."""
    out = np.empty(a.shape, a.dtype if dtype is None else dtype)
    out[:hidden] = a[3 * hidden:]
    out[hidden:] = a[:3 * hidden]
    return out


def _from_gates(a: np.ndarray, hidden: int) -> np.ndarray:
    """The op's gate blocks (o, i, f, g) along axis 0 back in PyTorch's (i, f, g, o): a new
    C-contiguous array."""
    out = np.empty(a.shape, a.dtype)
    out[:3 * hidden] = a[hidden:]
    out[3 * hidden:] = a[:hidden]
    return out


@register
def lstm_sequence(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One LSTM layer in one direction over a whole sequence, input projection included:

        a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh;  i, f, o = sigmoid(a_i, a_f, a_o)
        g = tanh(a_g);  c_t = f * c_{t-1} + i * g;  h_t = o * tanh(c_t)

    (the same function as :func:`lstm_layer` on P = x W_ih^T + b_ih). Forward: per step
    one GEMM [x_t 1 h_{t-1}] [W_ih b W_hh]^T (B, I + 1 + H) @ (I + 1 + H, 4H), b = b_ih +
    b_hh, into a preallocated gate buffer (the input projection and the bias ride along:
    no separate GEMM with I columns, no pass adding them; one more row of the GEMM costs
    less than a pass adding the bias), one ``tanh`` over all 4H pre-activations (the
    sigmoid columns of the weights and bias are halved once: sigmoid(a) = (1 + tanh(a /
    2)) / 2, exact scaling by a power of two) and the cell update in one pass; h_t goes
    straight into the next step's operand. Internally the gates are ordered (o, i, f, g),
    so the three sigmoid gates are one contiguous block; parameters and their gradients
    are in PyTorch's (i, f, g, o).

    Backward (backpropagation through time, one loop from the last step to the first):
    dh_t = dL/dh_t + dh_{t-1 -> t}; dc_t += dh_t o (1 - tanh^2 c_t); da = (dh_t tanh c_t
    o (1 - o), dc_t g i (1 - i), dc_t c_{t-1} f (1 - f), dc_t i (1 - g^2)); dh_{t-1} = da
    W_hh; dc_{t-1} = dc_t f (one kernel pass and one GEMM per step). The weight gradients
    are one GEMM over all steps at the end, [dW_ih db dW_hh] = sum_t da_t^T [x_t 1 h_{t-1}]
    (its middle column is db_ih = db_hh = sum_t da_t); dx = da W_ih for all steps at
    once.

    Returns an array (T + 1, B, H): rows 0..T-1 are h_t, row T is the last cell state c_n
    (c_{T-1}, or c_0 when ``reverse``).

    Shape: x (T, B, I); h0, c0 (B, H); w_ih (4H, I); w_hh (4H, H); b_ih, b_hh (4H,).
    """
    t_len, batch, _ = x.shape
    hidden = w_hh.shape[1]
    if w_ih.shape != (4 * hidden, x.shape[2]) or w_hh.shape != (4 * hidden, hidden):
        raise ValueError(f"lstm_sequence: expected w_ih (4H, I) = {(4 * hidden, x.shape[2])} "
                         f"and w_hh (4H, H) = {(4 * hidden, hidden)}, got {w_ih.shape} and "
                         f"{w_hh.shape}")
    dtype = np.result_type(x, w_ih, w_hh)
    n_in, gates_n = x.shape[2], 4 * hidden
    h_col = n_in + 1  # the first column of h_{t-1} in a step's operand [x_t 1 h_{t-1}]
    bias = np.zeros((gates_n, 1), dtype)
    for b in (b_ih, b_hh):
        if b is not None:
            bias[:, 0] += b
    # [W_ih b W_hh]^T (I + 1 + H, 4H) in the op's gate order, sigmoid columns halved,
    # written in place block by block (no concatenated, rolled and transposed copies)
    w_step = scratch.empty((h_col + hidden, gates_n), dtype)
    for rows, w in ((slice(0, n_in), w_ih), (slice(n_in, h_col), bias),
                    (slice(h_col, h_col + hidden), w_hh)):
        _step_columns(w_step[rows], w, hidden)
    # step s handles t = order[s]; xh[s] = [x_t 1 h_{t-1}] (B, I + 1 + H), the left operand
    # of its one GEMM; the large arrays are reused between calls (scratch: no fresh pages)
    order = list(_steps(t_len, reverse))
    xh = scratch.empty((t_len + 1, batch, h_col + hidden), dtype)
    xh[:t_len, :, :n_in] = x[::-1] if reverse else x
    xh[:, :, n_in] = 1
    xh[0, :, h_col:] = h0
    gates = scratch.empty((t_len, batch, gates_n), dtype)  # (o, i, f, g), activated
    cells = scratch.empty((t_len + 1, batch, hidden), dtype)  # c before / after step s
    tanh_c = scratch.empty((t_len, batch, hidden), dtype)
    cells[0] = c0
    forward_steps = select("lstm_forward_steps", gates)
    step_forward = select("lstm_step_forward", gates)
    cell_forward = select("lstm_cell_forward", gates) or _lstm_cell_forward
    for s in range(0 if forward_steps is None else t_len, t_len):
        act = gates[s]
        np.matmul(xh[s], w_step, out=act)
        if step_forward is not None:  # float32: the rest of the step in one compiled pass
            step_forward(act, cells[s], cells[s + 1], tanh_c[s], xh[s + 1], h_col)
            continue
        np.tanh(act, out=act)
        cell_forward(act, cells[s], cells[s + 1])
        np.tanh(cells[s + 1], out=tanh_c[s])
        np.multiply(act[:, :hidden], tanh_c[s], out=xh[s + 1, :, h_col:])
    if forward_steps is not None:  # the same loop, compiled (float32)
        forward_steps(xh, w_step, gates, cells, tanh_c, h_col)
    out = scratch.empty((t_len + 1, batch, hidden), dtype)
    h_steps = xh[1:, :, h_col:]
    out[:t_len] = h_steps[::-1] if reverse else h_steps
    out[t_len] = cells[t_len]

    def backward(grad, need):
        da = scratch.empty(gates.shape, dtype)  # step order, as gates
        dh_next = np.zeros((batch, hidden), dtype)
        dc = np.array(grad[t_len], dtype=dtype)
        w_back = _to_gates(w_hh, hidden, dtype)  # (4H, H), the op's gate order
        cell_backward = select("lstm_cell_backward", gates, grad) or _lstm_cell_backward
        want_b = (b_ih is not None and need[5]) or (b_hh is not None and need[6])
        # the columns of [x 1 h_prev] whose products are wanted: dW_ih, db, dW_hh
        pieces = [(0, n_in)] * need[3] + [(n_in, h_col)] * want_b + [
            (h_col, h_col + hidden)] * need[4]
        lo, hi = (pieces[0][0], pieces[-1][1]) if pieces else (n_in, n_in)
        w_x = _to_gates(w_ih, hidden, dtype) if need[0] else None
        products = _StepProducts(da, xh, w_x, (lo, hi), need[0], bool(pieces))
        with products.overlapped(t_len) as chunk:
            done = t_len
            backward_steps = None if chunk else select("lstm_backward_steps", gates, grad)
            if backward_steps is not None:  # the loop below, compiled (float32)
                backward_steps(grad, np.array(order, np.int64), w_back, gates, tanh_c, cells,
                               dh_next, dc, da, need[1])
            for s in range(t_len - 1 if backward_steps is None else -1, -1, -1):
                cell_backward(grad[order[s]], dh_next, gates[s], tanh_c[s], cells[s], dc,
                              da[s])
                if s > 0 or need[1]:
                    np.matmul(da[s], w_back, out=dh_next)
                if chunk and done - s >= chunk:
                    products.add(s, done)
                    done = s
            products.add(0, done)
        dx = None
        if need[0]:
            dx = np.ascontiguousarray(products.dx[::-1]) if reverse else products.dx
        dw_ih = dw_hh = db = None
        if pieces:
            dw = products.dw_t.T  # (4H, hi - lo)
            if need[3]:
                dw_ih = _from_gates(dw[:, :n_in], hidden)
            if want_b:
                db = _from_gates(dw[:, n_in - lo], hidden)
            if need[4]:
                dw_hh = _from_gates(dw[:, h_col - lo:], hidden)
        return (dx, dh_next if need[1] else None, dc if need[2] else None, dw_ih, dw_hh,
                db if b_ih is not None and need[5] else None,
                db.copy() if b_hh is not None and need[6] else None)

    return out, backward


class _StepProducts:
    """The matrix products of :func:`lstm_sequence`'s backward pass that take all steps,
    dx = da W_ih and [dW_ih db dW_hh]^T = [x 1 h_prev]^T da (columns ``cols`` of
    [x 1 h_prev]; this orientation is the faster GEMM), summed over blocks of steps:
    :meth:`add` computes the block's share, in this thread or, inside :meth:`overlapped`,
    in a second thread while the time loop goes on (the BLAS on one thread meanwhile,
    :func:`lamina.kernels.blas.single_threaded`). The blocks and the order of their sum
    depend only on LSTM_OVERLAP_STEPS, not on the threads: the same bits either way (with
    LSTM_OVERLAP_STEPS = 0 one block, one product each, as before)."""

    def __init__(self, da, xh, w_ih, cols, want_dx: bool, want_dw: bool) -> None:
        t_len, batch, _ = da.shape
        self.da, self.xh, self.w_ih, self.cols = da, xh, w_ih, cols
        self.dx = np.empty((t_len, batch, w_ih.shape[1]), da.dtype) if want_dx else None
        self.want_dw = want_dw
        self.dw_t = None  # [dW_ih db dW_hh]^T, columns cols of it
        self.pending: list = []
        self.worker = None

    def _block(self, s0: int, s1: int) -> None:
        rows = self.da[s0:s1].reshape(-1, self.da.shape[2])
        if self.dx is not None:
            np.matmul(rows, self.w_ih, out=self.dx[s0:s1].reshape(-1, self.w_ih.shape[1]))
        if self.want_dw:
            lo, hi = self.cols
            share = self.xh[s0:s1, :, lo:hi].reshape(-1, hi - lo).T @ rows  # (hi - lo, 4H)
            if self.dw_t is None:
                self.dw_t = share
            else:
                self.dw_t += share

    def add(self, s0: int, s1: int) -> None:
        """Add the share of steps s0..s1-1 (called from the last block to the first)."""
        if s1 <= s0:
            return
        if self.worker is None:
            self._block(s0, s1)
        else:
            self.pending.append(self.worker.submit(self._block, s0, s1))

    @contextmanager
    def overlapped(self, t_len: int):
        """Yields the block length in steps for the time loop's calls of :meth:`add`:
        LSTM_OVERLAP_STEPS of :mod:`lamina.kernels.thresholds` where it is positive and at
        least two blocks fit, else 0 (one block at the end); waits for the blocks on
        leaving. The blocks run in a second thread where lamina has 2 or more threads
        (:func:`lamina.get_num_threads`) and the BLAS is on one thread or can be set to
        one, else here."""
        from lamina.kernels import thresholds as T

        chunk = T.LSTM_OVERLAP_STEPS
        if chunk <= 0 or t_len < 2 * chunk or (self.dx is None and not self.want_dw):
            yield 0
            return
        from lamina.kernels import blas, parallel  # lazy: threadpoolctl, os

        if parallel.get_num_threads() < 2:
            yield chunk
            return
        with blas.single_threaded() as switched:
            if not switched and blas.threads() != 1:  # (the BLAS's threads unknown)
                yield chunk
                return
            from lamina.kernels import worker

            self.worker = worker.executor()
            try:
                yield chunk
            finally:
                for job in self.pending:
                    job.result()
                self.worker = None


@register(saves=None, view=True)
def sequence_outputs(packed, batch_first=False):
    """The outputs h_t of :func:`lstm_sequence`'s packed result (T + 1, B, H): rows 0..T-1
    as (T, B, H), or as (B, T, H) when ``batch_first`` (a view either way). The same as
    indexing, with a backward that writes the gradient into a reused array (zeros only in
    the cell state's row) instead of a freshly zeroed one.

    Shape: packed (T + 1, B, H) -> (T, B, H) or (B, T, H).
    """
    t_len = packed.shape[0] - 1

    def backward(grad, need):
        full = scratch.empty(packed.shape, grad.dtype)
        full[:t_len] = grad.transpose(1, 0, 2) if batch_first else grad
        full[t_len] = 0
        return (full,)

    return (packed.transpose(1, 0, 2)[:, :t_len] if batch_first else packed[:t_len]), backward


def _gru_rz_input(p: np.ndarray, u: np.ndarray, g: np.ndarray) -> None:
    """NumPy reference of :func:`lamina.kernels.numba_recurrent.gru_rz_input`."""
    width = 2 * (g.shape[1] // 3)
    np.add(p[:, :width], u[:, :width], out=g[:, :width])
    g[:, :width] *= np.asarray(0.5, g.dtype)


def _gru_n_input(p: np.ndarray, u: np.ndarray, g: np.ndarray) -> None:
    """NumPy reference of :func:`lamina.kernels.numba_recurrent.gru_n_input`."""
    hidden = g.shape[1] // 3
    half = np.asarray(0.5, g.dtype)
    rz = g[:, :2 * hidden]
    rz *= half
    rz += half
    np.multiply(g[:, :hidden], u[:, 2 * hidden:], out=g[:, 2 * hidden:])
    np.add(p[:, 2 * hidden:], g[:, 2 * hidden:], out=g[:, 2 * hidden:])


def _gru_hidden(g: np.ndarray, h_prev: np.ndarray, h: np.ndarray) -> None:
    """NumPy reference of :func:`lamina.kernels.numba_recurrent.gru_hidden`."""
    hidden = h.shape[1]
    z = g[:, hidden:2 * hidden]
    np.add((1 - z) * g[:, 2 * hidden:], z * h_prev, out=h)


def _gru_cell_backward(grad_h, carry, mm, g, h_prev, u, dp, du) -> None:
    """NumPy reference of :func:`lamina.kernels.numba_recurrent.gru_cell_backward` (the same
    operations in the same order)."""
    hidden = h_prev.shape[1]
    dh = np.add(grad_h, carry, out=carry)
    dh += mm
    r, z, n = g[:, :hidden], g[:, hidden:2 * hidden], g[:, 2 * hidden:]
    dr, dz, dn = dp[:, :hidden], dp[:, hidden:2 * hidden], dp[:, 2 * hidden:]
    np.multiply(dh * (1 - z), 1 - n * n, out=dn)
    np.multiply(dn * u[:, 2 * hidden:] * r, 1 - r, out=dr)
    np.multiply(dh * (h_prev - n) * z, 1 - z, out=dz)
    du[:, :2 * hidden] = dp[:, :2 * hidden]
    np.multiply(dn, r, out=du[:, 2 * hidden:])
    dh *= z


@register
def gru_layer(proj, h0, w_hh, b_hh=None, reverse=False):
    """One GRU layer in one direction (Cho et al. 2014, PyTorch's form), with
    P_t = (x_r, x_z, x_n) and h_{t-1} W_hh^T + b_hh = (u_r, u_z, u_n):

        r = sigmoid(x_r + u_r);  z = sigmoid(x_z + u_z);  n = tanh(x_n + r * u_n)
        h_t = (1 - z) * n + z * h_{t-1}

    Returns h_t for every t, (T, B, H). Backward: dn = dh (1 - z), dz = dh (h_{t-1} - n),
    da_n = dn (1 - n^2), du_n = da_n r, da_r = da_n u_n r (1 - r), da_z = dz z (1 - z);
    dh_{t-1} = dh z + (da_r, da_z, du_n) W_hh; dW_hh = sum_t du_t^T h_{t-1} (one GEMM).

    Per step: one GEMM into a reused buffer, ``np.tanh`` twice (r and z together, from
    sigma(a) = (1 + tanh(a / 2)) / 2; then n) and three small passes (``[fast]``: compiled,
    :mod:`lamina.kernels.numba_recurrent`, the same bits as the NumPy references
    ``_gru_*``); backward one pass and one GEMM per step.

    Shape: proj (T, B, 3H); h0 (B, H); w_hh (3H, H); b_hh (3H,).
    """
    t_len, batch, three_h = proj.shape
    hidden = three_h // 3
    dtype = np.result_type(proj, h0, w_hh)
    proj = np.ascontiguousarray(proj, dtype)
    w_t = np.ascontiguousarray(w_hh.T, dtype)  # (H, 3H)
    bias = None if b_hh is None else np.asarray(b_hh, dtype)
    rz_input, n_input, new_h = _gru_steps(proj)
    order = list(_steps(t_len, reverse))
    gates = scratch.empty((t_len, batch, three_h), dtype)  # (r, z, n) activated, step order
    u_all = scratch.empty((t_len, batch, three_h), dtype)  # h_{t-1} W_hh^T + b_hh
    hs = np.empty((t_len + 1, batch, hidden), dtype)  # h before / after step s
    hs[0] = h0
    for s in range(t_len):
        p, u, g = proj[order[s]], u_all[s], gates[s]
        np.matmul(hs[s], w_t, out=u)
        if bias is not None:
            u += bias
        rz_input(p, u, g)
        np.tanh(g[:, :2 * hidden], out=g[:, :2 * hidden])
        n_input(p, u, g)
        np.tanh(g[:, 2 * hidden:], out=g[:, 2 * hidden:])
        new_h(g, hs[s], hs[s + 1])
    out = np.ascontiguousarray(hs[:0:-1]) if reverse else hs[1:]

    def backward(grad, need):
        grad = np.ascontiguousarray(grad, dtype)  # (a batch-first output's is transposed)
        dproj = np.empty((t_len, batch, three_h), dtype)
        du = scratch.empty((t_len, batch, three_h), dtype)  # step order
        carry = np.zeros((batch, hidden), dtype)
        mm = np.zeros((batch, hidden), dtype)
        cell_backward = select("gru_cell_backward", gates, grad) or _gru_cell_backward
        for s in range(t_len - 1, -1, -1):
            t = order[s]
            cell_backward(grad[t], carry, mm, gates[s], hs[s], u_all[s], dproj[t], du[s])
            if s > 0 or need[1]:
                np.matmul(du[s], w_hh, out=mm)
        gw, gb = _hh_grads(du, hs[:t_len], need[2], b_hh is not None and need[3])
        return (dproj if need[0] else None, (carry + mm) if need[1] else None, gw, gb)

    return out, backward


def _gru_steps(proj: np.ndarray):
    """The three per-step passes of :func:`gru_layer`: compiled where registered and
    eligible, else the NumPy references."""
    if select("gru_rz_input", proj) is None:
        return _gru_rz_input, _gru_n_input, _gru_hidden
    from lamina.kernels import numba_kernels

    compiled = numba_kernels("recurrent")
    return compiled.gru_rz_input, compiled.gru_n_input, compiled.gru_hidden


@register
def rnn_layer(proj, h0, w_hh, b_hh=None, reverse=False, nonlinearity="tanh"):
    """One Elman RNN layer in one direction: h_t = act(P_t + h_{t-1} W_hh^T + b_hh), act tanh
    or relu. Returns h_t for every t, (T, B, H). Backward: da_t = dh_t act'(a_t) with
    act' = 1 - h_t^2 (tanh) or [h_t > 0] (relu); dh_{t-1} = da_t W_hh; dW_hh = sum_t
    da_t^T h_{t-1} (one GEMM). Each step writes into preallocated arrays (one GEMM and
    in-place passes; backward likewise).

    Shape: proj (T, B, H); h0 (B, H); w_hh (H, H); b_hh (H,).
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    t_len, batch, hidden = proj.shape
    dtype = np.result_type(proj, h0, w_hh)
    w_t = np.ascontiguousarray(w_hh.T, dtype)
    order = list(_steps(t_len, reverse))
    hs = np.empty((t_len + 1, batch, hidden), dtype)  # h before / after step s
    hs[0] = h0
    for s in range(t_len):
        h = hs[s + 1]
        np.matmul(hs[s], w_t, out=h)
        h += proj[order[s]]
        if b_hh is not None:
            h += b_hh
        if nonlinearity == "tanh":
            np.tanh(h, out=h)
        else:
            np.maximum(h, 0, out=h)
    out = np.ascontiguousarray(hs[:0:-1]) if reverse else hs[1:]

    def backward(grad, need):
        da = np.empty((t_len, batch, hidden), dtype)  # indexed by t, as proj
        dh_next = np.zeros((batch, hidden), dtype)
        for s in range(t_len - 1, -1, -1):
            t, h = order[s], hs[s + 1]
            d = np.add(grad[t], dh_next, out=da[t])
            if nonlinearity == "tanh":
                d *= 1 - h * h
            else:
                d *= h > 0
            if s > 0 or need[1]:
                np.matmul(d, w_hh, out=dh_next)
        steps = da[::-1] if reverse else da  # step order, as hs
        gw, gb = _hh_grads(steps, hs[:t_len], need[2], b_hh is not None and need[3])
        return (da if need[0] else None, dh_next if need[1] else None, gw, gb)

    return out, backward
