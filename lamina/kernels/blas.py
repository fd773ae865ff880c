"""The BLAS library's thread count, read and set at run time through ``threadpoolctl`` (when
installed), cheaply enough to switch it around one op: the controllers are found once (a scan
of the loaded libraries), then each switch is one C call per library.

An op that runs two matrix products at once in two threads of its own (e.g. the LSTM's
weight gradient beside its time loop, :func:`lamina.ops.recurrent.lstm_sequence`) sets the
BLAS to one thread for that time with :func:`single_threaded`, so the two do not also fight
over the BLAS's own worker threads.

Example:
    >>> from lamina.kernels import blas
    >>> with blas.single_threaded() as switched:
    ...     isinstance(switched, bool)
    True
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

_state: dict[str, object] = {}
_lock = threading.Lock()


def _controllers() -> list:
    """threadpoolctl's controllers of the loaded BLAS libraries (empty without it)."""
    found = _state.get("controllers")
    if found is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            found = []
        else:
            found = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        _state["controllers"] = found
    return found  # type: ignore[return-value]


def threads() -> int | None:
    """The BLAS's current thread count (the largest over its libraries), or None when it
    cannot be read (no threadpoolctl, no BLAS found)."""
    controllers = _controllers()
    return max(c.get_num_threads() for c in controllers) if controllers else None


@contextmanager
def single_threaded():
    """Run the block with the BLAS on one thread (every library threadpoolctl finds), then
    restore each library's count. Yields whether it switched (False: not controllable, or
    already one thread). Process-wide, as the BLAS's setting is: other threads' products in
    that time run on one thread too."""
    controllers = _controllers()
    with _lock:
        before = [c.get_num_threads() for c in controllers]
        switched = any(n > 1 for n in before)
        if switched:
            for c in controllers:
                c.set_num_threads(1)
    try:
        yield switched
    finally:
        if switched:
            with _lock:
                for c, n in zip(controllers, before, strict=True):
                    c.set_num_threads(n)


# NumPy's wheels bundle OpenBLAS (64-bit integers, symbols prefixed scipy_ and suffixed 64_);
# compiled kernels can call its GEMM directly, without a Python call per product.
SGEMM_SYMBOL = "scipy_cblas_sgemm64_"


def sgemm_library() -> str | None:
    """The path of the OpenBLAS library bundled with NumPy when it exports
    :data:`SGEMM_SYMBOL` (cblas_sgemm with 64-bit integers), else None (NumPy built against
    another BLAS: the callers then use ``np.matmul``). Found once, by file name, next to
    the numpy package (``numpy.libs``, as pip's wheels install it)."""
    if "sgemm" not in _state:
        _state["sgemm"] = _find_sgemm()
    return _state["sgemm"]  # type: ignore[return-value]


def _find_sgemm() -> str | None:
    import ctypes
    import glob
    import os

    import numpy as np

    site = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    for path in sorted(glob.glob(os.path.join(site, "numpy.libs", "libscipy_openblas64_*"))):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(library, SGEMM_SYMBOL):
            return path
    return None
