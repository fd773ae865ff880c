"""A job whose rank 1 fails while rank 0 waits for it (tests/distributed/test_mpi.py runs it).

    mpiexec -n 2 python tests/distributed/mpi_fail.py raise            # uncaught exception
    mpiexec -n 2 python tests/distributed/mpi_fail.py cli CONFIG OUT   # `lamina train` error

Without the abort, rank 0 would wait in its collective for ever.
"""

import sys

import lamina.distributed as dist


def main() -> None:
    mode = sys.argv[1]
    if mode == "raise":
        dist.init_process_group("mpi")
        if dist.get_rank() == 1:
            raise RuntimeError("rank 1 fails on purpose")
        dist.barrier()
    elif mode == "cli":
        from mpi4py import MPI

        from lamina.cli import main as lamina

        config, out = sys.argv[2], sys.argv[3]
        if MPI.COMM_WORLD.Get_rank() == 1:
            config = config + ".missing.toml"
        sys.exit(lamina(["train", config, "--out", out, "--quiet"]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
