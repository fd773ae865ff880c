"""The training loop: ``fit``, ``evaluate`` and ``predict`` (Keras' ``model.fit`` as functions).

``fit`` runs the notes' minibatch SGD (eq 3.1-3.4) with any lamina optimizer: per batch it
computes the loss, back-propagates, and lets the optimizer step; after every epoch it evaluates
the validation set and calls the callbacks. It knows no specific callback: callbacks see the
loop through ``callback.model``, ``callback.optimizer`` and ``callback.trainer`` and may stop it
by setting ``trainer.stop_training = True`` (or ``model.stop_training = True``, as in Keras).

Plain training loops stay easy: nothing here is needed to train a lamina model by hand.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from lamina.tensor import Tensor, no_grad
from lamina.train.distributed import data_parallel
from lamina.train.history import History


class NonFiniteLossError(FloatingPointError):
    """``fit`` met a NaN or infinite batch loss (raised before that batch's backward and
    optimizer step, so the model keeps the parameters of the previous step).

    Attributes:
        epoch: the epoch (0-based, as in the History and the callbacks).
        batch: the batch within the epoch (0-based).
        loss: the loss value (nan, inf or -inf).
    """

    def __init__(self, message: str, epoch: int, batch: int, loss: float) -> None:
        super().__init__(message)
        self.epoch, self.batch, self.loss = epoch, batch, loss


class Trainer:
    """What callbacks see of a running ``fit``.

    Attributes:
        model: the model being trained.
        optimizer: its optimizer.
        loss_fn: the loss.
        history: the :class:`History` being filled.
        params: ``{"epochs", "initial_epoch", "steps", "batch_size", "metrics"}``.
        epoch: the current (0-based) epoch.
        stop_training: set it to True to stop: the loop leaves the epoch after the current
            batch, validates, calls ``on_epoch_end`` and ends training.
        callbacks: the callbacks of the run, in order (set by ``fit``).
        loader: the training batches (set by ``fit``).
    """

    def __init__(self, model, optimizer, loss_fn, history: History, params: dict) -> None:
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.history, self.params = history, params
        self.epoch = int(params.get("initial_epoch", 0))
        self.stop_training = False
        self.callbacks: list = []
        self.loader: Any = None

    def should_stop(self) -> bool:
        return bool(self.stop_training or getattr(self.model, "stop_training", False))


# --------------------------------------------------------------------------- data
def _is_array_tuple(data: Any) -> bool:
    return isinstance(data, (tuple, list)) and len(data) in (2, 3) and not hasattr(data, "_fields")


def _check_arrays(data: Sequence, where: str, argument: str) -> tuple[np.ndarray, ...]:
    arrays = tuple(a._data if isinstance(a, Tensor) else np.asarray(a) for a in data)
    names = ("x", "y", "sample_weight")[:len(arrays)]
    for name, a in zip(names, arrays, strict=True):
        if a.ndim == 0:
            raise ValueError(f"{where}: {argument} {name} is a 0-d scalar; expected one row per "
                             f"sample")
    sizes = {name: a.shape[0] for name, a in zip(names, arrays, strict=True)}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{where}: {argument} arrays have different numbers of samples {sizes}")
    return arrays


def _loader(data: Any, batch_size: int, shuffle: bool, where: str, argument: str) -> Iterable:
    """Batches of ``data``: an (x, y[, sample_weight]) tuple of arrays, a Dataset or a
    DataLoader (used as it is, with its own batch size and shuffling)."""
    from lamina.data import DataLoader, TensorDataset

    if _is_array_tuple(data):
        data = TensorDataset(*_check_arrays(data, where, argument))
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return DataLoader(data, batch_size=batch_size, shuffle=shuffle)
    if hasattr(data, "__iter__"):
        return data
    raise TypeError(f"{where}: {argument} must be an (x, y) tuple of arrays, a Dataset or a "
                    f"DataLoader, got {type(data).__name__}")


def _split_batch(batch: Any, where: str) -> tuple[Any, Any, Any]:
    if isinstance(batch, dict):
        raise TypeError(f"{where}: batches must be (x, y) or (x, y, sample_weight) tuples, got a "
                        f"dict with keys {sorted(batch)}")
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3):
        size = len(batch) if isinstance(batch, (tuple, list)) else type(batch).__name__
        raise ValueError(f"{where}: batches must be (x, y) or (x, y, sample_weight) tuples, got "
                         f"{size}")
    return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)


def _model_dtype(model) -> np.dtype | None:
    for p in model.parameters():
        if p.dtype.kind == "f":
            return p.dtype
    return None


def _input(x: Any, dtype: np.dtype | None) -> Tensor:
    """The batch's inputs as a Tensor in the model's floating dtype (uint8 images included)."""
    array = x._data if isinstance(x, Tensor) else np.asarray(x)
    if dtype is not None and array.dtype != dtype and array.dtype.kind in "biuf":
        array = array.astype(dtype)
    return x if isinstance(x, Tensor) and array is x._data else Tensor(array)


def _array(value: Any) -> np.ndarray:
    return value._data if isinstance(value, Tensor) else np.asarray(value)


# --------------------------------------------------------------------------- loss
def _per_sample_loss(loss_fn: Callable, output: Tensor, target: Any) -> Tensor:
    """The loss with reduction='none', averaged to one value per sample: shape (N,)."""
    if hasattr(loss_fn, "reduction"):
        saved = loss_fn.reduction
        loss_fn.reduction = "none"
        try:
            per = loss_fn(output, target)
        finally:
            loss_fn.reduction = saved
    else:
        try:
            takes_reduction = "reduction" in inspect.signature(loss_fn).parameters
        except (TypeError, ValueError):
            takes_reduction = False
        if not takes_reduction:
            raise TypeError(f"fit: class_weight / sample_weight need a loss that supports "
                            f"reduction='none' (a lamina loss module or a function with a "
                            f"'reduction' argument), got {type(loss_fn).__name__}")
        per = loss_fn(output, target, reduction="none")
    if per.ndim > 1:
        per = per.reshape(per.shape[0], -1).mean(axis=1)
    return per


def _class_weights(class_weight: dict, target: np.ndarray) -> np.ndarray:
    """Weight of each sample's class: integer labels (N,), one-hot / probabilities (N, C) by
    argmax, or binary 0/1 targets (N,) or (N, 1). Classes absent from the dict weigh 1."""
    if target.ndim == 2 and target.shape[1] > 1:
        labels = target.argmax(axis=1)
    else:
        labels = target.reshape(target.shape[0])
        if labels.dtype.kind == "f":
            labels = np.rint(labels)
    weights = np.ones(labels.shape[0], dtype=np.float64)
    for cls, w in class_weight.items():
        weights[labels == cls] = w
    return weights


def _check_class_weight(class_weight: Any) -> dict | None:
    if class_weight is None:
        return None
    if not isinstance(class_weight, dict):
        raise TypeError(f"fit: class_weight must be a dict {{class: weight}}, got "
                        f"{type(class_weight).__name__}")
    for cls, w in class_weight.items():
        if isinstance(w, bool) or not isinstance(w, (int, float, np.number)) or not w >= 0:
            raise ValueError(f"fit: class_weight[{cls!r}] must be a number >= 0, got {w!r}")
    return class_weight


def compute_loss(loss_fn: Callable, output: Tensor, target: Any, *,
                 class_weight: dict | None = None, sample_weight: Any = None) -> Tensor:
    """The batch loss, weighted per sample when weights are given.

    Without weights this is ``loss_fn(output, target)``. With them it is
    ``mean_i(w_i * L_i)`` where ``L_i`` is sample i's loss (``reduction='none'``, averaged over
    any non-batch axes) and ``w_i = class_weight[y_i] * sample_weight_i`` (Keras' weighting of
    the per-example terms of eq 3.1).

    Args:
        loss_fn: a lamina loss module or a function ``(output, target) -> Tensor``.
        output: model output, shape (N, ...).
        target: targets, shape (N,) labels or (N, ...) values.
        class_weight: ``{class: weight}``; classes absent from it weigh 1.
        sample_weight: weights of shape (N,).

    Returns:
        A scalar Tensor.

    Raises:
        TypeError: weights are given but the loss has no ``reduction='none'`` mode.
    """
    if class_weight is None and sample_weight is None:
        return loss_fn(output, target)
    n = output.shape[0]
    weights = np.ones(n, dtype=np.float64)
    if class_weight is not None:
        weights = weights * _class_weights(class_weight, _array(target))
    if sample_weight is not None:
        weights = weights * _array(sample_weight).reshape(n)
    per = _per_sample_loss(loss_fn, output, target)
    return (per * Tensor(weights.astype(per.dtype))).mean()


# --------------------------------------------------------------------------- metrics
def _accuracy(threshold: float) -> Callable[[np.ndarray, np.ndarray], float]:
    """Accuracy (eq 7.3, :func:`lamina.metrics.accuracy_score`) of raw outputs: the argmax of
    (N, C) outputs, else outputs above ``threshold``, against labels or one-hot targets."""
    def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        from lamina.metrics import accuracy_score

        if y_pred.ndim == 2 and y_pred.shape[1] > 1:
            predicted = y_pred.argmax(axis=1)
        else:
            predicted = (y_pred.reshape(y_pred.shape[0]) > threshold).astype(np.int64)
        if y_true.ndim == 2 and y_true.shape[1] > 1:
            truth = y_true.argmax(axis=1)
        else:
            truth = y_true.reshape(y_true.shape[0])
            truth = np.rint(truth).astype(np.int64) if truth.dtype.kind == "f" else truth
        return float(accuracy_score(truth, predicted))
    accuracy._lamina_builtin = True
    return accuracy


def _rows(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets and outputs as (N, K) arrays of the outputs' size."""
    n = y_pred.shape[0]
    return y_true.reshape(n, -1), y_pred.reshape(n, -1)


