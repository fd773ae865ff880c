"""The number of threads lamina's compiled kernels use, as ``lamina.get_num_threads`` /
``lamina.set_num_threads`` (torch's names), and how a kernel splits its work among them.

The matrix products run in the BLAS library, on its own threads; the compiled kernels around
them (so far the Winograd tile transforms, :mod:`lamina.kernels.numba_winograd`, and only
up to WINOGRAD_TRANSFORM_THREADS of :mod:`lamina.kernels.thresholds`, 1 by default: on a
2-core machine the BLAS's polling threads left nothing to gain) split their
work by channel into this many pieces, which Numba's threads (``parallel=True``, one
``prange`` step a piece) run at once; with one thread the serial kernel runs in the calling
thread, as before. Each piece computes whole channels in the one-thread order, so the results
are bitwise the same for every thread count. (A process that forks after using them should
not use them in the child: Numba's OpenMP threading layer is not fork-safe.)

The default is the first of the environment variables ``LAMINA_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OMP_NUM_THREADS`` that holds a positive
integer (so the kernels follow the BLAS's own setting), else the CPUs this process may run
on. :func:`set_num_threads` sets lamina's number and, when ``threadpoolctl`` is installed,
the BLAS's too (process-wide, like ``torch.set_num_threads``); without threadpoolctl the BLAS
keeps its own (set it with ``OPENBLAS_NUM_THREADS``).

Example:
    >>> from lamina.kernels import parallel
    >>> parallel.get_num_threads() >= 1
    True
    >>> parallel.split(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    >>> parallel.bounds(10, 3).tolist()
    [0, 4, 7, 10]
"""

from __future__ import annotations

import os

import numpy as np

_ENV = ("LAMINA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
_state: dict[str, int | None] = {"threads": None, "numba_started": None}


def _default() -> int:
    """The first positive integer among the variables of ``_ENV``, else the usable CPUs."""
    for name in _ENV:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """The number of threads lamina's compiled kernels use (see the module's docstring for
    the default)."""
    if _state["threads"] is None:
        _state["threads"] = _default()
    return _state["threads"]


def set_num_threads(threads: int) -> None:
    """Use ``threads`` threads in lamina's compiled kernels and, when ``threadpoolctl`` is
    installed, in the BLAS library (OpenBLAS, MKL) for the whole process.

    Args:
        threads: a positive integer.

    Raises:
        TypeError: ``threads`` is not an integer.
        ValueError: ``threads`` is less than 1.
    """
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"set_num_threads expects an int, got {type(threads).__name__}")
    if threads < 1:
        raise ValueError(f"set_num_threads expects a positive number of threads, got {threads}")
    _state["threads"] = threads
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=threads, user_api="blas")


def split(count: int, parts: int) -> list[tuple[int, int]]:
    """``range(count)`` in ``min(parts, count)`` consecutive (start, stop) pieces whose sizes
    differ by at most one, the larger first."""
    parts = max(1, min(parts, count))
    size, extra = divmod(count, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + size + (i < extra)
        bounds.append((start, stop))
        start = stop
    return bounds


_BOUNDS: dict[tuple[int, int], np.ndarray] = {}


def start_numba_threads() -> None:
    """Start Numba's threads (once) with OpenMP's passive wait policy, unless the environment
    sets ``OMP_WAIT_POLICY``: by default GNU OpenMP's idle threads spin after each parallel
    call and take the cores from the BLAS's threads in the matrix products that follow
    (2026-12-07, the MNIST example's Net at batch 64, 2 threads, wall clock: 129 ms a
    training step against 42 ms with the transforms serial; passive: 42 ms). The variable is
    set only while Numba loads its OpenMP library (read then) and restored at once, so
    other libraries (torch's own OpenMP) keep their setting."""
    if _state.get("numba_started"):
        return
    from numba.np.ufunc import parallel as numba_parallel

    unset = "OMP_WAIT_POLICY" not in os.environ
    if unset:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        numba_parallel._launch_threads()
    finally:
        if unset:
            del os.environ["OMP_WAIT_POLICY"]
    _state["numba_started"] = 1


def bounds(count: int, parts: int) -> np.ndarray:
    """The pieces of :func:`split` as their edges, ``(pieces + 1,)`` int64, for the compiled
    kernels that run one piece a thread (made once per ``(count, parts)``)."""
    key = (count, parts)
    if key not in _BOUNDS:
        pieces = split(count, parts)
        _BOUNDS[key] = np.array([0] + [stop for _, stop in pieces], np.int64)
    return _BOUNDS[key]
