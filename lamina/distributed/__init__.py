"""Data-parallel training on MPI (PyTorch: ``torch.distributed``), the optional extra
``lamina[mpi]`` (mpi4py and the MPICH wheel: ``pip install "lamina[mpi]"``).

Start N copies of a script with ``mpiexec -n N python script.py``; each calls
:func:`init_process_group` and then talks to the others through the collectives here.
``lamina.nn.parallel.DistributedDataParallel`` averages gradients with them, ``lm.fit`` and
``lamina train`` use them by themselves. Importing this package does not import MPI.

Example (run with ``mpiexec -n 2 python example.py``)::

    import lamina as lm
    import lamina.distributed as dist

    dist.init_process_group("mpi")
    t = lm.tensor([float(dist.get_rank())])
    dist.all_reduce(t, op=dist.ReduceOp.SUM)   # every rank now holds 0 + 1 = 1
"""

from lamina.distributed.collectives import (
    ReduceOp,
    all_gather,
    all_gather_object,
    all_reduce,
    broadcast,
    broadcast_object_list,
)
from lamina.distributed.group import (
    abort,
    barrier,
    destroy_process_group,
    get_backend,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
)

__all__ = [
    "init_process_group", "destroy_process_group", "is_initialized", "is_available",
    "get_rank", "get_world_size", "get_backend", "barrier", "abort", "ReduceOp", "all_reduce",
    "broadcast", "all_gather", "all_gather_object", "broadcast_object_list",
]
