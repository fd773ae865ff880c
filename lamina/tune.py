"""Hyperparameter search over the ranges of a config, with Optuna (``lamina tune``).

A tune config is a training config (:mod:`lamina.config`) in which some values are *ranges*:
inline tables with exactly one distribution::

    [optimizer]
    name = {choice = ["sgd", "adam"]}         # one of the listed values
    lr = {log_uniform = [1e-4, 1e-1]}         # log(lr) uniform on [log 1e-4, log 1e-1]
    weight_decay = {uniform = [0.0, 1e-3]}    # uniform on [low, high]

    [model]
    name = "mlp"
    hidden = [{int = [8, 64], step = 8}]      # an integer in low, low + step, ..., high
    dropout = {uniform = [0.0, 0.5]}

    [tune]                                    # optional; these are the defaults
    trials = 20                               # (no default) trials per run; or --trials N
    timeout = 600.0                           # (no default) start no trial after 600 s
    study_name = "spirals"                    # default: the config file's name
    metric = "val_loss"                       # any epoch log: val_loss, val_accuracy, loss, ...
    direction = "minimize"                    # "maximize" by default for accuracy metrics
    seed = 0                                  # the sampler's seed
    pruner = "median"                         # or "none"
    startup_trials = 5                        # trials never pruned, to learn the median from
    warmup_epochs = 0                         # epochs of each trial never pruned

A range may stand for a value anywhere in a table (inside lists too, one layer's width above);
``choice`` values may be lists (``hidden = {choice = [[32], [32, 32]]}``). Every value of every
range must be a valid config value: that is checked before the first trial.

Each trial, Optuna's TPE sampler (Bergstra et al. 2011) proposes one value per range; the config
with those values trains exactly as ``lamina train`` trains it (same seed, no files). After each
epoch the metric is reported, and the median pruner stops a trial whose best value so far is worse
than the median of earlier trials' values at that epoch; a trial whose metric is not finite
(diverged) is pruned too. The trial's value is the metric after its last epoch, so training the
best config again reproduces the best value (training is deterministic for a given seed).

Tune on validation data that is not the test set: set ``[train] validation_split`` (without it,
``val_loss`` is measured on the test set, which then no longer estimates the error on new data).

Optuna is an optional dependency (``pip install 'lamina[tune]'``), imported when a search starts.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.train.callbacks import Callback
from lamina.workflow.config import Config, ConfigError, parse_config
from lamina.workflow.training import TrainingDiverged

__all__ = ["DISTRIBUTIONS", "Range", "TuneConfig", "TuneResult", "load_tune_config",
           "search_space", "substitute", "to_toml", "tune"]

DISTRIBUTIONS = ("log_uniform", "uniform", "int", "choice")
_RANGE_FORMS = ("{log_uniform = [low, high]}, {uniform = [low, high]}, "
                "{int = [low, high], step = 1} or {choice = [a, b, ...]}")
_MISSING_OPTUNA = "lamina tune needs optuna: pip install 'lamina[tune]'"


# --------------------------------------------------------------------------- search space
@dataclass(frozen=True)
class Range:
    """One range of a tune config: where it is and what values it allows.

    Attributes:
        name: the parameter's name in the study, its place in the config: ``"optimizer.lr"``,
            ``"model.hidden[0]"``.
        path: the keys and list indices leading to it (``("model", "hidden", 0)``).
        kind: one of :data:`DISTRIBUTIONS`.
        low: the lower bound (``log_uniform``, ``uniform``, ``int``).
        high: the upper bound, included.
        step: the spacing of allowed values (``int``, ``uniform``), or None.
        choices: the allowed values (``choice``).
    """

    name: str
    path: tuple[str | int, ...]
    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Ask an Optuna trial for this range's value (a config value, choices decoded)."""
        if self.kind == "choice":
            return self.decode(trial.suggest_categorical(self.name, self._encoded()))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high),
                                     step=int(self.step or 1))
        return trial.suggest_float(self.name, float(self.low), float(self.high),
                                   log=self.kind == "log_uniform", step=self.step)

    def decode(self, value: Any) -> Any:
        """The config value of a value stored in the study (choices that are lists are stored
        as their JSON text, since Optuna's categorical values are scalars)."""
        if self.kind == "choice" and self._needs_encoding():
            return json.loads(value)
        return value

    def examples(self) -> list[Any]:
        """Values covering the range (bounds, every choice), to check a config before a search."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]

    def _needs_encoding(self) -> bool:
        return any(not isinstance(c, (bool, int, float, str)) for c in self.choices)

    def _encoded(self) -> list[Any]:
        if self._needs_encoding():
            return [json.dumps(c) for c in self.choices]
        return list(self.choices)


def search_space(document: Mapping[str, Any], name: str = "<config>") -> list[Range]:
    """The ranges of a parsed TOML document, checked.

    A table's value (at any depth, inside lists too) that is an inline table is a range, except
    the tables a config itself nests: ``[callbacks]`` entries and ``[train] class_weight``, which
    are ranges only when they name a distribution.

    Args:
        document: the TOML document as ``tomllib`` returns it (without ``[tune]``).
        name: how messages name the config.

    Returns:
        The ranges, in document order.

    Raises:
        ConfigError: a range names an unknown distribution or several, has bounds that are not
            two numbers ``low < high`` (``0 < low`` for ``log_uniform``, integers for ``int``),
            a bad ``step``, or an empty or repeating ``choice``.

    Example:
        >>> [r.name for r in search_space({"optimizer": {"lr": {"log_uniform": [1e-4, 0.1]}},
        ...                                 "model": {"hidden": [{"int": [8, 64]}, 16]}})]
        ['optimizer.lr', 'model.hidden[0]']
    """
    ranges: list[Range] = []
    for table, options in document.items():
        if isinstance(options, Mapping):
            for key, value in options.items():
                _collect(value, (table, key), ranges, name)
    return ranges


def _collect(value: Any, path: tuple[str | int, ...], ranges: list[Range], name: str) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _collect(item, (*path, i), ranges, name)
    elif isinstance(value, Mapping):
        if _is_config_table(path, value):
            for key, item in value.items():
                _collect(item, (*path, key), ranges, name)
        else:
            ranges.append(_parse_range(value, path, name))


def _is_config_table(path: tuple[str | int, ...], value: Mapping[str, Any]) -> bool:
    """Tables a config nests by itself, rather than ranges."""
    nested = (path[0] == "callbacks" and len(path) == 2) or path == ("train", "class_weight")
    return nested and not set(value) & set(DISTRIBUTIONS)


def _parse_range(spec: Mapping[str, Any], path: tuple[str | int, ...], name: str) -> Range:
    where = _where(path)

    def error(message: str) -> ConfigError:
        return ConfigError(f"config error in {name}: {where}: {message}")

    kinds = [key for key in spec if key in DISTRIBUTIONS]
    unknown = [key for key in spec if key not in DISTRIBUTIONS and key != "step"]
    if unknown or not kinds:
        shown = f"unknown distribution '{unknown[0]}'" if unknown else "no distribution"
        raise error(f"{shown}; a range is {_RANGE_FORMS}")
    if len(kinds) > 1:
        raise error(f"a range has exactly one distribution, received {' and '.join(kinds)}")
    kind, bounds, step = kinds[0], spec[kinds[0]], spec.get("step")
    if kind == "choice":
        if step is not None:
            raise error("step applies to int and uniform ranges, not to choice")
        if not isinstance(bounds, list) or not bounds:
            raise error(f"choice must be a non-empty list of values, received {bounds!r}")
        texts = [json.dumps(c, sort_keys=True) for c in bounds]
        if len(set(texts)) != len(texts):
            raise error(f"choice lists a value twice: {bounds!r}")
        return Range(_param_name(path), path, kind, choices=tuple(bounds))
    low, high = _bounds(bounds, kind, error)
    if kind == "log_uniform" and step is not None:
        raise error("step applies to int and uniform ranges, not to log_uniform")
    if step is not None:
        integral = kind == "int"
        if (isinstance(step, bool) or not isinstance(step, int if integral else (int, float))
                or step <= 0):
            raise error(f"step must be a positive {'integer' if integral else 'number'}, "
                        f"received {step!r}")
        count = (high - low) / step
        if abs(count - round(count)) > 1e-9 * max(1.0, abs(count)):
            raise error(f"high - low must be a multiple of step, received [{low}, {high}] "
                        f"with step = {step}")
    return Range(_param_name(path), path, kind, low, high, step)


def _bounds(bounds: Any, kind: str, error: Callable[[str], ConfigError]) -> tuple[Any, Any]:
    """``[low, high]`` checked: two numbers (integers for ``int``), ``low < high``."""
    number = int if kind == "int" else (int, float)
    if (not isinstance(bounds, list) or len(bounds) != 2
            or any(isinstance(b, bool) or not isinstance(b, number) for b in bounds)):
        what = "integers" if kind == "int" else "numbers"
        raise error(f"{kind} needs [low, high], two {what}, received {bounds!r}")
    low, high = bounds
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise error(f"{kind} needs low < high, received [{low}, {high}]")
    if kind == "log_uniform" and low <= 0:
        raise error(f"log_uniform needs 0 < low (it samples log(value)), received [{low}, {high}]")
    return low, high


def _param_name(path: tuple[str | int, ...]) -> str:
    text = str(path[0])
    for part in path[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _where(path: tuple[str | int, ...]) -> str:
    """``[optimizer] lr``, ``[model] hidden[0]``, ``[callbacks.early_stopping] patience``."""
    head = 2 if path[0] == "callbacks" and len(path) > 2 else 1
    return f"[{'.'.join(map(str, path[:head]))}] {_param_name(path[head:])}"


def substitute(document: Mapping[str, Any], ranges: list[Range],
               values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``document`` with each range replaced by ``values[range.name]``."""
    result = copy.deepcopy(dict(document))
    for r in ranges:
        target = result
        for part in r.path[:-1]:
            target = target[part]
        target[r.path[-1]] = copy.deepcopy(values[r.name])
    return result


