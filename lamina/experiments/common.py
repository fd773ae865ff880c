"""What every experiment shares: its :class:`Result`, sizes, seeding, progress bar, plots, report.

An experiment module ``run``s in three sizes: ``"full"`` (the numbers quoted in the docs,
seconds to a minute), ``"quick"`` (``--quick``: at most a minute on 2 cores) and ``"tiny"`` (the
tests: a few seconds, still large enough for the claim to hold with a margin). Figures are drawn
with matplotlib's object API and the Agg backend (as :mod:`lamina.plots`), never ``pyplot``;
without matplotlib an experiment still measures and prints, and says the plots were skipped.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lamina.train.callbacks import Callback

__all__ = [
    "EpochTicker", "Result", "Timer", "finish", "format_value", "mnist_arrays", "pick_size",
    "plots_available", "progress_bar", "resolve_out", "save_figure", "seed_all",
    "single_blas_thread",
]

SIZES = ("tiny", "quick", "full")
S = TypeVar("S")


@dataclass
class Result:
    """The outcome of one experiment run.

    Attributes:
        name: the experiment's NAME (``"capacity"``).
        claim: the one-line claim tested.
        numbers: what was measured, by name (numbers, lists of numbers, small dicts).
        checks: each part of the claim, as a sentence, and whether the measurement bears it out.
        claim_holds: every check passed.
        conclusion: the claim restated with the measured numbers.
        plots: the PNG files written.
        size: ``"tiny"``, ``"quick"`` or ``"full"``.
        seconds: wall time of the run.
        log: lines describing the steps taken (printed before the conclusion), may be empty.
        notes: remarks such as "plots skipped: matplotlib is not installed".
    """

    name: str
    claim: str
    numbers: dict[str, Any]
    checks: dict[str, bool]
    claim_holds: bool
    conclusion: str
    plots: list[Path] = field(default_factory=list)
    size: str = "full"
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        """The printed summary: claim, measured numbers, checks, conclusion, plots, time."""
        lines = [f"{self.name}: {self.claim}"]
        if self.log:
            lines += ["", *self.log]
        lines += ["", "measured:"]
        lines += [f"  {key}: {format_value(value)}" for key, value in self.numbers.items()]
        lines += ["", "checks:"]
        lines += [f"  [{'x' if ok else ' '}] {text}" for text, ok in self.checks.items()]
        lines += ["", f"conclusion: {self.conclusion}",
                  f"claim holds: {'yes' if self.claim_holds else 'NO'} "
                  f"({sum(self.checks.values())}/{len(self.checks)} checks)"]
        if self.plots:
            lines.append("plots: " + ", ".join(str(p) for p in self.plots))
        lines += [f"note: {note}" for note in self.notes]
        lines.append(f"time: {self.seconds:.1f} s ({self.size})")
        return "\n".join(lines)


def pick_size(settings: Mapping[str, S], quick: bool, tiny: bool) -> tuple[str, S]:
    """The size to run and its settings: ``tiny`` wins over ``quick``, else ``"full"``.

    Args:
        settings: ``{"tiny": ..., "quick": ..., "full": ...}``.
        quick: the ``--quick`` flag.
        tiny: the tests' setting.

    Returns:
        ``(size name, settings[size])``.
    """
    size = "tiny" if tiny else "quick" if quick else "full"
    return size, settings[size]


def seed_all(seed: int) -> np.random.Generator:
    """Seed lamina's global generator (init, shuffling, dropout, augmentation) and return a NumPy
    generator for the experiment's own data, both from ``seed``.

    Raises:
        TypeError: ``seed`` is not an int.
    """
    import lamina as lm

    lm.manual_seed(seed)
    return np.random.default_rng(seed)


def progress_bar(total: int, name: str, enabled: bool) -> Any:
    """A tqdm bar on stderr counting an experiment's units of work (models trained, steps...).

    Args:
        total: the number of units.
        name: the experiment, shown before the bar.
        enabled: False gives a silent bar (tests, scripts).
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=name, disable=not enabled, leave=False, file=sys.stderr,
                dynamic_ncols=True)


