"""Winograd's minimal filtering F(4x4, 3x3) for 3 x 3 stride-1 convolutions (a path of
:func:`lamina.ops.conv.conv2d`, eq 6.4, no op of its own).

A 3 x 3 correlation of a 6 x 6 input tile ``d`` gives a 4 x 4 output tile ``Y``; Winograd's
algorithm (Lavin and Gray 2016, "Fast algorithms for convolutional neural networks") writes it
with 36 multiplications instead of 144:

    Y = A^T [ (G w G^T) * (B^T d B) ] A        (* elementwise, 6 x 6)

with the fixed matrices B^T (6 x 6), G (6 x 3), A^T (4 x 6) below (interpolation points
0, +-1, +-2, infinity). Over channels the elementwise products become, at each of the 36
positions xi of the 6 x 6 tile, one matrix product:

    U[xi] = (G w[k, c] G^T)[xi]   (C_out, C_in)     the transformed kernel
    V[xi] = (B^T d[c, t] B)[xi]   (C_in, T)         the transformed input tiles, T = tiles * N
    M[xi] = U[xi] @ V[xi]         (C_out, T)
    z[k, tile t] = A^T M[:, :, k, t] A

so a convolution is an input transform, 36 GEMMs and an output transform. The GEMMs do 4x
fewer multiply-adds than im2col + GEMM (36 per 4 x 4 outputs and channel pair instead of
16 * 9 = 144); the transforms cost in proportion to C_in + C_out, not C_in * C_out, which is
why the path is taken only with enough channels. F(2x2, 3x3) (16 GEMMs, 2.25x fewer) lost
to it: at batch 64 on the MNIST example's conv2 its 16 GEMMs took 15 ms (its transformed
arrays are 1.8x larger and its GEMMs memory-bound) against 4.9 ms for the 36 of F(4x4, 3x3).

The backward pass is the adjoint of the same three linear steps (exact gradients of this
computation, equal to the convolution's up to rounding):

    dM[xi] = (A dY A^T)[xi]                      the output gradient's tiles
    dU[xi] = dM[xi] @ V[xi]^T,  grad_w = G^T dU G
    dV[xi] = U[xi]^T @ dM[xi],  grad_x tile += B dV B^T   (neighbouring tiles overlap by 2)

The tiles of a (C, Hp, Wp, N) input (the ops' internal layout, batch innermost) start every 4
rows and columns; an output whose height or width is not a multiple of 4 gets zero rows and
columns added to the input and its extra outputs dropped. The tiles are processed in blocks
(whole tile rows, or pieces of one: WINOGRAD_BLOCK_BYTES) so that the transformed arrays
stay small.

Rounding: the transforms multiply by up to 8 and divide by 24, so float32 results are less
accurate than im2col's: against float64, 3-4e-6 of the largest |value| of the output and of
both gradients, im2col 2-5e-7 (the MNIST example's conv2 at batch 16); the tests bound the
difference from im2col by 2e-5. float64 stays within ~1e-14.

The transforms are NumPy matrix products here (serving the pure NumPy path) and compiled
kernels with ``lamina[fast]`` (registered as ``winograd_*`` in
:mod:`lamina.kernels.registry`), which can split the channels over
:func:`lamina.get_num_threads` threads (:mod:`lamina.kernels.parallel`; bitwise the same
results for any number; serial unless WINOGRAD_TRANSFORM_THREADS in
:mod:`lamina.kernels.thresholds` is raised: on this 2-core machine they gained nothing in a
training step, see there).
"""

from __future__ import annotations

import math

import numpy as np

from lamina import kernels
from lamina.kernels import registry
from lamina.kernels import thresholds as T
from lamina.ops import im2col as L
from lamina.ops import scratch

M_OUT = 4  # output tile side
ALPHA = 6  # input tile side: M_OUT + 3 - 1

BT = np.array([[4, 0, -5, 0, 1, 0],
               [0, -4, -4, 1, 1, 0],
               [0, 4, -4, -1, 1, 0],
               [0, -2, -1, 2, 1, 0],
               [0, 2, -1, -2, 1, 0],
               [0, 4, 0, -5, 0, 1]], dtype=np.float64)