# --------------------------------------------------------------------------- tune config
@dataclass
class TuneConfig:
    """A tune config, read and checked.

    Attributes:
        name: the file name used in messages.
        document: the config without ``[tune]``; relative paths made absolute.
        ranges: its ranges.
        settings: the ``[tune]`` options, defaults filled in.
    """

    name: str
    document: dict[str, Any]
    ranges: list[Range]
    settings: dict[str, Any] = field(default_factory=dict)

    def config(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], Config]:
        """The plain config document with ``values`` for the ranges, and its checked Config."""
        document = substitute(self.document, self.ranges, values)
        return document, parse_config(to_toml(document), name=self.name)


_SETTINGS: dict[str, tuple[Callable[[Any], bool], str, Any]] = {
    "trials": (lambda v: _is_int(v) and v >= 1, "an integer >= 1", None),
    "timeout": (lambda v: _is_number(v) and v > 0, "a number of seconds > 0", None),
    "metric": (lambda v: isinstance(v, str) and bool(v), "an epoch log name such as "
               '"val_loss" or "val_accuracy"', "val_loss"),
    "direction": (lambda v: v in ("minimize", "maximize"), '"minimize" or "maximize"', None),
    "seed": (lambda v: _is_int(v) and v >= 0, "an integer >= 0", 0),
    "study_name": (lambda v: isinstance(v, str) and bool(v), "a non-empty string", None),
    "pruner": (lambda v: v in ("median", "none"), '"median" or "none"', "median"),
    "startup_trials": (lambda v: _is_int(v) and v >= 0, "an integer >= 0", 5),
    "warmup_epochs": (lambda v: _is_int(v) and v >= 0, "an integer >= 0", 0),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_tune_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> TuneConfig:
    """Read a tune config: a TOML file, or the document as a dict.

    Args:
        source: the ``.toml`` path, or a dict shaped like the TOML document (relative paths
            in it resolve against the current directory).

    Returns:
        The :class:`TuneConfig`; every value of every range gives a valid config.

    Raises:
        FileNotFoundError: the file does not exist.
        ConfigError: invalid TOML, a bad range, a bad ``[tune]`` option, or a config that is
            invalid for some value of a range.
    """
    import tomllib

    if isinstance(source, Mapping):
        name, base_dir, document = "<config>", Path.cwd(), copy.deepcopy(dict(source))
    else:
        file = Path(source)
        if not file.is_file():
            kind = "is a directory" if file.is_dir() else "no such file"
            raise FileNotFoundError(f"config file '{file}': {kind}")
        name, base_dir = file.name, file.resolve().parent
        try:
            document = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(f"config error in {name}: invalid TOML: {err}") from None
    settings = _settings(document.pop("tune", {}), name)
    ranges = search_space(document, name)
    if not ranges:
        raise ConfigError(f"config error in {name}: nothing to tune: give some value a range, "
                          f"e.g. lr = {{log_uniform = [1e-4, 1e-1]}}; a range is {_RANGE_FORMS}")
    tune_config = TuneConfig(name, document, ranges, settings)
    _check_every_value(tune_config, base_dir)
    return tune_config


def _settings(options: Any, name: str) -> dict[str, Any]:
    if not isinstance(options, Mapping):
        raise ConfigError(f"config error in {name}: 'tune' must be a table [tune]")
    settings = {key: default for key, (_, _, default) in _SETTINGS.items()}
    for key, value in options.items():
        if key not in _SETTINGS:
            raise ConfigError(f"config error in {name}: unknown key '{key}' in [tune]; "
                              f"allowed: {', '.join(_SETTINGS)}")
        check, expected, _ = _SETTINGS[key]
        if not check(value):
            raise ConfigError(f"config error in {name}: [tune] {key} must be {expected}, "
                              f"received {value!r}")
        settings[key] = value
    if settings["direction"] is None:
        accuracy_like = any(w in settings["metric"] for w in ("acc", "f1", "precision", "recall"))
        settings["direction"] = "maximize" if accuracy_like else "minimize"
    return settings


def _check_every_value(tune_config: TuneConfig, base_dir: Path) -> None:
    """Parse the config for each bound and choice of each range (others at their first value),
    and make its relative paths absolute, so a best config written elsewhere still works."""
    first = {r.name: r.examples()[0] for r in tune_config.ranges}
    document = substitute(tune_config.document, tune_config.ranges, first)
    config = parse_config(to_toml(document), name=tune_config.name, base_dir=base_dir)
    _absolute_paths(tune_config, config)
    for r in tune_config.ranges:
        for value in r.examples()[1:]:
            tune_config.config({**first, r.name: value})


def _absolute_paths(tune_config: TuneConfig, config: Config) -> None:
    document = tune_config.document
    keys = [("data", key) for key in config.factory("data").paths] + [("output", "dir")]
    for table, key in keys:
        value = document.get(table, {}).get(key)
        if isinstance(value, str) and config[table].get(key) is not None:
            document[table][key] = str(config[table][key])


# --------------------------------------------------------------------------- the search
@dataclass
class TuneResult:
    """What :func:`tune` found.

    Attributes:
        best_value: the best trial's metric after its last epoch.
        best_params: the best trial's value of each range, by name (``"optimizer.lr"``).
        best_config: the plain config (no ranges, no ``[tune]``) written to ``best_config.toml``.
        study: the ``optuna.Study`` (every trial, resumed ones included).
        best_trial: the best trial's number in the study.
        metric: the metric's name (``"val_loss"``).
        direction: ``"minimize"`` or ``"maximize"``.
        files: what was written: ``"config"`` (``best_config.toml``), ``"model"`` and the other
            files of the best config's training run (in ``best_model/``).
        metrics: that run's final metrics (``lamina train``'s: ``accuracy``, ``loss``, ...) and
            ``evaluated_on`` (``"test"``, else ``"validation"``); empty without ``save_model``.
    """

    best_value: float
    best_params: dict[str, Any]
    best_config: dict[str, Any]
    study: Any
    best_trial: int = 0
    metric: str = "val_loss"
    direction: str = "minimize"
    files: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


class _TrialReporter(Callback):
    """Reports the metric to the Optuna trial after each epoch (pruning with the study's pruner),
    and prunes trials whose metric is not finite."""

    def __init__(self, trial: Any, metric: str, pruned: type[Exception]) -> None:
        self.trial, self.metric, self.pruned = trial, metric, pruned
        self.value = math.nan

    def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.metric not in logs:
            hint = (" (set [train] validation_split or give test data for val_* logs)"
                    if self.metric.startswith("val_") else "")
            raise ValueError(f"tune: [tune] metric = {self.metric!r} is not an epoch log; "
                             f"available: {', '.join(sorted(logs))}{hint}")
        self.value = float(logs[self.metric])
        if not math.isfinite(self.value):
            raise self.pruned(f"{self.metric} is {self.value} at epoch {epoch + 1}")
        self.trial.report(self.value, epoch)
        if self.trial.should_prune():
            raise self.pruned(f"pruned at epoch {epoch + 1}")


def tune(
    config: str | os.PathLike[str] | Mapping[str, Any],
    n_trials: int | None = None,
    timeout: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    out_dir: str | os.PathLike[str] = ".",
    *,
    seed: int | None = None,
    save_model: bool = True,
    progress: bool = False,
) -> TuneResult:
    """Search the ranges of a tune config with Optuna; write the best config and model.

    Args:
        config: a tune config file, or its document as a dict (see the module doc).
        n_trials: trials to run now (a resumed study adds them); default ``[tune] trials``.
        timeout: stop starting trials after this many seconds; default ``[tune] timeout``.
        storage: an Optuna storage URL, e.g. ``"sqlite:///study.db"``: the study is kept there
            and a later call with the same storage and study name continues it.
        study_name: the study's name; default ``[tune] study_name``, else the config's file
            name without suffix.
        out_dir: where ``best_config.toml`` and ``best_model/`` are written (created).
        seed: the sampler's seed; default ``[tune] seed``. A resumed study with ``k`` trials
            seeds with ``seed + k``, so new trials do not repeat earlier ones.
        save_model: train the best config again and write its ``lamina train`` files (model,
            history, summary, plots) into ``out_dir/best_model``.
        progress: show a progress bar (a line per trial when stderr is not a terminal).

    Returns:
        The :class:`TuneResult`.

    Raises:
        ImportError: optuna is not installed.
        ValueError: neither ``n_trials`` nor ``timeout`` is given, the storage cannot be
            opened, the metric is not logged, or no trial completed.
        ConfigError: the config or one of its ranges is invalid.

    Example:
        >>> result = tune("examples/configs/tune_spirals.toml", n_trials=20)  # doctest: +SKIP
        >>> result.best_value, result.best_params["optimizer.lr"]  # doctest: +SKIP
        (0.0107..., 0.0234...)
    """
    optuna = _import_optuna()
    tune_config = load_tune_config(config)
    settings = tune_config.settings
    n_trials = settings["trials"] if n_trials is None else n_trials
    timeout = settings["timeout"] if timeout is None else timeout
    seed = settings["seed"] if seed is None else seed
    if n_trials is None and timeout is None:
        raise ValueError("tune: give the number of trials (--trials N, [tune] trials) "
                         "or a timeout")
    if n_trials is not None and (not _is_int(n_trials) or n_trials < 1):
        raise ValueError(f"tune: n_trials must be an integer >= 1, received {n_trials!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"tune: seed must be an integer >= 0, received {seed!r}")
    if study_name is None:
        study_name = settings["study_name"] or (
            Path(config).stem if not isinstance(config, Mapping) else "lamina-tune")
    metric, direction = settings["metric"], settings["direction"]

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        study = _open_study(optuna, storage, study_name, direction, settings, seed)
        if progress:
            _warn_if_tuning_on_test(tune_config)

        def objective(trial: Any) -> float:
            values = {r.name: r.suggest(trial) for r in tune_config.ranges}
            _, trial_config = tune_config.config(values)
            reporter = _TrialReporter(trial, metric, optuna.TrialPruned)
            try:
                _train(trial_config, None, [reporter])
            except TrainingDiverged as err:  # a non-finite loss: pruned, as a non-finite metric
                raise optuna.TrialPruned(str(err)) from None
            return reporter.value

        with _Progress(n_trials, metric, progress) as bar:
            study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=[bar])
    finally:
        optuna.logging.set_verbosity(verbosity)
    return _finish(tune_config, study, metric, direction, Path(out_dir), save_model)


def _import_optuna() -> Any:
    try:
        import optuna
    except ModuleNotFoundError as err:
        if err.name != "optuna":  # optuna is there but one of its own imports failed
            raise
        raise ImportError(_MISSING_OPTUNA) from None
    return optuna


def _open_study(optuna: Any, storage: str | None, study_name: str, direction: str,
                settings: dict[str, Any], seed: int) -> Any:
    if settings["pruner"] == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=settings["startup_trials"],
                                             n_warmup_steps=settings["warmup_epochs"])
    else:
        pruner = optuna.pruners.NopPruner()
    if storage is not None and storage.startswith("sqlite:///"):
        database = storage[len("sqlite:///"):].partition("?")[0]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    try:
        study = optuna.create_study(storage=storage, study_name=study_name, direction=direction,
                                    sampler=optuna.samplers.TPESampler(seed=seed),
                                    pruner=pruner, load_if_exists=True)
    except Exception as err:  # sqlalchemy and optuna errors: bad URL, other direction, ...
        raise ValueError(f"tune: cannot open study {study_name!r} in storage {storage!r}: "
                         f"{_one_line(err)}") from None
    if study.trials:
        # a fresh sampler with the same seed would propose the earlier trials' values again
        study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.trials))
    return study