def _mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from lamina.metrics import mean_squared_error

    return float(mean_squared_error(*_rows(y_true, y_pred)))


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from lamina.metrics import mean_absolute_error

    return float(mean_absolute_error(*_rows(y_true, y_pred)))


_mse._lamina_builtin = _mae._lamina_builtin = True  # cheap enough to log per batch too


def _is_logit_loss(loss_fn: Any) -> bool:
    from lamina.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss

    return isinstance(loss_fn, (CrossEntropyLoss, BCEWithLogitsLoss))


def resolve_metrics(metrics: Iterable, loss_fn: Any = None) -> list[tuple[str, Callable]]:
    """``(name, fn(y_true, y_pred) -> float)`` pairs for ``fit``'s ``metrics``.

    Names: ``"accuracy"`` / ``"acc"`` (argmax of (N, C) outputs; (N,) or (N, 1) outputs are
    thresholded at 0 for logit losses, else 0.5), ``"mse"``, ``"mae"``. A callable is called with
    NumPy ``(y_true, y_pred)``, the epoch's targets and raw model outputs, and logged under its
    ``__name__``.

    Raises:
        ValueError: an unknown metric name.
        TypeError: a metric that is neither a name nor callable.
    """
    threshold = 0.0 if _is_logit_loss(loss_fn) else 0.5
    named = {"accuracy": _accuracy(threshold), "acc": _accuracy(threshold), "mse": _mse,
             "mae": _mae}
    out = []
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in named:
                raise ValueError(f"fit: unknown metric {metric!r}; expected one of "
                                 f"{sorted(named)} or a callable (y_true, y_pred) -> float")
            out.append((metric, named[metric]))
        elif callable(metric):
            out.append((getattr(metric, "__name__", type(metric).__name__), metric))
        else:
            raise TypeError(f"fit: a metric must be a name or a callable, got "
                            f"{type(metric).__name__}")
    return out


