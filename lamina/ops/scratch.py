"""Reused arrays for the large results and intermediates that ops make at every training step
(the LSTM's gates, batch normalisation's output and input gradient, im2col matrices, the conv,
ReLU and max-pool outputs and gradients, Winograd's work arrays).

A training step allocates the same large arrays every time. Each fresh allocation of a few
MiB comes from the operating system (glibc returns freed memory at the top of the heap to
it), so every 4 KiB page is faulted in again when first written: on the bench machine a page
fault costs about 2 us, ~0.6 ms per MiB, as long as computing an LSTM step's gates (the
BatchNorm CNN at batch 32 took 1,700-3,200 faults per training step, ~5 ms of 12).
:func:`empty` hands out an array of the same shape and dtype that an earlier call allocated
and that nothing references any more, else a new one that it keeps for later calls.

"Nothing references it" is read from the reference count: the pool's own references are
the only ones. A Tensor holding the array, a view of it (which references its base), a
backward closure, a NumPy array the user took with ``.numpy()``, a torch tensor made from it
by ``torch.from_numpy``: each counts, and the array is not handed out while it lives. So an
op may give out such an array as its output or as a gradient: whoever keeps it keeps it
from being reused. (Only a raw address kept without a Python reference, e.g.
``a.ctypes.data``, is not seen; that is as unsafe with ordinary arrays once they are freed.)
"""

from __future__ import annotations

import sys
import threading

import numpy as np

# arrays kept per (shape, dtype); the pool holds at most this many of each and this many
# bytes in all: to keep a new array beyond that it first drops unheld arrays of the shapes
# asked for longest ago (a training step of the bench's BatchNorm CNN at batch 64 keeps
# ~30 MiB here, its LSTM ~12 MiB, the MNIST example's Net 51 MiB at batch 64 and 112 MiB
# at 128)
PER_KEY = 4
MAX_BYTES = 128 << 20

_pool: dict[tuple, list[np.ndarray]] = {}
_state = {"bytes": 0}
_lock = threading.Lock()


def _unheld(arrays: list) -> np.ndarray | None:
    """The first array of ``arrays`` that only the list references, else None."""
    for a in arrays:
        if sys.getrefcount(a) == _FREE:
            return a
    return None


def _free_count() -> int:
    # the reference count that _unheld sees for an array only a list holds (the list, the
    # loop variable, getrefcount's argument: 3 on CPython 3.11), measured by the same code
    probe = [np.empty(0)]
    for a in probe:
        return sys.getrefcount(a)
    raise AssertionError  # pragma: no cover


_FREE = _free_count()
# a free-threaded build defers reference counting: a count there may miss a holder, so the
# pool hands out fresh arrays only
_REUSE = getattr(sys, "_is_gil_enabled", lambda: True)()


def empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype``, reused from an earlier call when
    no one holds that one any more (see the module docstring)."""
    if not _REUSE:
        return np.empty(shape, dtype)
    key = (shape, np.dtype(dtype))
    with _lock:
        arrays = _pool.pop(key, None)  # re-inserted: the dict's order is the order of use
        if arrays is None:
            arrays = []
        _pool[key] = arrays
        found = _unheld(arrays)
        if found is not None:
            return found
        out = np.empty(shape, dtype)
        if len(arrays) < PER_KEY and out.nbytes <= MAX_BYTES:
            if _state["bytes"] + out.nbytes > MAX_BYTES:
                _evict(_state["bytes"] + out.nbytes - MAX_BYTES, key)
            if _state["bytes"] + out.nbytes <= MAX_BYTES:
                arrays.append(out)
                _state["bytes"] += out.nbytes
        return out


def empty_like(a: np.ndarray, dtype=None) -> np.ndarray:
    """:func:`empty` with ``a``'s shape, in ``a``'s memory order where ``a`` is dense (a
    C-contiguous array or a transposed view of one, as the conv ops' NCHW outputs), else
    C-contiguous; ``dtype`` defaults to ``a``'s."""
    dtype = a.dtype if dtype is None else dtype
    axes = tuple(sorted(range(a.ndim), key=lambda i: -a.strides[i]))
    if a.flags.c_contiguous or not a.transpose(axes).flags.c_contiguous:
        return empty(a.shape, dtype)
    inverse = tuple(sorted(range(a.ndim), key=lambda i: axes[i]))
    return empty(tuple(a.shape[i] for i in axes), dtype).transpose(inverse)


def _evict(need: int, keep: tuple) -> None:
    """Drop unheld arrays, those of the least recently asked-for shapes first, until
    ``need`` bytes are freed (or none is left to drop); never those of ``keep``."""
    for key in list(_pool):
        if need <= 0:
            return
        if key == keep:
            continue
        arrays = _pool[key]
        while need > 0:
            found = _unheld(arrays)
            if found is None:
                break
            del arrays[next(i for i, a in enumerate(arrays) if a is found)]
            _state["bytes"] -= found.nbytes
            need -= found.nbytes
            del found
        if not arrays:
            del _pool[key]


def clear() -> None:
    """Forget every kept array (they are freed once no one holds them)."""
    with _lock:
        _pool.clear()
        _state["bytes"] = 0
