"""One helper thread that an op can hand a piece of its work to while it goes on with the
rest (the LSTM's all-steps products beside its time loop, half of the batch-norm/pool
kernels' channels): a one-thread executor, made on first use and again in a forked child
(which does not inherit the thread). The work handed over must release the GIL to run at
the same time (BLAS calls, Numba ``nogil`` kernels).

Python threads rather than Numba's ``parallel=True`` threads: Numba's OpenMP threads spin
after each parallel call, and in a process that has also loaded PyTorch's OpenMP they cost
far more CPU time than they save (bnlstm, 2026-12-07: the BatchNorm CNN step 78 ms of CPU
time instead of 9 ms with torch imported; the same without torch).

Example:
    >>> from lamina.kernels import worker
    >>> worker.executor().submit(sum, [1, 2]).result()
    3
"""

from __future__ import annotations

import os
import threading

_state: dict[str, object] = {}
_lock = threading.Lock()


def executor():
    """The process's helper executor (``concurrent.futures.ThreadPoolExecutor`` with one
    thread)."""
    pid = os.getpid()
    if _state.get("pid") != pid:
        with _lock:
            if _state.get("pid") != pid:
                from concurrent.futures import ThreadPoolExecutor

                _state["pool"] = ThreadPoolExecutor(1, thread_name_prefix="lamina-worker")
                _state["pid"] = pid
    return _state["pool"]
