"""The number of threads lamina's compiled kernels use, as ``lamina.get_num_threads`` /
``lamina.set_num_threads`` (torch's names), and the small pool of threads that runs them.

The matrix products run in the BLAS library, on its own threads; the compiled kernels around
them (so far the Winograd tile transforms, :mod:`lamina.kernels.numba_winograd`) split their
work by channel over this many threads. Each thread computes whole channels in the one-thread
order, so the results are bitwise the same for every thread count.

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
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_ENV = ("LAMINA_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
_state: dict[str, object] = {"threads": None, "pool": None, "workers": 0}
_lock = threading.Lock()


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
    with _lock:
        _state["threads"] = threads
        pool = _state["pool"]
        if pool is not None and _state["workers"] != threads - 1:
            pool.shutdown(wait=True)
            _state["pool"] = None
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


def _pool(workers: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _state["pool"]
        if pool is None:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="lamina")
            _state["pool"], _state["workers"] = pool, workers
        return pool


def run(task: Callable[[int, int], None], count: int) -> None:
    """Call ``task(start, stop)`` on the pieces of ``range(count)`` (:func:`split`), one
    piece a thread, the last on the calling thread, and wait for all; with one thread (or
    one item) just ``task(0, count)``. ``task`` must release the GIL (a ``nogil`` Numba
    kernel) for the pieces to run at the same time, and must not write what another piece
    reads or writes."""
    threads = get_num_threads()
    if threads == 1 or count < 2:
        task(0, count)
        return
    pieces = split(count, threads)
    pool = _pool(threads - 1)
    futures = [pool.submit(task, start, stop) for start, stop in pieces[:-1]]
    try:
        task(*pieces[-1])
    finally:
        for future in futures:
            future.result()
