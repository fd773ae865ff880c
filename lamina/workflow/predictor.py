"""The one inference path: a model run in eval mode without a graph, its outputs mapped to class
probabilities by one function.

``lamina predict``, ``lamina evaluate``, ``lamina serve`` and the Python API (``lm.predict_proba``
or ``Predictor(model).predict_proba(x)``) all go through :class:`Predictor`, so the same model
and input give the same probabilities everywhere. The forward pass itself is
:func:`lamina.train.predict` (eval mode, ``no_grad``, the model's dtype), the same one ``fit``'s
validation uses, so every prediction reaches the no-grad fast paths of the layers.

How outputs become probabilities (:func:`probabilities`) depends on the model's last layer
(:func:`output_kind`):

==================  ====================================  ===================================
last layer          several outputs (N, C)                one output (N, 1): binary
==================  ====================================  ===================================
``Softmax``         as they are                           p = the output
``LogSoftmax``      exp(outputs)                          p = exp(output)
``Sigmoid``         as they are (one probability each)    p = the output
anything else       softmax of the logits (eq 4.5)        p = sigmoid(logit) (eq 4.2)
==================  ====================================  ===================================

A single output is a binary classifier: its probabilities are ``[1 - p, p]`` (class 0, class 1).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

__all__ = ["OUTPUT_KINDS", "Predictor", "check_finite_weights", "output_kind", "predict_proba",
           "probabilities"]

OUTPUT_KINDS = ("logits", "probabilities", "log_probabilities", "sigmoid")


def output_kind(model: Any) -> str:
    """What the model's outputs are, judged by its last leaf layer: ``"probabilities"``
    (``Softmax``), ``"log_probabilities"`` (``LogSoftmax``), ``"sigmoid"`` (``Sigmoid``) or
    ``"logits"`` (anything else)."""
    from lamina.nn import LogSoftmax, Sigmoid, Softmax

    leaves = [m for m in model.modules() if not m._modules]
    last = leaves[-1] if leaves else model
    if isinstance(last, LogSoftmax):  # a subclass of Softmax: test it first
        return "log_probabilities"
    if isinstance(last, Softmax):
        return "probabilities"
    if isinstance(last, Sigmoid):
        return "sigmoid"
    return "logits"


def probabilities(outputs: np.ndarray, kind: str) -> np.ndarray:
    """Class probabilities ``(N, C)`` of model outputs ``(N, ...)`` of the given kind (see the
    module doc's table); float64.

    Raises:
        ValueError: an unknown ``kind``.
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"probabilities: kind must be one of {OUTPUT_KINDS}, received {kind!r}")
    out = np.asarray(outputs, dtype=np.float64)
    out = out.reshape(len(out), -1)
    if out.shape[1] == 1:
        z = out[:, 0]
        if kind == "logits":
            p1 = _sigmoid(z)
        elif kind == "log_probabilities":
            p1 = np.exp(z)
        else:
            p1 = z
        return np.stack([1.0 - p1, p1], axis=1)
    if kind == "logits":
        e = np.exp(out - out.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if kind == "log_probabilities":
        return np.exp(out)
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) without overflow: exp of a non-positive number only."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Predictor:
    """A model ready for inference.

    Each call runs the model in eval mode under ``no_grad`` (its train/eval mode is restored
    afterwards) in batches of ``batch_size``, one call at a time (the compiled kernels behind
    some layers are not re-entrant, and switching modes must not race).

    Args:
        model: the network (used as it is, not copied).
        batch_size: samples per forward pass.
        eval_only: the model is in eval mode (every submodule) and stays so: a private copy
            that nothing else runs, as the server's. Calls then skip switching the modes
            (which walks every submodule twice: for LeNet-5 at batch 1 about as long as the
            forward pass itself); the forward pass is the same, under ``no_grad``.

    Raises:
        ValueError: ``batch_size`` is not an int >= 1, or ``eval_only`` with a submodule in
            training mode.

    Example:
        >>> import lamina as lm
        >>> _ = lm.manual_seed(0)
        >>> net = lm.nn.Sequential(lm.nn.Linear(2, 3), lm.nn.Softmax(dim=1))
        >>> Predictor(net).predict_proba(np.zeros((1, 2))).sum().round(6)
        np.float64(1.0)
    """

    def __init__(self, model: Any, batch_size: int = 256, *, eval_only: bool = False) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"Predictor: batch_size must be an int >= 1, received "
                             f"{batch_size!r}")
        if eval_only:
            training = [name or "the model" for name, m in model.named_modules() if m.training]
            if training:
                more = ", ..." if len(training) > 3 else ""
                raise ValueError(f"Predictor: eval_only needs a model in eval mode; "
                                 f"{len(training)} of its modules are in training mode "
                                 f"({', '.join(training[:3])}{more}): call model.eval() first")
        self.model = model
        self.batch_size = batch_size
        self.eval_only = eval_only
        self.kind = output_kind(model)
        self._dtype = _float_dtype(model) if eval_only else None
        self._lock = threading.Lock()

    def outputs(self, x: Any) -> np.ndarray:
        """The model's raw outputs for inputs ``x`` (an array ``(N, ...)`` or Tensor), as
        ``(N, K)`` float64."""
        from lamina.train.loop import predict

        with self._lock:
            if self.eval_only:
                out = self._eval_outputs(x)
            else:
                out = predict(self.model, x, batch_size=self.batch_size)
        return np.asarray(out, dtype=np.float64).reshape(len(out), -1)

    def _eval_outputs(self, x: Any) -> np.ndarray:
        """:func:`lamina.train.predict`'s forward pass (inputs in the model's float dtype,
        ``no_grad``, ``batch_size`` at a time) for a model that is in eval mode already."""
        from lamina.tensor import Tensor, no_grad

        array = x._data if isinstance(x, Tensor) else np.asarray(x)
        if array.ndim == 0:
            raise ValueError("predict: x is a 0-d scalar; expected one row per sample")
        if len(array) == 0:
            raise ValueError("predict: x has no samples")
        if self._dtype is not None and array.dtype != self._dtype and array.dtype.kind in "biuf":
            array = array.astype(self._dtype)
        size = self.batch_size
        with no_grad():
            if len(array) <= size:
                return self.model(Tensor(array))._data
            return np.concatenate([self.model(Tensor(array[i:i + size]))._data
                                   for i in range(0, len(array), size)])

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities ``(N, C)`` for inputs ``x`` (see :func:`probabilities`)."""
        return probabilities(self.outputs(x), self.kind)

    def predict(self, x: Any) -> np.ndarray:
        """The most probable class index of each sample, ``(N,)`` int64."""
        return self.predict_proba(x).argmax(axis=1)


def _float_dtype(model: Any) -> np.dtype | None:
    """The dtype of the model's first floating parameter (inputs are cast to it), or None."""
    for p in model.parameters():
        if p.dtype.kind == "f":
            return p.dtype
    return None


def predict_proba(model: Any, x: Any, batch_size: int = 256) -> np.ndarray:
    """``Predictor(model, batch_size).predict_proba(x)``: class probabilities ``(N, C)``.

    Example:
        >>> import lamina as lm
        >>> _ = lm.manual_seed(0)
        >>> net = lm.nn.Sequential(lm.nn.Linear(2, 1), lm.nn.Sigmoid())
        >>> p = lm.predict_proba(net, np.zeros((2, 2)))
        >>> p.shape, bool(np.allclose(p.sum(axis=1), 1))
        ((2, 2), True)
    """
    return Predictor(model, batch_size).predict_proba(x)


def check_finite_weights(model: Any, where: str) -> None:
    """Refuse a model whose parameters or buffers hold NaN or infinity (a diverged training).

    Raises:
        ValueError: names the first such tensor and how many of its values are not finite.
    """
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        values = tensor.numpy()
        if values.dtype.kind in "fc" and not np.all(np.isfinite(values)):
            bad = int(values.size - np.count_nonzero(np.isfinite(values)))
            raise ValueError(f"{where}: the model's {name} holds {bad} NaN or infinite "
                             f"value{'s' * (bad != 1)} (of {values.size})")