def _warn_if_tuning_on_test(tune_config: TuneConfig) -> None:
    train = tune_config.document.get("train", {})
    if not train.get("validation_split") and tune_config.settings["metric"].startswith("val_"):
        print("lamina tune: note: [train] validation_split is 0, so the validation data is the "
              "test set; set validation_split to keep the test set for the final estimate",
              file=sys.stderr)


def _train(config: Config, out_dir: Path | None, callbacks: list[Any]) -> Any:
    """``run_training`` of ``lamina train`` with extra callbacks; files only with ``out_dir``."""
    from lamina.workflow.training import run_training

    return run_training(config, out_dir or ".", progress=False, log=lambda _: None,
                        write_files=out_dir is not None, callbacks=callbacks)


class _Progress:
    """A tqdm bar of trials on a terminal, else one line per trial on stderr; quiet when off."""

    def __init__(self, total: int | None, metric: str, enabled: bool) -> None:
        self.metric, self.enabled, self.done = metric, enabled, 0
        self.total = total
        self.bar = None
        if enabled and sys.stderr is not None and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="trial", desc="tune", file=sys.stderr)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, study: Any, trial: Any) -> None:
        self.done += 1
        if not self.enabled:
            return
        best = _best_text(study, self.metric)
        if self.bar is not None:
            self.bar.set_postfix_str(best, refresh=False)
            self.bar.update(1)
            return
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        state = trial.state.name.lower()
        if state == "complete":
            outcome = f"{self.metric} {trial.value:.6g}"
        elif state == "pruned":
            outcome = f"pruned after epoch {len(trial.intermediate_values)}"
        else:
            outcome = state
        print(f"trial {trial.number} ({count}): {outcome}; {best}", file=sys.stderr, flush=True)


