"""``lamina train CONFIG.toml``: train a model from a config and write the run's files.

The run itself is :func:`lamina.workflow.training.run_training` (the model file, history, plots
and summary it writes are described there); this command reads the config, applies the
command-line overrides and prints the result.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lamina.workflow.config import Config, load_config
from lamina.workflow.training import TrainingResult, default_out_dir, run_training

__all__ = ["TrainingResult", "add_arguments", "run", "run_training"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the TOML config file")
    parser.add_argument("--out", metavar="DIR",
                        help="output directory (default: [output] dir, else runs/<config name>)")
    parser.add_argument("--epochs", type=int, metavar="N", help="override [train] epochs")
    parser.add_argument("--seed", type=int, metavar="N", help="override [train] seed")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bar; print only the final lines")
    parser.add_argument("--nproc", type=int, metavar="N",
                        help="train data-parallel in N processes (runs 'mpiexec -n N', each with "
                             "cores/N BLAS threads unless set; needs lamina[mpi]); the same "
                             "result as one process")


def run(args: argparse.Namespace) -> int:
    if args.nproc is not None and args.nproc != 1:
        return _launch(args)
    rank = _join_mpi_job()
    config = load_config(args.config)
    _override(config, args)
    if rank != 0:  # the other ranks train; rank 0 alone prints and writes the run's files
        run_training(config, Path("."), progress=False, log=lambda _: None,
                     write_files=False)
        return 0
    out_dir = Path(args.out) if args.out else default_out_dir(config, Path(args.config))
    result = run_training(config, out_dir, progress=not args.quiet,
                          log=(lambda _: None) if args.quiet else _print)
    where = result.summary["evaluated_on"]
    print(f"wrote {', '.join(sorted(p.name for p in result.files.values()))} to {out_dir}")
    for name, value in result.metrics.items():
        if name != "accuracy":
            print(f"{where} {name.replace('_', ' ')}: {value:.4f}")
    print(f"{where} accuracy: {100 * result.metrics['accuracy']:.2f}%")
    return 0


def _override(config: Config, args: argparse.Namespace) -> None:
    if args.epochs is not None:
        config.override("train", "epochs", args.epochs)
    if args.seed is not None:
        config.override("train", "seed", args.seed)


def _join_mpi_job() -> int:
    """This process's rank after joining the MPI job that started it (0 outside one)."""
    from lamina.distributed import group
    from lamina.distributed.launch import launched_by_mpi

    if launched_by_mpi() and not group.is_initialized():
        group.init_process_group("mpi")
    return group.rank_and_size()[0]


def _launch(args: argparse.Namespace) -> int:
    """``lamina train ... --nproc N``: the same command under ``mpiexec -n N``."""
    import subprocess

    from lamina.distributed.launch import launched_by_mpi, mpiexec_command

    if args.nproc < 1:
        raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
    if launched_by_mpi():
        raise ValueError("--nproc inside an MPI job: use either mpiexec -n N or --nproc N")
    from lamina.distributed import is_available

    if not is_available():
        raise ImportError('--nproc needs mpi4py and MPI: pip install "lamina[mpi]"')
    argv = _without_nproc(list(getattr(args, "_argv", None) or sys.argv[1:]))
    return subprocess.call(mpiexec_command(args.nproc, argv), env=_thread_env(args.nproc))


def _thread_env(nproc: int) -> dict[str, str]:
    """The environment for N processes: unless set, each gets its share of the cores as BLAS
    threads (OpenBLAS would start one thread per core in every process)."""
    import os

    env = dict(os.environ)
    share = str(max(1, (os.cpu_count() or 1) // nproc))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, share)
    return env


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _print(message: str) -> None:
    print(message, flush=True)
