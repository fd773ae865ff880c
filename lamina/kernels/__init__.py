"""Optional compiled CPU kernels (``pip install lamina[fast]``, which adds Numba).

The ops in :mod:`lamina.ops` ask :func:`numba_kernels` at call time which implementation to
use: the Numba kernels when Numba is installed, else pure NumPy. Both give the same results
(bitwise where they add in the same order; see each kernel). Numba is imported on first use,
never by ``import lamina``; the first call in a fresh environment compiles the kernels it uses
(a few seconds for all of LeNet-5's) and caches them on disk (``cache=True``), so later
processes load them in ~0.1 s.

Every kernel is registered, with the op it speeds up and its eligibility check, in
:mod:`lamina.kernels.registry` (the ops ask :func:`lamina.kernels.registry.select` for it);
every size threshold that picks a path is in :mod:`lamina.kernels.thresholds`, with the
measurement that chose it. Layer patterns and the no-grad plan are in :mod:`lamina.inference`.

Set the environment variable ``LAMINA_NO_NUMBA=1`` to force the pure-NumPy path, e.g. to
compare the two. The kernels are serial: the matrix products around them stay in the BLAS
library, on its threads, and results stay deterministic. (The Winograd transforms can split
their channels over :func:`lamina.get_num_threads` threads, bitwise the same results, where
WINOGRAD_TRANSFORM_THREADS of :mod:`lamina.kernels.thresholds` allows; 1 by default.)

Example:
    >>> import lamina.kernels
    >>> isinstance(lamina.kernels.numba_available(), bool)
    True
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

_state: dict[str, object] = {}


def _load(family: str = "conv") -> ModuleType | None:
    """Import the Numba kernels of ``family`` (module ``lamina.kernels.numba_<family>``) once;
    None (remembered) when Numba is not installed."""
    key = "module:" + family
    if key not in _state:
        try:
            _state[key] = importlib.import_module(f"lamina.kernels.numba_{family}")
        except ImportError:
            _state[key] = None
    return _state[key]  # type: ignore[return-value]


def _disabled() -> bool:
    """``LAMINA_NO_NUMBA`` is set (to anything but 0/false/no); read once, on first use."""
    if "disabled" not in _state:
        flag = os.environ.get("LAMINA_NO_NUMBA", "").strip().lower()
        _state["disabled"] = flag not in ("", "0", "false", "no")
    return bool(_state["disabled"])


def numba_available() -> bool:
    """Whether the ops use the Numba kernels: Numba is installed and the environment variable
    ``LAMINA_NO_NUMBA`` was not set to 1 when the kernels were first asked for (the answer is
    kept: both facts are read once). The ops call this at every use, so replacing it (e.g.
    ``monkeypatch.setattr(lamina.kernels, "numba_available", lambda: False)``) switches them
    at run time."""
    available = _state.get("available")
    if available is None:
        available = _state["available"] = not _disabled() and _load() is not None
    return available  # type: ignore[return-value]


def numba_kernels(family: str = "conv") -> ModuleType | None:
    """The compiled kernels of ``family``: "conv" (:mod:`lamina.kernels.numba_conv`),
    "linear" (:mod:`lamina.kernels.numba_linear`), "recurrent"
    (:mod:`lamina.kernels.numba_recurrent`), "norm" (:mod:`lamina.kernels.numba_norm`),
    "winograd" (:mod:`lamina.kernels.numba_winograd`) or "loss"
    (:mod:`lamina.kernels.numba_loss`); None when :func:`numba_available` is false."""
    if not numba_available():
        return None
    module = _state.get("module:" + family)
    return module if module is not None else _load(family)  # type: ignore[return-value]


__all__ = ["numba_available", "numba_kernels"]