def _best_text(study: Any, metric: str) -> str:
    try:
        best = study.best_trial
    except ValueError:  # no trial complete yet
        return f"best {metric}: none yet"
    return f"best {metric} {best.value:.6g} (trial {best.number})"


def _finish(tune_config: TuneConfig, study: Any, metric: str, direction: str, out_dir: Path,
            save_model: bool) -> TuneResult:
    states = [t.state.name.lower() for t in study.trials]
    if "complete" not in states:
        if not states:
            raise ValueError(f"tune: no trial of study '{study.study_name}' ran: the timeout "
                             "passed before the first one")
        counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states)))
        raise ValueError(f"tune: no trial of study '{study.study_name}' completed ({counts}): "
                         "widen or move the ranges, or set [tune] pruner = \"none\"")
    best = study.best_trial
    try:
        params = {r.name: r.decode(best.params[r.name]) for r in tune_config.ranges}
    except KeyError as err:
        raise ValueError(f"tune: the study's best trial (trial {best.number}) has no value for "
                         f"{err.args[0]!r}: the config's ranges changed since it ran; use "
                         "another study name") from None
    document, _ = tune_config.config(params)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {"config": out_dir / "best_config.toml"}
    header = (f"# The best config of `lamina tune {tune_config.name}`: trial {best.number} of\n"
              f"# study '{study.study_name}', {metric} = {best.value!r}.\n\n")
    files["config"].write_text(header + to_toml(document), encoding="utf-8")
    metrics: dict[str, float] = {}
    if save_model:
        from lamina.workflow.config import load_config

        result = _train(load_config(files["config"]), out_dir / "best_model", [])
        files.update(result.files)
        metrics = {"evaluated_on": result.summary["evaluated_on"], **result.metrics}
        again = result.history.history.get(metric, [math.nan])[-1]
        if not math.isclose(again, best.value, rel_tol=1e-9, abs_tol=1e-12):
            print(f"lamina tune: warning: training the best config again gave {metric} = "
                  f"{again:.6g}, its trial gave {best.value:.6g}", file=sys.stderr)
    return TuneResult(float(best.value), params, document, study, best.number, metric,
                      direction, files, metrics)


