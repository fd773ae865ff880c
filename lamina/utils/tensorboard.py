"""``torch.utils.tensorboard.SummaryWriter`` on lamina: real TensorBoard event files.

The events are written by `tensorboardX <https://github.com/lanpa/tensorboardX>`_ (extra
``lamina[tensorboard]``), whose ``SummaryWriter`` has torch's API; this wrapper turns lamina
Tensors into NumPy arrays (0-d ones into floats) before handing them over, so that
``writer.add_scalar("loss", loss, step)`` or ``writer.add_image("x", img)`` take lamina values.
View the files with ``tensorboard --logdir runs``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from lamina.tensor import Tensor

__all__ = ["SummaryWriter"]


def _plain(value: Any) -> Any:
    if isinstance(value, Tensor):
        value = value._data
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class SummaryWriter:
    """Write scalars, histograms, images, text and hyper-parameters to a TensorBoard log.

    Args:
        log_dir: the directory of the event file; default ``runs/<date>_<host><comment>``.
        comment: suffix of the default ``log_dir``.
        purge_step: drop events at and after this step (a restarted run), as in torch.
        max_queue: events kept in memory before a write.
        flush_secs: seconds between writes to disk.
        filename_suffix: appended to the event file's name.

    Every ``add_*`` method of torch's writer is available (``add_scalar``, ``add_scalars``,
    ``add_histogram``, ``add_image``, ``add_images``, ``add_text``, ``add_figure``,
    ``add_hparams``, ``add_pr_curve``, ``add_embedding``, ...), with lamina Tensors accepted
    wherever torch takes tensors. ``add_graph`` is not supported (it traces torch modules).

    Raises:
        ImportError: tensorboardX is not installed.

    Example:
        >>> import tempfile, lamina as lm
        >>> with SummaryWriter(tempfile.mkdtemp()) as writer:
        ...     writer.add_scalar("loss", lm.tensor(0.5), 1)
    """

    def __init__(self, log_dir: str | os.PathLike[str] | None = None, comment: str = "",
                 purge_step: int | None = None, max_queue: int = 10, flush_secs: int = 120,
                 filename_suffix: str = "") -> None:
        try:
            from tensorboardX import SummaryWriter as _Writer
        except ImportError:
            raise ImportError("SummaryWriter needs tensorboardX: pip install "
                              "'lamina[tensorboard]'") from None
        self._writer = _Writer(logdir=None if log_dir is None else os.fspath(log_dir),
                               comment=comment, purge_step=purge_step, max_queue=max_queue,
                               flush_secs=flush_secs, filename_suffix=filename_suffix)

    @property
    def log_dir(self) -> str:
        """The directory the event file is in."""
        return self._writer.logdir

    def add_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None,
                   walltime: float | None = None, new_style: bool = False,
                   double_precision: bool = False) -> None:
        """Record one number (a float, or a one-element Tensor) under ``tag`` at a step
        (``new_style`` and ``double_precision`` are accepted; the value is stored as float32)."""
        value = _plain(scalar_value)
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise ValueError(f"add_scalar: {tag!r} needs one number, got an array of shape "
                                 f"{value.shape}")
            value = value.reshape(()).item()
        self._writer.add_scalar(tag, float(value), global_step=global_step, walltime=walltime)

    def add_graph(self, *args: Any, **kwargs: Any) -> None:
        """Not supported: the graph export traces torch modules."""
        raise NotImplementedError("SummaryWriter.add_graph traces torch modules and is not "
                                  "supported for lamina models")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        target = getattr(self._writer, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            return target(*[_plain(a) for a in args], **{k: _plain(v) for k, v in kwargs.items()})
        return call

    def flush(self) -> None:
        """Write pending events to disk."""
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self._writer.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