def single_blas_thread() -> contextlib.AbstractContextManager:
    """Limit BLAS (OpenBLAS, MKL) to one thread while the experiment runs, when threadpoolctl is
    installed (a no-op otherwise).

    The experiments multiply small matrices (a few hundred rows at most), where BLAS threads buy
    nothing and, on a machine whose cores are busy, spin-wait: the same run measured 4-10x slower
    wall time with the default threads than with one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class EpochTicker(Callback):
    """A ``lm.fit`` callback that advances a progress bar by one at every epoch's end."""

    def __init__(self, bar: Any = None) -> None:
        self.bar = bar

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update(1)


class Timer:
    """Wall time since creation: ``Timer().seconds``."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self._start


def resolve_out(out: str | Path | None) -> Path | None:
    """The output directory (created), or None when plots are not wanted."""
    if out is None:
        return None
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"experiments: --out {str(path)!r} exists and is not a directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def plots_available() -> bool:
    """Whether matplotlib (the ``plot`` extra) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def save_figure(out: Path | None, filename: str, draw: Callable[[Any, np.ndarray], None],
                nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.0, 4.0),
                title: str | None = None) -> Path | None:
    """Draw one figure into ``out / filename`` (PNG), or do nothing.

    Args:
        out: the output directory, or None (no file).
        filename: the PNG's name, prefixed with the experiment's NAME by convention.
        draw: ``draw(fig, axes)`` with ``axes`` a ``(nrows, ncols)`` array of Axes.
        nrows, ncols: the grid of panels.
        figsize: inches.
        title: the figure's title.

    Returns:
        The path written, or None when ``out`` is None or matplotlib is missing.
    """
    if out is None or not plots_available():
        return None
    from lamina.plots import require_matplotlib

    figure_class = require_matplotlib()
    fig = figure_class(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    draw(fig, axes)
    if title:
        fig.suptitle(title)
    path = out / filename
    fig.savefig(path, format="png", dpi=100)
    return path


def mnist_arrays(n_train: int, n_test: int, flat: bool) -> tuple[np.ndarray, ...]:
    """The first images of the embedded MNIST subset as float32 in [0, 1].

    Args:
        n_train: training images (at most 6,000).
        n_test: test images (at most 1,000).
        flat: ``(N, 784)`` rows instead of ``(N, 1, 28, 28)`` images.

    Returns:
        ``(x_train, y_train, x_test, y_test)``; labels int64.
    """
    from lamina.data.datasets import mnist

    (x_train, y_train), (x_test, y_test) = mnist(subset="small")
    shape = (-1, 784) if flat else (-1, 1, 28, 28)

    def scale(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) / 255.0).reshape(shape)

    return (scale(x_train[:n_train]), y_train[:n_train].astype(np.int64),
            scale(x_test[:n_test]), y_test[:n_test].astype(np.int64))


def format_value(value: Any) -> str:
    """A measured value as short text: 4 significant digits, lists and dicts inline."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        x = float(value)
        if math.isnan(x) or math.isinf(x) or x == 0.0:
            return str(x if x != 0.0 else 0)
        return f"{x:.4g}"
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def finish(module_name: str, claim: str, numbers: dict[str, Any], checks: dict[str, bool],
           conclusion: str, plots: Sequence[Path | None], size: str, timer: Timer,
           out: Path | None, log: Sequence[str] = ()) -> Result:
    """Assemble the :class:`Result`, noting why there are no plots if there are none."""
    written = [p for p in plots if p is not None]
    notes = []
    if out is None:
        notes.append("plots not written (no output directory given)")
    elif not plots_available():
        notes.append("plots skipped: matplotlib is not installed (pip install 'lamina[plot]')")
    checks = {text: bool(ok) for text, ok in checks.items()}
    return Result(name=module_name, claim=claim, numbers=numbers, checks=checks,
                  claim_holds=all(checks.values()), conclusion=conclusion, plots=written,
                  size=size, seconds=timer.seconds, log=list(log), notes=notes)
