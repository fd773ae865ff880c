"""The Adam update compiled by Numba (``pip install lamina[fast]``): the same rule in one pass.

:meth:`lamina.optim.Adam.update` in NumPy streams through the parameters twelve times (one
ufunc call per arithmetic step, each reading and writing whole arrays); this kernel does the
same arithmetic element by element in one loop (moving average, squared moving average,
parameter step), so each array is read and written once and the square root and division run
vectorised on values already in registers. About 3x faster on a 270k-parameter MLP; one loop
rather than one per moment: 73 us against 111 us for LeNet-5's 62k parameters when they come
from memory, as they do after a backward pass (measured A/B in one process).

Bitwise identical to the NumPy path: the same operations in the same order on the same dtype
(every scalar is cast to the arrays' dtype first, as NumPy does with Python scalars, and
``fastmath`` is off, so no fused multiply-add or reassociation). The tests compare both paths.

Imported on first use (never by ``import lamina``); :func:`adam_kernel` returns None when Numba
is missing or disabled: it asks :func:`lamina.kernels.numba_available` at every call, the switch
the convolution kernels use (``LAMINA_NO_NUMBA=1``, or that function monkeypatched).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lamina import kernels as _kernels

_cache: dict[str, Callable | None] = {}


def adam_kernel() -> Callable | None:
    """The compiled :func:`adam_moments_and_step`, or None when the NumPy path must be used.

    Returns:
        A function ``(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, one_minus_beta1,
        one_minus_beta2, beta2, eps_root, step_root, amsgrad) -> None`` on 1-D contiguous arrays
        of one dtype (scalars of that dtype), or None.
    """
    return _compiled(adam_moments_and_step)


def _compiled(source: Callable) -> Callable | None:
    """``source`` compiled by Numba (once; no fastmath, so the bits equal NumPy's), or None
    when Numba is missing or disabled (:func:`lamina.kernels.numba_available`, asked at every
    call)."""
    if not _kernels.numba_available():  # (looked up at every call: tests switch it)
        return None
    name = source.__name__
    compiled = _cache.get(name)
    if compiled is not None:
        return compiled
    if name not in _cache:
        try:
            from numba import njit
        except ImportError:  # pragma: no cover - numba_available() said it is installed
            _cache[name] = None
        else:
            _cache[name] = njit(cache=True, nogil=True, error_model="numpy",
                                fastmath=False)(source)
    return _cache[name]


def adam_moments_and_step(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, one_minus_beta1,
                          one_minus_beta2, beta2, eps_root, step_root, amsgrad):
    """One Adam step in place (the kernel's Python source; :func:`adam_kernel` compiles it).

    With ``g = grad``, ``r = sqrt(1 - beta2**step)`` and ``step_size = lr / (1 - beta1**step)``::

        exp_avg    = exp_avg + (1 - beta1) * (g - exp_avg)
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * (g * g)
        v          = max(max_exp_avg_sq, exp_avg_sq) if amsgrad else exp_avg_sq
        param      = param - (step_size * r) * (exp_avg / (sqrt(v) + eps * r))

    Args:
        param, grad, exp_avg, exp_avg_sq: 1-D arrays of one size and dtype (grad read only).
        max_exp_avg_sq: 1-D array updated when ``amsgrad`` (ignored otherwise).
        one_minus_beta1, one_minus_beta2, beta2: the decay factors, in the arrays' dtype.
        eps_root: ``eps * r``; step_root: ``step_size * r`` (both in the arrays' dtype).
        amsgrad: use the running maximum of ``exp_avg_sq``.
    """
    n = param.size
    if amsgrad:
        for i in range(n):
            g = grad[i]
            m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i])
            v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (g * g)
            v_max = np.maximum(max_exp_avg_sq[i], v)
            exp_avg[i], exp_avg_sq[i], max_exp_avg_sq[i] = m, v, v_max
            param[i] -= step_root * (m / (np.sqrt(v_max) + eps_root))
    else:
        for i in range(n):
            g = grad[i]
            m = exp_avg[i] + one_minus_beta1 * (g - exp_avg[i])
            v = beta2 * exp_avg_sq[i] + one_minus_beta2 * (g * g)
            exp_avg[i], exp_avg_sq[i] = m, v
            param[i] -= step_root * (m / (np.sqrt(v) + eps_root))


#: the gradients one call of :func:`adam_pieces` takes: a tuple of exactly this many 1-D
#: arrays (padded with empty ones), so that Numba compiles the kernel once per dtype rather
#: than once per number of parameters
PIECES = 16


def pieces_ready(grads: list[np.ndarray], dtype: np.dtype) -> bool:
    """Whether a pieces kernel (:func:`adam_pieces`, :func:`adadelta_pieces`) can read
    ``grads`` (1-D, from :meth:`lamina.optim.flat.FlatGroup.grads`) where they are: plain
    writeable C-contiguous arrays of the parameters' dtype (a read-only array is another type
    to Numba: a tuple mixing them would not compile)."""
    for g in grads:
        if type(g) is not np.ndarray or g.dtype != dtype:
            return False
        flags = g.flags
        if not (flags.c_contiguous and flags.writeable):
            return False
    return True


def over_pieces(kernel: Callable, param: np.ndarray, grads: list[np.ndarray],
                states: tuple[np.ndarray, ...], *scalars) -> None:
    """Run a pieces kernel over a flat group: ``kernel(param[a:b], chunk, *[s[a:b] for s in
    states], *scalars)`` for each run of :data:`PIECES` gradients (``chunk``, padded with
    empty arrays) covering ``param[a:b]``; ``param`` and ``states`` are 1-D, ``grads`` in
    their order (:func:`pieces_ready`)."""
    if len(grads) <= PIECES:  # one call on the whole buffers: no slices to make
        kernel(param, (*grads, *_padding(param.dtype, PIECES - len(grads))), *states, *scalars)
        return
    empty = (np.empty(0, param.dtype),)
    start = 0
    for first in range(0, len(grads), PIECES):
        chunk = tuple(grads[first:first + PIECES])
        stop = start
        for g in chunk:
            stop += g.size
        chunk += empty * (PIECES - len(chunk))
        kernel(param[start:stop], chunk, *[s[start:stop] for s in states], *scalars)
        start = stop


_PADDING: dict[np.dtype, tuple[np.ndarray, ...]] = {}


def _padding(dtype: np.dtype, count: int) -> tuple[np.ndarray, ...]:
    """``count`` empty arrays of ``dtype`` (made once per dtype; nothing writes into them)."""
    empties = _PADDING.get(dtype)
    if empties is None:
        empties = _PADDING[dtype] = tuple(np.empty(0, dtype) for _ in range(PIECES))
    return empties[:count]


def adam_pieces_kernel() -> Callable | None:
    """The compiled :func:`adam_pieces`, or None when the NumPy path must be used."""
    return _compiled(adam_pieces)


def adam_pieces(param, grads, exp_avg, exp_avg_sq, max_exp_avg_sq, one_minus_beta1,
                one_minus_beta2, beta2, eps_root, step_root, amsgrad):
    """:func:`adam_moments_and_step` on ``param`` and its state laid end to end, reading the
    gradient piece by piece from the tuple ``grads`` (1-D arrays, each where backward left
    it): the same arithmetic on every element, so the same bits, without first copying the
    gradients into one array (a pass over all of them, most of the step for a small model).

    Args:
        param, exp_avg, exp_avg_sq, max_exp_avg_sq: 1-D arrays of one size and dtype.
        grads: a tuple of :data:`PIECES` 1-D C-contiguous arrays of that dtype whose sizes
            add up to ``param.size`` (empty ones at the end pad it).
        The scalars: as :func:`adam_moments_and_step`.
    """
    start = 0
    for k in range(len(grads)):
        grad = grads[k]
        n = grad.size
        # views of this piece, indexed from 0: no negative-index checks, the loops vectorise
        p, m_, v_ = param[start:start + n], exp_avg[start:start + n], exp_avg_sq[start:start + n]
        if amsgrad:
            w_ = max_exp_avg_sq[start:start + n]
            for i in range(n):
                g = grad[i]
                m = m_[i] + one_minus_beta1 * (g - m_[i])
                v = beta2 * v_[i] + one_minus_beta2 * (g * g)
                v_max = np.maximum(w_[i], v)
                m_[i], v_[i], w_[i] = m, v, v_max
                p[i] -= step_root * (m / (np.sqrt(v_max) + eps_root))
        else:
            for i in range(n):
                g = grad[i]
                m = m_[i] + one_minus_beta1 * (g - m_[i])
                v = beta2 * v_[i] + one_minus_beta2 * (g * g)
                m_[i], v_[i] = m, v
                p[i] -= step_root * (m / (np.sqrt(v) + eps_root))
        start += n


def adadelta_kernel() -> Callable | None:
    """The compiled :func:`adadelta_step`, or None when the NumPy path must be used.

    Returns:
        A function ``(param, g, square_avg, acc_delta, rho, one_minus_rho, eps, lr) -> None``
        on 1-D contiguous arrays of one dtype (scalars of that dtype), or None.
    """
    return _compiled(adadelta_step)


def adadelta_step(param, g, square_avg, acc_delta, rho, one_minus_rho, eps, lr):
    """One Adadelta step in place, element by element in one pass (the kernel's Python source;
    :func:`adadelta_kernel` compiles it). The NumPy path of
    :meth:`lamina.optim.Adadelta.update` makes ten passes over whole arrays with the same
    operations in the same order, so both give the same bits::

        square_avg = square_avg * rho + (1 - rho) * g * g
        delta      = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta  = acc_delta * rho + (1 - rho) * delta * delta
        param      = param - lr * delta
    """
    for i in range(param.size):
        gi = g[i]
        s = square_avg[i] * rho + one_minus_rho * gi * gi
        delta = np.sqrt(acc_delta[i] + eps) / np.sqrt(s + eps) * gi
        square_avg[i] = s
        acc_delta[i] = acc_delta[i] * rho + one_minus_rho * delta * delta
        param[i] -= lr * delta


def adadelta_pieces_kernel() -> Callable | None:
    """The compiled :func:`adadelta_pieces`, or None when the NumPy path must be used."""
    return _compiled(adadelta_pieces)


def adadelta_pieces(param, grads, square_avg, acc_delta, rho, one_minus_rho, eps, lr):
    """:func:`adadelta_step` on ``param`` and its state laid end to end, reading the gradient
    piece by piece from the tuple ``grads`` (as :func:`adam_pieces`: :data:`PIECES` 1-D
    C-contiguous arrays whose sizes add up to ``param.size``, empty ones padding it). The
    same arithmetic on every element as :func:`adadelta_step`, so the same bits."""
    start = 0
    for k in range(len(grads)):
        grad = grads[k]
        n = grad.size
        p = param[start:start + n]
        s_, a_ = square_avg[start:start + n], acc_delta[start:start + n]
        for i in range(n):
            gi = grad[i]
            s = s_[i] * rho + one_minus_rho * gi * gi
            delta = np.sqrt(a_[i] + eps) / np.sqrt(s + eps) * gi
            s_[i] = s
            a_[i] = a_[i] * rho + one_minus_rho * delta * delta
            p[i] -= lr * delta
        start += n
