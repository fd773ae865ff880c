"""The process group: MPI's ``COMM_WORLD`` behind PyTorch's ``torch.distributed`` names.

mpi4py is imported only by :func:`init_process_group` (and :func:`is_available` only looks for
it), so ``import lamina`` and ``import lamina.distributed`` never load MPI.

Once a group exists, an uncaught exception in any process ends the whole job: the previous
``sys.excepthook`` prints the traceback, then ``MPI_Abort`` stops every rank. Without this, the
other ranks would wait in their next collective for ever (MPI has no timeout).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from typing import Any

__all__ = ["init_process_group", "destroy_process_group", "is_initialized", "is_available",
           "get_rank", "get_world_size", "get_backend", "barrier", "abort"]

INSTALL_HINT = 'pip install "lamina[mpi]"'
ABORT_GRACE_S = 0.5  # seconds between printing the error and MPI_Abort

_state: dict[str, Any] = {"comm": None, "previous_hook": None}


def is_available() -> bool:
    """Whether the MPI backend can be used: mpi4py is installed (it is not imported here)."""
    return importlib.util.find_spec("mpi4py") is not None


def _mpi():
    """The ``mpi4py.MPI`` module, or an ImportError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as err:
        raise ImportError(f"lamina.distributed needs mpi4py and an MPI library, which are not "
                          f"installed ({err}); install them with: {INSTALL_HINT}") from None
    return MPI


def init_process_group(backend: str | None = "mpi", init_method: str | None = None,
                       timeout: Any = None, world_size: int = -1, rank: int = -1,
                       **unused: Any) -> None:
    """Join the job's process group (PyTorch: ``torch.distributed.init_process_group``).

    The group is every process that ``mpiexec -n N`` started (``MPI.COMM_WORLD``); a process
    started without mpiexec is a group of one. Calling it again does nothing.

    Args:
        backend: ``"mpi"`` (or None); the only backend.
        init_method: ignored (mpiexec connects the processes); accepted for PyTorch scripts.
        timeout: ignored; MPI collectives have none, which is why an uncaught exception aborts
            the job instead.
        world_size: if given (>= 0), the expected number of processes; checked.
        rank: if given (>= 0), the expected rank of this process; checked.

    Raises:
        ValueError: another backend, or ``world_size``/``rank`` that differ from mpiexec's.
        ImportError: mpi4py is not installed (``pip install "lamina[mpi]"``).
    """
    if backend is not None and str(backend).lower() != "mpi":
        raise ValueError(f"init_process_group: lamina.distributed runs on MPI only: use "
                         f"backend='mpi' and start the processes with 'mpiexec -n N', got "
                         f"backend={backend!r}")
    if _state["comm"] is not None:
        return
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    if world_size not in (-1, None) and int(world_size) != comm.Get_size():
        raise ValueError(f"init_process_group: world_size={world_size} but mpiexec started "
                         f"{comm.Get_size()} processes")
    if rank not in (-1, None) and int(rank) != comm.Get_rank():
        raise ValueError(f"init_process_group: rank={rank} but MPI gave this process rank "
                         f"{comm.Get_rank()}")
    _state["comm"] = comm
    _state["previous_hook"] = sys.excepthook
    sys.excepthook = _abort_on_uncaught_exception


def _abort_on_uncaught_exception(exc_type, exc, tb) -> None:
    previous = _state["previous_hook"] or sys.__excepthook__
    try:
        previous(exc_type, exc, tb)
    finally:
        abort(1)


def abort(code: int = 1) -> None:
    """End every process of the job with exit status ``code`` (``MPI_Abort``) when a group of
    more than one process exists; otherwise do nothing."""
    comm = _state["comm"]
    if comm is not None and comm.Get_size() > 1:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        # the launcher forwards our output through a pipe; the abort stops it reading, so give
        # it a moment to pass on the traceback first
        time.sleep(ABORT_GRACE_S)
        comm.Abort(int(code))


def destroy_process_group(group: Any = None) -> None:
    """Leave the process group: lamina's collectives stop working and the abort-on-exception
    hook is removed (MPI itself is finalized by mpi4py when the process exits)."""
    if _state["comm"] is None:
        return
    if sys.excepthook is _abort_on_uncaught_exception:
        sys.excepthook = _state["previous_hook"] or sys.__excepthook__
    _state["comm"] = None
    _state["previous_hook"] = None


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has run (and no :func:`destroy_process_group` since)."""
    return _state["comm"] is not None


def comm():
    """The group's MPI communicator; RuntimeError when there is no group."""
    c = _state["comm"]
    if c is None:
        raise RuntimeError("lamina.distributed: the default process group has not been "
                           "initialized; call lamina.distributed.init_process_group('mpi') "
                           "first (and start the script with mpiexec -n N)")
    return c


def get_rank(group: Any = None) -> int:
    """This process's rank, 0 .. world_size - 1 (rank 0 prints and writes files)."""
    return comm().Get_rank()


def get_world_size(group: Any = None) -> int:
    """The number of processes in the group."""
    return comm().Get_size()


def get_backend(group: Any = None) -> str:
    """``"mpi"``."""
    comm()
    return "mpi"


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> None:
    """Wait until every process has reached this call."""
    comm().Barrier()


def rank_and_size() -> tuple[int, int]:
    """``(rank, world_size)``, ``(0, 1)`` without a process group (for code that runs both
    ways)."""
    c = _state["comm"]
    return (0, 1) if c is None else (c.Get_rank(), c.Get_size())
