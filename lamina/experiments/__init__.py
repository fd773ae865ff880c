"""The course notes' claims, measured: one small module per experiment.

Each module (``lamina/experiments/<name>.py``) exposes ``NAME``, ``CLAIM`` (one line) and
``run(quick=False, out=None, seed=0, progress=True, *, tiny=False) -> Result``: it measures the
claim with lamina, prints nothing itself, and draws its figures into ``out`` (PNG, when
matplotlib is installed). ``lamina experiments list`` / ``lamina experiments run NAME [--quick]
[--out DIR]`` is the command line (:mod:`lamina.cli.experiments`).

Example:
    >>> from lamina import experiments
    >>> experiments.names()[:2]
    ['capacity', 'no-free-lunch']
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from lamina.experiments import common
from lamina.experiments.common import Result

__all__ = ["EXPERIMENTS", "Result", "claims", "get", "names", "run"]

# NAME -> module, in the order of the notes' chapters.
EXPERIMENTS: dict[str, str] = {
    "capacity": "lamina.experiments.capacity",
    "no-free-lunch": "lamina.experiments.no_free_lunch",
    "universal-approximation": "lamina.experiments.universal_approximation",
    "minibatch-gradient": "lamina.experiments.minibatch_gradient",
    "optimizers": "lamina.experiments.optimizers",
    "activations": "lamina.experiments.activations",
    "activation-features": "lamina.experiments.activation_features",
    "regularization": "lamina.experiments.regularization",
    "convolution": "lamina.experiments.convolution",
    "cnn-properties": "lamina.experiments.cnn_properties",
    "metrics-imbalance": "lamina.experiments.metrics_imbalance",
    "ml-process": "lamina.experiments.ml_process",
}


def names() -> list[str]:
    """Every experiment's NAME, in the notes' order."""
    return list(EXPERIMENTS)


def get(name: str) -> ModuleType:
    """The module of experiment ``name``.

    Raises:
        ValueError: no experiment has that name (the message lists them).
    """
    if name not in EXPERIMENTS:
        raise ValueError(f"experiments: unknown experiment {name!r}; choose one of "
                         f"{', '.join(EXPERIMENTS)}")
    return importlib.import_module(EXPERIMENTS[name])


def claims() -> dict[str, str]:
    """NAME -> the experiment's one-line claim."""
    return {name: get(name).CLAIM for name in EXPERIMENTS}


def run(name: str, quick: bool = False, out: str | Path | None = None, seed: int = 0,
        progress: bool = True, *, tiny: bool = False) -> Result:
    """Run experiment ``name`` (see the module docstring for the arguments), with BLAS limited
    to one thread (:func:`~lamina.experiments.common.single_blas_thread`).

    Raises:
        ValueError: unknown ``name``.
    """
    module = get(name)
    with common.single_blas_thread():
        return module.run(quick=quick, out=out, seed=seed, progress=progress, tiny=tiny)