def _one_line(err: BaseException) -> str:
    from lamina.workflow.errors import error_message

    return error_message(err)


# --------------------------------------------------------------------------- TOML writing
def to_toml(document: Mapping[str, Any]) -> str:
    """Write a document of config values as TOML (``tomllib`` only reads; ``tomli-w`` writes).

    Args:
        document: str keys to strings, booleans, integers, floats (``inf``/``nan`` too, NumPy
            scalars included), lists and tables of these.

    Returns:
        TOML text that ``tomllib.loads`` reads back as ``document``.

    Raises:
        TypeError: a value of another type (dates, None, objects) or a key that is not a string.
        ImportError: ``tomli-w`` is not installed.

    Example:
        >>> print(to_toml({"optimizer": {"name": "adam", "lr": 0.001},
        ...                "callbacks": {"early_stopping": {"patience": 2}}}), end="")
        [optimizer]
        name = "adam"
        lr = 0.001
        <BLANKLINE>
        [callbacks.early_stopping]
        patience = 2
    """
    try:
        import tomli_w
    except ModuleNotFoundError:
        raise ImportError("writing TOML needs tomli-w: pip install 'lamina[tune]'") from None
    return tomli_w.dumps(_config_value(document))


def _config_value(value: Any) -> Any:
    """``value`` as the plain Python types TOML has (NumPy scalars become int/float)."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_config_value(v) for v in value]
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"to_toml: keys must be strings, received {key!r}")
        return {k: _config_value(v) for k, v in value.items()}
    raise TypeError(f"to_toml: cannot write {type(value).__name__} {value!r} as a config value")