def _metric_values(metrics: list, targets: list, outputs: list, prefix: str = "") -> dict:
    if not metrics or not outputs:
        return {}
    y_true, y_pred = np.concatenate(targets), np.concatenate(outputs)
    return {prefix + name: float(fn(y_true, y_pred)) for name, fn in metrics}


# --------------------------------------------------------------------------- callbacks
def _call(callbacks: Sequence, hook: str, *args) -> None:
    for callback in callbacks:
        method = getattr(callback, hook, None)
        if callable(method):
            method(*args)


def _set_context(callbacks: Sequence, model, optimizer, trainer: Trainer) -> None:
    for callback in callbacks:
        set_context = getattr(callback, "set_context", None)
        if callable(set_context):
            set_context(model=model, optimizer=optimizer, trainer=trainer)
        else:
            for name, value in (("model", model), ("optimizer", optimizer),
                                ("trainer", trainer)):
                try:
                    setattr(callback, name, value)
                except AttributeError:
                    pass


def _current_lr(optimizer) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    if groups and isinstance(groups[0], dict) and "lr" in groups[0]:
        return float(groups[0]["lr"])
    return None


# --------------------------------------------------------------------------- public
@contextlib.contextmanager
def evaluation(model) -> Iterator[None]:
    """Run the model for inference inside the block: eval mode and ``no_grad`` (no graph, the
    layers' no-grad fast paths); its train/eval mode is restored on leaving. :func:`evaluate`,
    :func:`predict` (and so every prediction of ``lamina``) run the model inside it."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def evaluate(model, loss_fn: Callable | None, data: Any, batch_size: int = 256,
             metrics: Iterable = (), prefix: str = "") -> dict[str, float]:
    """Loss and metrics of ``model`` over the whole of ``data``, in eval mode without a graph.

    The loss is the mean over all samples: batch means weighted by batch size (exact for
    'mean'-reduced losses). The model's train/eval mode is restored afterwards.

    Args:
        model: the model.
        loss_fn: the loss, or None to compute only the metrics.
        data: an (x, y[, sample_weight]) tuple of arrays, a Dataset or a DataLoader.
        batch_size: batch size for tuples and Datasets.
        metrics: as in :func:`fit`.
        prefix: prepended to every key (``fit`` uses ``"val_"``).

    Returns:
        ``{prefix + "loss": ..., prefix + metric: ...}``.

    Raises:
        ValueError: ``data`` is empty or its batches are not (x, y) tuples.
    """
    where = "evaluate"
    resolved = resolve_metrics(metrics, loss_fn)
    loader = _loader(data, batch_size, False, where, "data")
    dtype = _model_dtype(model)
    total, count, targets, outputs = 0.0, 0, [], []
    with evaluation(model):
        for batch in loader:
            x, y, w = _split_batch(batch, where)
            output = model(_input(x, dtype))
            n = output.shape[0]
            if loss_fn is not None:
                loss = compute_loss(loss_fn, output, y, sample_weight=w)
                total += float(loss.item()) * n
            count += n
            if resolved:
                targets.append(_array(y))
                outputs.append(output._data)
    if count == 0:
        raise ValueError(f"{where}: data has no samples")
    logs = {prefix + "loss": total / count} if loss_fn is not None else {}
    logs.update(_metric_values(resolved, targets, outputs, prefix))
    return logs


def predict(model, x: Any, batch_size: int = 256) -> np.ndarray:
    """Model outputs for ``x`` in eval mode without a graph, as one NumPy array.

    Args:
        model: the model.
        x: inputs, an array (N, ...) or Tensor, a Dataset or a DataLoader (the first element of
            each batch is the input).
        batch_size: samples per forward pass for arrays and Datasets.

    Returns:
        The concatenated outputs, shape (N, ...).

    Raises:
        ValueError: ``x`` has no samples.
    """
    from lamina.data import DataLoader

    if isinstance(x, (np.ndarray, Tensor, list)):
        array = _array(x)
        if array.ndim == 0:
            raise ValueError("predict: x is a 0-d scalar; expected one row per sample")
        loader: Iterable = (array[i:i + batch_size] for i in range(0, len(array), batch_size))
    elif hasattr(x, "__getitem__") and hasattr(x, "__len__"):
        loader = DataLoader(x, batch_size=batch_size)
    else:
        loader = x
    dtype = _model_dtype(model)
    outputs = []
    with evaluation(model):
        for batch in loader:
            inputs = batch[0] if isinstance(batch, (tuple, list)) else batch
            outputs.append(model(_input(inputs, dtype))._data)
    if not outputs:
        raise ValueError("predict: x has no samples")
    return np.concatenate(outputs)


def fit(model, loss_fn: Callable, optimizer, train: Any, val: Any = None, epochs: int = 10,
        batch_size: int = 32, callbacks: Iterable = (), class_weight: dict | None = None,
        metrics: Iterable = (), shuffle: bool = True, sample_weight: Any = None,
        validation_split: float | None = None, initial_epoch: int = 0,
        verbose: int = 0, stop_on_nonfinite: bool = True) -> History:
    """Train ``model`` on ``train`` for epochs ``initial_epoch .. epochs - 1`` (Keras' ``fit``).

    Per batch: ``loss = loss_fn(model(x), y)`` (weighted per sample with ``class_weight`` /
    ``sample_weight``, see :func:`compute_loss`), ``optimizer.zero_grad()``, ``loss.backward()``,
    ``optimizer.step()`` -- minibatch SGD, notes eq 3.3-3.4, with any update rule. Shuffling and
    dropout draw from lamina's global generator, so ``lm.manual_seed`` fixes the whole run.

    Logs per epoch (in the returned History): ``"loss"`` (sample-weighted mean of the batch
    losses, training mode), each metric on the training batches (outputs before each step, as
    Keras), ``"val_loss"`` and ``"val_<metric>"`` (whole validation set, eval mode, no graph),
    and ``"lr"`` (``optimizer.param_groups[0]["lr"]`` used in the epoch).

    Callbacks: each gets ``model``, ``optimizer`` and ``trainer`` (a :class:`Trainer`) through
    ``set_context`` (or as attributes) before training; the loop then calls, where the callback
    defines them and in list order, ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
    ``on_batch_begin(batch, logs)``, ``on_batch_end(batch, logs)``, ``on_epoch_end(epoch, logs)``
    (after validation), ``on_epoch_complete(epoch, logs)`` (after every ``on_epoch_end`` and the
    History record: the state a checkpoint must hold) and ``on_train_end(logs)``. Batch logs
    hold ``"batch"``, ``"size"``, ``"loss"`` and the built-in metrics on that batch; epoch logs
    are what History records.
    Training stops after the batch during which a
    callback sets ``trainer.stop_training`` or ``model.stop_training``; that epoch still ends
    with validation and ``on_epoch_end``.

    Started by ``mpiexec -n N`` (or after ``lamina.distributed.init_process_group``), ``fit``
    trains data-parallel: every rank takes 1/N of each batch, the gradients are averaged, and
    the result is one process's with the same ``batch_size``; only rank 0 runs the callbacks
    that print or write (see :mod:`lamina.train.distributed`).

    Args:
        model: a lamina Module.
        loss_fn: a loss module (``nn.CrossEntropyLoss()``) or ``(output, target) -> Tensor``.
        optimizer: a lamina optimizer over ``model``'s parameters.
        train: an ``(x, y)`` or ``(x, y, sample_weight)`` tuple of arrays, a Dataset or a
            DataLoader (used as is: its batch size and shuffling win).
        val: validation data in the same forms, or None.
        epochs: index of the last epoch plus one (as Keras; with ``initial_epoch`` it resumes).
        batch_size: samples per batch for arrays and Datasets.
        callbacks: callback objects (see :mod:`lamina.train.callbacks`); a :class:`History`
            among them is the one filled and returned.
        class_weight: ``{class: weight}`` multiplying each sample's loss by its class's weight.
        metrics: names (``"accuracy"``, ``"mse"``, ``"mae"``) or ``fn(y_true, y_pred)``.
        shuffle: reshuffle arrays / Datasets every epoch.
        sample_weight: per-sample weights (N,) aligned with array ``train``.
        validation_split: fraction in (0, 1) of array ``train`` (its last samples, before
            shuffling) held out as validation data.
        initial_epoch: epoch to start from (after :func:`lamina.train.load_checkpoint`).
        verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
        stop_on_nonfinite: raise :class:`NonFiniteLossError` at the first batch whose loss is
            NaN or infinite, before its backward and step (default). False trains on, as does
            a :class:`lamina.train.callbacks.TerminateOnNaN` among ``callbacks`` (which then
            stops the training quietly, as Keras).

    Returns:
        The :class:`History`.

    Raises:
        ValueError: bad ``epochs``/``batch_size``/``initial_epoch``/``validation_split``, data
            with mismatched lengths, or an unknown metric name.
        TypeError: unsupported data, or weights with a loss without ``reduction='none'``.
        NonFiniteLossError: a batch loss is NaN or infinite (see ``stop_on_nonfinite``).
    """
    where = "fit"
    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1),
                             ("initial_epoch", initial_epoch, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{where}: {name} must be an int >= {low}, got {value!r}")
    if initial_epoch > epochs:
        raise ValueError(f"{where}: initial_epoch={initial_epoch} is beyond epochs={epochs}")
    class_weight = _check_class_weight(class_weight)
    resolved = resolve_metrics(metrics, loss_fn)
    train, val = _split_validation(train, val, sample_weight, validation_split)

    parallel = data_parallel(model)  # None unless this process is one of an MPI job's
    if parallel is not None:
        model = parallel.model
    callbacks = list(callbacks)
    history = next((c for c in callbacks if isinstance(c, History)), None) or History()
    from lamina.train.callbacks import ProgressBar, TerminateOnNaN

    if verbose and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.insert(0, ProgressBar(bar=None if verbose == 1 else False))
    if parallel is None:
        loader = _loader(train, batch_size, shuffle, where, "train")
    else:
        callbacks = parallel.callbacks(callbacks)
        loader = parallel.loader(train, batch_size, shuffle)
    steps = len(loader) if hasattr(loader, "__len__") else None
    trainer = Trainer(model, optimizer, loss_fn, history, {
        "epochs": int(epochs), "initial_epoch": int(initial_epoch), "steps": steps,
        "batch_size": int(batch_size), "metrics": [name for name, _ in resolved]})
    trainer.callbacks, trainer.loader = callbacks, loader
    _set_context(callbacks, model, optimizer, trainer)
    model.stop_training = False
    dtype = _model_dtype(model)
    zero_grad = getattr(optimizer, "zero_grad", model.zero_grad)
    check_finite = bool(stop_on_nonfinite) and not any(
        isinstance(c, TerminateOnNaN) for c in callbacks)

    _call(callbacks, "on_train_begin", {})
    for epoch in range(initial_epoch, epochs):
        trainer.epoch = epoch
        model.train()
        _call(callbacks, "on_epoch_begin", epoch, {})
        lr = _current_lr(optimizer)
        total, count, targets, outputs = 0.0, 0, [], []
        if parallel is not None:
            parallel.begin_epoch(loader, epoch)
        for step, batch in enumerate(loader):
            if parallel is not None:
                taken = parallel.train_batch(trainer, callbacks, step, batch, loss_fn, optimizer,
                                             zero_grad, class_weight, dtype, resolved,
                                             check_finite=check_finite, epoch=epoch)
                if taken is None:  # a rank asked to stop after the previous batch
                    break
                value, n, y, output = taken
                total, count = total + value * n, count + n
                if resolved and output is not None:
                    targets.append(_array(y))
                    outputs.append(output)
                continue
            x, y, w = _split_batch(batch, where)
            batch_logs: dict[str, Any] = {"batch": step, "size": int(np.shape(_array(x))[0])}
            _call(callbacks, "on_batch_begin", step, batch_logs)
            output = model(_input(x, dtype))
            loss = compute_loss(loss_fn, output, y, class_weight=class_weight, sample_weight=w)
            value = float(loss.item())
            if check_finite and not math.isfinite(value):
                raise _non_finite(value, epoch, step, _array(x))
            zero_grad()
            loss.backward()
            optimizer.step()
            n = output.shape[0]
            total, count = total + value * n, count + n
            if resolved:
                targets.append(_array(y))
                outputs.append(output._data)
            batch_logs["loss"] = value
            for name, fn in resolved:
                if getattr(fn, "_lamina_builtin", False):
                    batch_logs[name] = fn(targets[-1], outputs[-1])
            _call(callbacks, "on_batch_end", step, batch_logs)
            if trainer.should_stop():
                break
        if parallel is not None:
            # the last batch's stop request, and the targets/outputs of every rank
            if parallel.sum(float(trainer.should_stop()))[0] > 0:
                trainer.stop_training = True
            if resolved:
                targets, outputs = parallel.concat(targets), parallel.concat(outputs)
        if count == 0:
            raise ValueError(f"{where}: train has no samples")
        logs: dict[str, Any] = {"loss": total / count}
        logs.update(_metric_values(resolved, targets, outputs))
        del targets, outputs
        if val is not None:
            validate = evaluate if parallel is None else parallel.evaluate
            logs.update(validate(model, loss_fn, val, batch_size, metrics, prefix="val_"))
        if lr is not None:
            logs["lr"] = lr
        _call(callbacks, "on_epoch_end", epoch, logs)
        history.record(epoch, logs)
        _call(callbacks, "on_epoch_complete", epoch, logs)
        stop = trainer.should_stop()
        if parallel is not None:
            stop = parallel.sum(float(stop))[0] > 0
        if stop:
            break
    _call(callbacks, "on_train_end", {})
    return history


def _non_finite(value: float, epoch: int, step: int, x: np.ndarray) -> NonFiniteLossError:
    cause = ("the batch's inputs hold NaN or infinite values: clean the data (np.isfinite)"
             if x.dtype.kind == "f" and not np.isfinite(x).all() else
             "the training diverged: lower the learning rate, or normalise the inputs")
    return NonFiniteLossError(
        f"fit: the loss is {value} at epoch {epoch}, batch {step} (0-based; stopped before "
        f"that batch's backward and step, the model keeps the previous step's parameters); "
        f"{cause}. Pass stop_on_nonfinite=False to train on regardless", epoch, step, value)


def _split_validation(train: Any, val: Any, sample_weight: Any,
                      validation_split: float | None) -> tuple[Any, Any]:
    """Attach ``sample_weight`` to array ``train`` and carve out ``validation_split``."""
    where = "fit"
    if sample_weight is not None:
        if not _is_array_tuple(train) or len(train) != 2:
            raise ValueError(f"{where}: sample_weight needs train as an (x, y) tuple of arrays; "
                             f"pass (x, y, sample_weight) batches with a Dataset or DataLoader")
        train = (*train, sample_weight)
    if validation_split is None:
        return train, val
    if val is not None:
        raise ValueError(f"{where}: give either val or validation_split, not both")
    if not isinstance(validation_split, (float, int)) or not 0 < validation_split < 1:
        raise ValueError(f"{where}: validation_split must be a fraction in (0, 1), got "
                         f"{validation_split!r}")
    if not _is_array_tuple(train):
        raise ValueError(f"{where}: validation_split needs train as a tuple of arrays, got "
                         f"{type(train).__name__}")
    arrays = _check_arrays(train, where, "train")
    split = int(math.floor(arrays[0].shape[0] * (1.0 - validation_split)))
    if split == 0 or split == arrays[0].shape[0]:
        raise ValueError(f"{where}: validation_split={validation_split} of "
                         f"{arrays[0].shape[0]} samples leaves an empty train or validation set")
    return tuple(a[:split] for a in arrays), tuple(a[split:] for a in arrays)


__all__ = ["fit", "evaluate", "evaluation", "predict", "compute_loss", "resolve_metrics",
           "Trainer", "NonFiniteLossError"]