G = np.array([[1 / 4, 0, 0],
              [-1 / 6, -1 / 6, -1 / 6],
              [-1 / 6, 1 / 6, -1 / 6],
              [1 / 24, 1 / 12, 1 / 6],
              [1 / 24, -1 / 12, 1 / 6],
              [0, 0, 1]], dtype=np.float64)
AT = np.array([[1, 1, 1, 1, 1, 0],
               [0, 1, -1, 2, -2, 0],
               [0, 1, 1, 4, 4, 0],
               [0, 1, -1, 8, -8, 1]], dtype=np.float64)


def tile_counts(out_hw: tuple[int, int]) -> tuple[int, int]:
    """(tile rows, tile columns) covering an output of ``out_hw``: ceil(H_out / 4), ..."""
    return -(-out_hw[0] // M_OUT), -(-out_hw[1] // M_OUT)


GG = np.kron(G, G)  # (36, 9): GG[6 p + q, 3 i + j] = G[p, i] G[q, j]


def weight_transform(weight: np.ndarray) -> np.ndarray:
    """U = G w G^T per (C_out, C_in) pair, as (36, C_out, C_in) in the weight's dtype
    (computed in float64, then rounded once): one product GG @ w with GG = G (x) G (the
    Kronecker product, 36 x 9) and w as (9, C_out C_in)."""
    w = weight.astype(np.float64, copy=False).reshape(-1, 9)
    return (GG @ w.T).reshape(ALPHA * ALPHA, *weight.shape[:2]).astype(weight.dtype)


def weight_grad_transform(grad_u: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """grad_w = G^T dU G, the adjoint of :func:`weight_transform`, for dU (36, C_out, C_in);
    (C_out, C_in, 3, 3) in dU's dtype: GG^T @ dU as (9, C_out C_in), transposed."""
    du = grad_u.reshape(ALPHA * ALPHA, -1).astype(np.float64, copy=False)
    return np.ascontiguousarray((GG.T @ du).T.reshape(shape), grad_u.dtype)


_MATRICES: dict = {}
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _matrix(name: str, dtype) -> np.ndarray:
    """The transform matrix ``name`` ("BT", "B", "AT", "A": B = (B^T)^T...) as a C-contiguous
    array of ``dtype``, made once."""
    key = (name, np.dtype(dtype))
    if key not in _MATRICES:
        base = {"BT": BT, "B": BT.T, "AT": AT, "A": AT.T, "K": np.array([2, 4, 5, 8])}[name]
        _MATRICES[key] = np.ascontiguousarray(base, dtype)
    return _MATRICES[key]


def _constants(dtype) -> np.ndarray:
    """(2, 4, 5, 8), the entries of B^T and A^T other than 0 and +-1, in ``dtype``: the
    compiled transforms' multipliers (they write the matrices out, sparsely)."""
    return _matrix("K", dtype)


def _take(buffer: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The first numbers of the 1-D ``buffer`` as a C-contiguous array of ``shape`` (one
    buffer serves every block: large arrays made anew cost page faults each time)."""
    return buffer[:math.prod(shape)].reshape(shape)


def _split(compiled, name: str, args: tuple, channels: int) -> None:
    """Run the compiled transform ``compiled`` (kernel ``name``) on all ``channels``: in
    this thread with one thread (min of :func:`lamina.get_num_threads` and
    WINOGRAD_TRANSFORM_THREADS, 1 by default: see :mod:`lamina.kernels.thresholds`), else
    its ``_threads`` variant, the channels split into that many pieces run at once (bitwise
    the same)."""
    from lamina.kernels import parallel  # lamina.get_num_threads's module: lazy

    threads = min(parallel.get_num_threads(), T.WINOGRAD_TRANSFORM_THREADS)
    if threads == 1 or channels < 2:
        compiled(*args, 0, channels)
    else:
        parallel.start_numba_threads()
        threaded = getattr(kernels.numba_kernels("winograd"), name + "_threads")
        threaded(*args, parallel.bounds(channels, threads))


def input_tiles(xp: np.ndarray, block: tuple[int, int, int, int],
                buffer: np.ndarray) -> np.ndarray:
    """V = B^T d B of the 6 x 6 input tiles of ``block = (r0, r1, t0, t1)`` (tile rows r0 ..
    r1 - 1, tile columns t0 .. t1 - 1), as (36, C, R*X*N) (R = r1 - r0, X = t1 - t0) in
    ``buffer``'s memory; ``xp`` is (C, Hp, Wp, N), C-contiguous, with at least 4 * r1 + 2
    rows and 4 * t1 + 2 columns."""
    c, n = xp.shape[0], xp.shape[3]
    r0, r1, t0, t1 = block
    v = _take(buffer, (ALPHA * ALPHA, c, r1 - r0, t1 - t0, n))
    compiled = registry.select("winograd_input", xp, v)
    if compiled is not None:
        _split(compiled, "winograd_input", (xp, _constants(xp.dtype), r0, t0, v), c)
        return v.reshape(ALPHA * ALPHA, c, -1)
    s_c, s_h, s_w, s_n = xp.strides
    # (6, 6, C, R, X, N): element (i, j) of every tile
    patches = np.ndarray((ALPHA, ALPHA, c, r1 - r0, t1 - t0, n), xp.dtype, xp,
                         (r0 * s_h + t0 * s_w) * M_OUT,
                         (s_h, s_w, s_c, M_OUT * s_h, M_OUT * s_w, s_n))
    bt = _matrix("BT", xp.dtype)
    rows_done = bt @ np.ascontiguousarray(patches).reshape(ALPHA, -1)  # (p, j, ...)
    np.matmul(bt, rows_done.reshape(ALPHA, ALPHA, -1), out=v.reshape(ALPHA, ALPHA, -1))
    return v.reshape(ALPHA * ALPHA, c, -1)


def _tile_view(a: np.ndarray, block: tuple[int, int, int, int], size: int = M_OUT) -> np.ndarray:
    """The (C, R, size, X, size, N) view of the ``size`` x ``size`` tiles of ``block`` of a
    (C, H, W, N) array whose tiles start every 4 rows and columns (a view: assigning to it
    writes ``a``)."""
    r0, r1, t0, t1 = block
    s_c, s_h, s_w, s_n = a.strides
    return np.ndarray((a.shape[0], r1 - r0, size, t1 - t0, size, a.shape[3]), a.dtype, a,
                      (r0 * s_h + t0 * s_w) * M_OUT,
                      (s_c, M_OUT * s_h, s_h, M_OUT * s_w, s_w, s_n))


def output_tiles(m: np.ndarray, block: tuple[int, int, int, int], z: np.ndarray,
                 bias: np.ndarray | None = None) -> None:
    """Write Y = A^T M A (+ bias per channel), the 4 x 4 output tiles of ``block`` from M
    (36, C_out, R*X*N), into ``z`` (C_out, 4 * ty, 4 * tx, N) (whole tiles: the caller
    crops)."""
    k, n = z.shape[0], z.shape[3]
    r0, r1, t0, t1 = block
    compiled = registry.select("winograd_output", m, z, bias)
    if compiled is not None:
        _split(compiled, "winograd_output",
               (m.reshape(ALPHA * ALPHA, k, r1 - r0, t1 - t0, n), _constants(m.dtype),
                np.empty(0, z.dtype) if bias is None else bias, r0, t0, z), k)
        return
    at = _matrix("AT", m.dtype)
    cols_done = at @ m.reshape(ALPHA, -1)  # (i, q, ...)
    y = np.matmul(at, cols_done.reshape(M_OUT, ALPHA, -1))  # (i, j, ...)
    y = y.reshape(M_OUT, M_OUT, k, r1 - r0, t1 - t0, n)
    target = _tile_view(z, block)
    target[...] = y.transpose(2, 3, 0, 4, 1, 5)
    if bias is not None:
        target += bias[:, None, None, None, None, None]


def output_grad_tiles(g: np.ndarray, block: tuple[int, int, int, int],
                      buffer: np.ndarray) -> np.ndarray:
    """dM = A dY A^T, the adjoint of :func:`output_tiles`, for the output gradient ``g``
    (C_out, 4 * ty, 4 * tx, N): (36, C_out, R*X*N) in ``buffer``'s memory."""
    k, n = g.shape[0], g.shape[3]
    r0, r1, t0, t1 = block
    dm = _take(buffer, (ALPHA * ALPHA, k, r1 - r0, t1 - t0, n))
    compiled = registry.select("winograd_output_grad", g, dm)
    if compiled is not None:
        _split(compiled, "winograd_output_grad", (g, _constants(g.dtype), r0, t0, dm), k)
        return dm.reshape(ALPHA * ALPHA, k, -1)
    tiles = _tile_view(g, block)
    a = _matrix("A", g.dtype)
    rows_done = a @ np.ascontiguousarray(tiles.transpose(2, 4, 0, 1, 3, 5)).reshape(M_OUT, -1)
    np.matmul(a, rows_done.reshape(ALPHA, M_OUT, -1), out=dm.reshape(ALPHA, ALPHA, -1))
    return dm.reshape(ALPHA * ALPHA, k, -1)


def output_grad_tiles_pooled(compiled, g: np.ndarray, index: np.ndarray,
                             block: tuple[int, int, int, int], buffer: np.ndarray) -> np.ndarray:
    """:func:`output_grad_tiles` for dY the gradient of the input of a 2 x 2, stride-2
    max-pool, from the pooled gradient ``g`` and the maxima's offsets ``index`` (both
    (C_out, 2 ty, 2 tx, N)) by the compiled kernel ``compiled``
    (``winograd_output_grad_pooled``, selected by the caller): dY is never written out."""
    k, n = g.shape[0], g.shape[3]
    r0, r1, t0, t1 = block
    dm = _take(buffer, (ALPHA * ALPHA, k, r1 - r0, t1 - t0, n))
    _split(compiled, "winograd_output_grad_pooled",
           (g, index, _constants(g.dtype), r0, t0, dm), k)
    return dm.reshape(ALPHA * ALPHA, k, -1)


def input_grad_tiles(dv: np.ndarray, block: tuple[int, int, int, int],
                     grad_xp: np.ndarray) -> None:
    """Add B dV B^T, the adjoint of :func:`input_tiles` for dV (36, C, R*X*N), into the
    padded input gradient ``grad_xp`` (C, Hp, Wp, N) (tiles overlap by two rows and
    columns: their sums add up there)."""
    c, n = grad_xp.shape[0], grad_xp.shape[3]
    r0, r1, t0, t1 = block
    compiled = registry.select("winograd_input_grad", dv, grad_xp)
    if compiled is not None:
        _split(compiled, "winograd_input_grad",
               (dv.reshape(ALPHA * ALPHA, c, r1 - r0, t1 - t0, n), _constants(dv.dtype), r0,
                t0, grad_xp), c)
        return
    b = _matrix("B", dv.dtype)
    rows_done = b @ dv.reshape(ALPHA, -1)  # (i, q, ...)
    d = np.matmul(b, rows_done.reshape(ALPHA, ALPHA, -1))  # (i, j, ...)
    d = d.reshape(ALPHA, ALPHA, c, r1 - r0, t1 - t0, n)
    # the 4 x 4 core of every tile, then its two extra rows, columns and corner: each view
    # is free of overlaps, so one += adds every tile's share
    tiles = _tile_view(grad_xp, block, ALPHA)
    for i0, i1 in ((0, M_OUT), (M_OUT, ALPHA)):
        for j0, j1 in ((0, M_OUT), (M_OUT, ALPHA)):
            view = tiles[:, :, i0:i1, :, j0:j1]
            view += d[i0:i1, j0:j1].transpose(2, 3, 0, 4, 1, 5)


def tile_blocks(ty: int, tx: int, tile_bytes: int) -> list[tuple[int, int, int, int]]:
    """Split the ty x tx tiles into blocks ``(r0, r1, t0, t1)`` of about
    WINOGRAD_BLOCK_BYTES of transformed arrays (``tile_bytes`` a tile): whole tile rows
    where one fits, else near-equal pieces of one row (at least one tile a block)."""
    per_block = max(1, T.WINOGRAD_BLOCK_BYTES // max(tile_bytes, 1))
    if per_block >= tx:
        step = per_block // tx
        return [(r, min(ty, r + step), 0, tx) for r in range(0, ty, step)]
    pieces = -(-tx // per_block)
    edges = [round(i * tx / pieces) for i in range(pieces + 1)]
    return [(r, r + 1, a, b) for r in range(ty) for a, b in zip(edges, edges[1:], strict=False)]


def placed(xt: np.ndarray, offset: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """xt (C, H, W, N) inside zeros: a C-contiguous (C, Hs, Ws, N) = ``shape`` array with
    ``offset`` = (rows, columns) of zeros before xt and zeros after it, made in one copy in
    a reused array (ops/scratch.py); ``xt`` itself where it already is such an array. (The
    padded input of a convolution with the whole tiles' extra rows and columns; an output
    gradient extended to whole tiles.)"""
    (ph, pw), (h, w) = offset, xt.shape[1:3]
    if offset == (0, 0) and xt.shape == shape and xt.flags.c_contiguous:
        return xt
    out = scratch.empty(shape, xt.dtype)
    out[:, :ph] = 0
    out[:, ph + h:] = 0
    out[:, ph:ph + h, :pw] = 0
    out[:, ph:ph + h, pw + w:] = 0
    out[:, ph:ph + h, pw:pw + w] = xt
    return out


def conv2d(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
           padding: tuple[int, int], out_hw: tuple[int, int]):
    """The forward value and backward function of :func:`lamina.ops.conv.conv2d` (same
    contract) for a 3 x 3 kernel of stride 1, by F(4x4, 3x3); the caller has checked the
    arguments (``out_hw`` is the output's (H_out, W_out)). Where H_out and W_out are
    multiples of 4 the backward function has an attribute ``from_pooled(g, index, need)``:
    the same gradients for the output gradient that a 2 x 2, stride-2 max-pool's backward
    pass would route from its gradient ``g`` by the uint8 offsets ``index`` (both
    (C_out, H_out / 2, W_out / 2, N), internal layout), without writing that out
    (``winograd_output_grad_pooled``)."""
    z, internal_backward = conv2d_internal(x, weight, bias, padding, out_hw)

    def backward(grad, need):
        return internal_backward(grad.transpose(L.TO_INTERNAL), need)

    if out_hw[0] % M_OUT == 0 and out_hw[1] % M_OUT == 0:
        backward.from_pooled = lambda g, index, need: internal_backward(None, need, (g, index))
    return z.transpose(L.TO_NCHW), backward


def conv2d_internal(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                    padding: tuple[int, int], out_hw: tuple[int, int]):
    """:func:`conv2d` in the ops' internal layout: the output as (C_out, H_out, W_out, N)
    (a view of whole tiles where H_out or W_out is not a multiple of 4) and a backward
    function taking the output gradient in that layout (for fused ops such as
    :func:`lamina.ops.conv.conv2d_relu_max_pool2d`)."""
    c_out, c_in = weight.shape[:2]
    hw = x.shape[2:]
    n = x.shape[0]
    padded_hw = (hw[0] + 2 * padding[0], hw[1] + 2 * padding[1])
    ty, tx = tile_counts(out_hw)
    ext = (c_in, M_OUT * ty + 2, M_OUT * tx + 2, n)  # >= padded_hw: out_hw = padded_hw - 2
    xe = placed(x.transpose(L.TO_INTERNAL), padding, ext)  # kept for the backward pass
    u = weight_transform(weight)
    dtype = x.dtype
    blocks = tile_blocks(ty, tx, ALPHA * ALPHA * (c_in + c_out) * n * dtype.itemsize)
    most = ALPHA * ALPHA * max((r1 - r0) * (t1 - t0) for r0, r1, t0, t1 in blocks) * n
    whole = (c_out, M_OUT * ty, M_OUT * tx, n)  # the output in whole tiles
    # reused arrays (ops/scratch.py): no fresh pages to fault in at every step
    ze = scratch.empty(whole, dtype)
    v_buffer, m_buffer = scratch.empty((most * c_in,), dtype), scratch.empty((most * c_out,), dtype)
    for block in blocks:
        v = input_tiles(xe, block, v_buffer)
        m = np.matmul(u, v, out=_take(m_buffer, (ALPHA * ALPHA, c_out, v.shape[2])))
        output_tiles(m, block, ze, bias)
    del v_buffer, m_buffer
    z = ze[:, :out_hw[0], :out_hw[1]] if whole[1:3] != out_hw else ze
    del ze

    def backward(gt, need, pooled=None, bn=None):
        """The gradients for the output gradient ``gt`` (internal layout); or, with
        ``pooled = (g, index)`` and ``gt`` None, for the gradient of the input of a 2 x 2,
        stride-2 max-pool of the output (whole tiles only): g the pooled gradient, index
        the uint8 offsets of the windows' maxima (see :func:`conv2d`'s ``from_pooled``); or,
        with ``bn = (compiled, g, index, z, coef)`` and ``gt`` None, for the gradient of the
        input of batch norm -> ReLU -> that max-pool, formed block by block by ``compiled``
        (``winograd_output_grad_bn_pooled``, selected by the caller) from z, this output in
        whole tiles (C_out, 4 ty, 4 tx, N), and coef (C_out, 3) (see there); no bias
        gradient then."""
        compiled = None
        if bn is not None:
            compiled, g, index, z_whole, coef = bn
            gt = g
        elif pooled is not None:
            g, index = np.ascontiguousarray(pooled[0], dtype), np.ascontiguousarray(pooled[1])
            compiled = registry.select("winograd_output_grad_pooled", g, index, g)
            if compiled is None:  # the scatter, then the plain path
                gt = L.max_scatter(g, index, whole, (2, 2), (2, 2))
            else:
                gt = g  # (sums as the whole gradient's: the scatter only moves numbers)
        grad_b = gt.sum(axis=(1, 2, 3)) if bias is not None and need[2] and bn is None else None
        if not (need[0] or need[1]):
            return None, None, grad_b
        ge = None if compiled is not None else placed(gt.astype(dtype, copy=False), (0, 0),
                                                      whole)
        grad_u = np.zeros(u.shape, dtype) if need[1] else None
        grad_xe = None
        if need[0]:
            grad_xe = scratch.empty(ext, dtype)
            grad_xe.fill(0)
        u_t = u.transpose(0, 2, 1)
        # one buffer for V, then for dV (V is no longer needed once dU has its share)
        v_buffer = scratch.empty((most * c_in,), dtype)
        dm_buffer = scratch.empty((most * c_out,), dtype)
        for block in blocks:
            if bn is not None:
                dm = _take(dm_buffer, (ALPHA * ALPHA, c_out, block[1] - block[0],
                                       block[3] - block[2], n))
                _split(compiled, "winograd_output_grad_bn_pooled",
                       (g, index, z_whole, coef, *out_hw, _constants(dtype), block[0], block[2],
                        dm), c_out)
                dm = dm.reshape(ALPHA * ALPHA, c_out, -1)
            elif compiled is not None:
                dm = output_grad_tiles_pooled(compiled, g, index, block, dm_buffer)
            else:
                dm = output_grad_tiles(ge, block, dm_buffer)
            if need[1]:
                v = input_tiles(xe, block, v_buffer)
                grad_u += np.matmul(dm, v.transpose(0, 2, 1))
            if need[0]:
                dv = np.matmul(u_t, dm, out=_take(v_buffer, (ALPHA * ALPHA, c_in, dm.shape[2])))
                input_grad_tiles(dv, block, grad_xe)
        grad_x = None
        if need[0]:
            grad_xp = grad_xe[:, :padded_hw[0], :padded_hw[1]]
            grad_x = L.to_nchw(grad_xp, padding, hw)
        grad_w = weight_grad_transform(grad_u, weight.shape) if need[1] else None
        return grad_x, grad_w, grad_b

    return z, backward


def eligible(x: np.ndarray, weight: np.ndarray, stride: tuple[int, int],
             out_hw: tuple[int, int]) -> bool:
    """Whether :func:`lamina.ops.conv.conv2d` runs by Winograd: a 3 x 3 kernel of stride 1,
    one dtype, float32 or float64 (in float16 the transforms' rounding is too large), enough
    channels that the 36 GEMMs save more than the transforms cost
    (C_in * C_out / (C_in + C_out) >= WINOGRAD_MIN_CHANNELS) and enough outputs to amortise
    the per-tile work (N * H_out * W_out >= WINOGRAD_MIN_OUTPUTS; both in
    :mod:`lamina.kernels.thresholds`)."""
    c_out, c_in, kh, kw = weight.shape
    return (kh == 3 and kw == 3 and stride == (1, 1) and x.dtype == weight.dtype
            and x.dtype in _FLOATS and c_in * c_out >= T.WINOGRAD_MIN_CHANNELS * (c_in + c_out)
            and x.shape[0] * out_hw[0] * out_hw[1] >= T.WINOGRAD_MIN_OUTPUTS)
