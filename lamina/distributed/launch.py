"""Starting a job: is this process one of several that mpiexec started, and where is mpiexec.

MPICH's launcher (hydra, also used by Slurm's PMI) sets ``PMI_SIZE``/``PMI_RANK``; Open MPI sets
``OMPI_COMM_WORLD_SIZE``; PMIx launchers set ``PMIX_RANK`` (size then comes from MPI itself).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["launched_by_mpi", "world_size", "find_mpiexec", "mpiexec_command"]

_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process as one of several (read from the
    environment; MPI is not imported)."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value) > 1
    return "PMIX_RANK" in os.environ


def world_size() -> int | None:
    """The job's number of processes: the process group's when one exists, else what the
    launcher's environment says (1 outside mpiexec, None when it does not say)."""
    from lamina.distributed import group

    if group.is_initialized():
        return group.rank_and_size()[1]
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return None if "PMIX_RANK" in os.environ else 1


def find_mpiexec() -> str:
    """The ``mpiexec`` to use: ``$LAMINA_MPIEXEC``, the one beside this Python (the ``mpich``
    wheel installs it into the environment's bin directory), else the one on ``PATH``.

    Raises:
        FileNotFoundError: none was found.
    """
    configured = os.environ.get("LAMINA_MPIEXEC")
    if configured:
        return configured
    beside = Path(sys.executable).parent / ("mpiexec.exe" if os.name == "nt" else "mpiexec")
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec")
    if found is None:
        raise FileNotFoundError('no mpiexec found beside Python or on PATH: install one with '
                                'pip install "lamina[mpi]" (or set LAMINA_MPIEXEC)')
    return found


def mpiexec_command(nproc: int, args: list[str]) -> list[str]:
    """``mpiexec -n NPROC python -m lamina ARGS``: the command ``--nproc`` runs."""
    return [find_mpiexec(), "-n", str(int(nproc)), sys.executable, "-m", "lamina", *args]
