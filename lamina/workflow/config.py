"""Training configs: TOML files that name registered factories (thinc's registry, simplified).

A config has one table per part of a training run. ``[data]``, ``[model]``, ``[loss]``,
``[optimizer]`` and ``[scheduler]`` each pick a factory from a registry by name (``source`` for
data, ``name`` for the others); the table's other keys are the factory's keyword arguments, so
the keys a table allows are exactly the factory's parameters. ``[callbacks]`` maps callback names
to their options (or ``true``), ``[train]`` and ``[output]`` have fixed keys::

    [data]
    source = "mnist"
    subset = "small"

    [model]
    name = "mlp"
    hidden = [128]

    [optimizer]
    name = "sgd"
    lr = 0.1
    momentum = 0.9

    [train]
    epochs = 5

    [callbacks]
    early_stopping = { patience = 2 }

Everything is checked before anything runs: an unknown table or key, a missing required key or a
value of the wrong type raises one :class:`ConfigError` line naming the file, the table, the key
and what is allowed. Relative paths in a config resolve against the config file's directory.

Register your own factory and name it in a config::

    from lamina.config import registry

    @registry.models.register("tiny", inject=("input_shape", "num_classes"))
    def tiny(width: int = 16, *, input_shape, num_classes):
        ...

``inject`` lists arguments the runner supplies (here from the data), never the config.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Config", "ConfigError", "Factory", "Registry", "load_config", "parse_config", "registry",
]


class ConfigError(ValueError):
    """A config is malformed or names something unknown; ``str()`` is one readable line."""


# --------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Factory:
    """One registered factory.

    Attributes:
        name: the name a config uses.
        target: the callable, or ``"module:attribute"`` imported on first use (keeps
            ``import lamina.config`` cheap and free of optional dependencies).
        inject: parameters the runner passes (``params``, ``input_shape``, ...); a config may not.
        paths: parameters holding file paths, resolved against the config's directory.
    """

    name: str
    target: Callable[..., Any] | str
    inject: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()

    def resolve(self) -> Callable[..., Any]:
        """The callable itself (imported if ``target`` is a string)."""
        if callable(self.target):
            return self.target
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The config-settable parameters: the signature minus ``inject`` and ``*args/**kw``."""
        signature = inspect.signature(self.resolve())
        return {
            name: p for name, p in signature.parameters.items()
            if name not in self.inject and name != "self"
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }


class Registry:
    """Named factories of one kind (models, losses, optimizers, ...).

    Args:
        kind: what the factories build, for messages (``"model"``).

    Example:
        >>> models = Registry("model")
        >>> @models.register("linear", inject=("num_classes",))
        ... def linear(bias: bool = True, *, num_classes: int):
        ...     return ("linear", bias, num_classes)
        >>> models.get("linear").resolve()(num_classes=3)
        ('linear', True, 3)
        >>> models.names()
        ['linear']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Factory] = {}

    def register(
        self,
        name: str,
        target: Callable[..., Any] | str | None = None,
        *,
        inject: tuple[str, ...] = (),
        paths: tuple[str, ...] = (),
    ) -> Any:
        """Register ``target`` under ``name``; without ``target``, return a decorator.

        Args:
            name: the name configs use; registering a name again replaces the factory.
            target: a callable or ``"module:attribute"``.
            inject: parameters supplied by the runner rather than the config.
            paths: parameters that hold file paths.

        Returns:
            ``target`` (or a decorator that registers and returns its function).
        """
        if target is None:
            def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
                self.register(name, func, inject=inject, paths=paths)
                return func
            return decorator
        self._factories[name] = Factory(name, target, tuple(inject), tuple(paths))
        return target

    def get(self, name: str) -> Factory:
        """The factory registered as ``name``.

        Raises:
            KeyError: no factory has that name (the message lists the registered ones).
        """
        try:
            return self._factories[name]
        except KeyError:
            raise KeyError(
                f"no {self.kind} named {name!r}; registered: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories


class _Registries:
    """The registries a config's tables draw from: ``registry.models`` etc."""

    def __init__(self) -> None:
        self.data = Registry("data source")
        self.models = Registry("model")
        self.losses = Registry("loss")
        self.optimizers = Registry("optimizer")
        self.schedulers = Registry("scheduler")
        self.callbacks = Registry("callback")


registry = _Registries()

_OPT = "lamina.optim"
for _name, _class in (("sgd", "SGD"), ("adam", "Adam"), ("adamw", "AdamW"),
                      ("rmsprop", "RMSprop"), ("adagrad", "Adagrad")):
    registry.optimizers.register(_name, f"{_OPT}:{_class}", inject=("params",))
for _name, _class in (("step", "StepLR"), ("multistep", "MultiStepLR"),
                      ("exponential", "ExponentialLR"), ("cosine", "CosineAnnealingLR"),
                      ("plateau", "ReduceLROnPlateau")):
    registry.schedulers.register(_name, f"{_OPT}.lr_scheduler:{_class}",
                                 inject=("optimizer", "last_epoch"))
_FACTORIES = "lamina.workflow.factories"
for _name in ("lenet5", "mlp", "vgg", "layers"):
    registry.models.register(_name, f"{_FACTORIES}:{_name}",
                             inject=("input_shape", "num_classes"))
registry.losses.register("cross_entropy", f"{_FACTORIES}:cross_entropy")
registry.callbacks.register("early_stopping", f"{_FACTORIES}:early_stopping")
registry.callbacks.register("checkpoint", f"{_FACTORIES}:checkpoint", inject=("out_dir",))
registry.callbacks.register("csv_logger", f"{_FACTORIES}:csv_logger", inject=("out_dir",))
_INPUTS = "lamina.workflow.sources"
registry.data.register("mnist", f"{_INPUTS}:mnist_source", inject=("seed",), paths=("path",))
registry.data.register("npz", f"{_INPUTS}:npz_source", inject=("seed",), paths=("path",))
registry.data.register("csv", f"{_INPUTS}:csv_source", inject=("seed",), paths=("path",))
registry.data.register("inline", f"{_INPUTS}:inline_source", inject=("seed",))


# --------------------------------------------------------------------------- fixed tables
def _int_at_least(low: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            return f"an integer >= {low}"
        return None
    return check


def _fraction(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        return "a number in [0, 1)"
    return None


def _metric_list(value: Any) -> str | None:
    # the classification metrics lm.fit logs per epoch (lamina.train.loop.resolve_metrics)
    if not isinstance(value, list) or not all(v in ("accuracy", "acc") for v in value):
        return 'a list of metric names: [] or ["accuracy"]'
    return None


def _class_weight(value: Any) -> str | None:
    if value == "balanced" or value == "none":
        return None
    if isinstance(value, dict) and all(
        isinstance(w, (int, float)) and not isinstance(w, bool) and w >= 0
        for w in value.values()
    ):
        return None
    return '"balanced", "none" or a table {class = weight}'


def _of_type(kind: type, text: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        return None if ok else text
    return check


# table -> key -> (check, default)
_FIXED: dict[str, dict[str, tuple[Callable[[Any], str | None], Any]]] = {
    "train": {
        "epochs": (_int_at_least(1), 10),
        "batch_size": (_int_at_least(1), 32),
        "seed": (_int_at_least(0), 0),
        "validation_split": (_fraction, 0.0),
        "shuffle": (_of_type(bool, "true or false"), True),
        "metrics": (_metric_list, ["accuracy"]),
        "class_weight": (_class_weight, "none"),
    },
    "output": {
        "dir": (_of_type(str, "a directory path (string)"), None),
        "model": (_of_type(str, "a file name (string)"), "model.safetensors"),
        "plots": (_of_type(bool, "true or false"), True),
    },
}

# table -> (registry attribute, selector key, default name or None when required)
_FACTORY_TABLES: dict[str, tuple[str, str, str | None]] = {
    "data": ("data", "source", None),
    "model": ("models", "name", None),
    "loss": ("losses", "name", "cross_entropy"),
    "optimizer": ("optimizers", "name", "adam"),
    "scheduler": ("schedulers", "name", None),
}
_OPTIONAL_TABLES = ("loss", "optimizer", "scheduler", "callbacks", "train", "output")
TABLES = ("data", "model", "loss", "optimizer", "scheduler", "train", "callbacks", "output")


# --------------------------------------------------------------------------- config
@dataclass
class Config:
    """A validated config: one dict per table, defaults filled in, paths resolved.

    Attributes:
        name: the file name used in messages (``"mnist_mlp.toml"``).
        base_dir: the directory relative paths resolve against.
        tables: table name -> its options (``{"name": "sgd", "lr": 0.1}``); ``scheduler`` is
            ``{}`` when absent; ``callbacks`` maps each enabled callback to its options.
        raw: the TOML document as parsed (before defaults and overrides).
    """

    name: str
    base_dir: Path
    tables: dict[str, dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, table: str) -> dict[str, Any]:
        return self.tables[table]

    def to_dict(self) -> dict[str, Any]:
        """The effective config (defaults filled in, paths resolved, overrides applied)."""
        return copy.deepcopy({table: options for table, options in self.tables.items()
                              if options or table != "scheduler"})

    def error(self, message: str) -> ConfigError:
        """A :class:`ConfigError` that starts with ``config error in NAME:``."""
        return ConfigError(f"config error in {self.name}: {message}")

    def override(self, table: str, key: str, value: Any) -> None:
        """Set ``[table] key = value`` (e.g. ``--epochs`` on the command line), checked.

        Raises:
            ConfigError: unknown table/key or a value of the wrong type.
        """
        if table in _FIXED:
            _check_fixed(self, table, {key: value})
            self.tables[table][key] = value
            return
        options = dict(self.tables[table], **{key: value})
        self.tables[table] = _check_factory_table(self, table, options)

    def factory(self, table: str) -> Factory:
        """The factory a ``[data]``/``[model]``/... table selects."""
        attribute, selector, _ = _FACTORY_TABLES[table]
        return getattr(registry, attribute).get(self.tables[table][selector])

    def options(self, table: str) -> dict[str, Any]:
        """The keyword arguments for the table's factory (the table minus its selector)."""
        selector = _FACTORY_TABLES[table][1]
        return {k: v for k, v in self.tables[table].items() if k != selector}


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate a TOML config file.

    Args:
        path: the ``.toml`` file; relative paths inside resolve against its directory.

    Returns:
        The validated :class:`Config`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: the file is not valid TOML, or a table or key is unknown, missing or has
            the wrong type.
    """
    file = Path(path)
    if not file.is_file():
        kind = "is a directory" if file.is_dir() else "no such file"
        raise FileNotFoundError(f"config file '{file}': {kind}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config error in {file.name}: not a UTF-8 text file ({err})") from None
    return parse_config(text, name=file.name, base_dir=file.resolve().parent)


def parse_config(
    text: str, name: str = "<config>", base_dir: str | os.PathLike[str] = "."
) -> Config:
    """Parse and validate a config given as TOML text.

    Args:
        text: the TOML document.
        name: how messages name the config.
        base_dir: the directory relative paths resolve against.

    Returns:
        The validated :class:`Config`.

    Raises:
        ConfigError: invalid TOML, or an unknown, missing or mistyped table or key.

    Example:
        >>> cfg = parse_config('[data]\\nsource = "mnist"\\n[model]\\nname = "lenet5"')
        >>> cfg["optimizer"], cfg["train"]["epochs"]
        ({'name': 'adam'}, 10)
        >>> try:
        ...     parse_config('[data]\\nsource = "mnist"\\n[model]\\nname = "mlp"\\nhiden = 64')
        ... except ConfigError as err:
        ...     print(err)  # doctest: +ELLIPSIS
        config error in <config>: unknown key 'hiden' in [model] (name = "mlp"); allowed: name, ...
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config error in {name}: invalid TOML: {err}") from None
    config = Config(name=name, base_dir=Path(base_dir).resolve(), tables={}, raw=raw)
    for table, value in raw.items():
        if table not in TABLES:
            raise config.error(f"unknown table [{table}]; allowed: {', '.join(TABLES)}")
        if not isinstance(value, dict):
            raise config.error(f"'{table}' must be a table [{table}], received {_show(value)}")
    for table in TABLES:
        if table not in raw and table not in _OPTIONAL_TABLES:
            raise config.error(f"missing table [{table}]")
        options = dict(raw.get(table, {}))
        if table in _FIXED:
            config.tables[table] = _check_fixed(config, table, options)
        elif table == "callbacks":
            config.tables[table] = _check_callbacks(config, options)
        elif table == "scheduler" and not options:
            config.tables[table] = {}
        else:
            config.tables[table] = _check_factory_table(config, table, options)
    return config


def _check_fixed(config: Config, table: str, options: dict[str, Any]) -> dict[str, Any]:
    schema = _FIXED[table]
    for key, value in options.items():
        if key not in schema:
            raise config.error(
                f"unknown key '{key}' in [{table}]; allowed: {', '.join(schema)}"
            )
        expected = schema[key][0](value)
        if expected is not None:
            raise config.error(f"[{table}] {key} must be {expected}, received {_show(value)}")
    out = {key: default for key, (_, default) in schema.items()}
    out.update(options)
    if table == "output" and out["dir"] is not None:
        out["dir"] = str(_resolve(config, out["dir"]))
    return out


def _check_factory_table(config: Config, table: str, options: dict[str, Any]) -> dict[str, Any]:
    attribute, selector, default = _FACTORY_TABLES[table]
    reg: Registry = getattr(registry, attribute)
    chosen = options.get(selector, default)
    if chosen is None:
        raise config.error(
            f"[{table}] needs {selector} = one of {', '.join(map(repr, reg.names()))}"
        )
    if not isinstance(chosen, str) or chosen not in reg:
        shown = repr(chosen) if isinstance(chosen, str) else _show(chosen)
        raise config.error(
            f"unknown {selector} {shown} in [{table}]; registered: "
            f"{', '.join(reg.names())}"
        )
    factory = reg.get(chosen)
    where = f'[{table}] ({selector} = "{chosen}")'
    checked = _check_arguments(config, factory, where, {k: v for k, v in options.items()
                                                        if k != selector}, selector)
    return {selector: chosen, **checked}


def _check_callbacks(config: Config, options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    enabled = {}
    for key, value in options.items():
        if key not in registry.callbacks:
            raise config.error(
                f"unknown key '{key}' in [callbacks]; allowed: "
                f"{', '.join(registry.callbacks.names())}"
            )
        if value is False:
            continue
        if value is True:
            value = {}
        if not isinstance(value, dict):
            raise config.error(
                f"[callbacks] {key} must be true, false or a table of options, received "
                f"{_show(value)}"
            )
        factory = registry.callbacks.get(key)
        enabled[key] = _check_arguments(config, factory, f"[callbacks.{key}]", value, None)
    return enabled


def _check_arguments(
    config: Config, factory: Factory, where: str, options: dict[str, Any], selector: str | None
) -> dict[str, Any]:
    """Check ``options`` against the factory's signature: names, required keys, value types."""
    parameters = factory.parameters()
    for key, value in options.items():
        if key not in parameters:
            allowed = ([selector] if selector else []) + list(parameters)
            raise config.error(
                f"unknown key '{key}' in {where}; allowed: {', '.join(allowed)}"
            )
        expected = _expected_type(parameters[key], value)
        if expected is not None:
            raise config.error(f"{where} {key} must be {expected}, received {_show(value)}")
    for key, p in parameters.items():
        if p.default is inspect.Parameter.empty and key not in options:
            raise config.error(f"{where} needs key '{key}'")
    out = dict(options)
    for key in factory.paths:
        if isinstance(out.get(key), str):
            out[key] = str(_resolve(config, out[key]))
    return out


def _expected_type(parameter: inspect.Parameter, value: Any) -> str | None:
    """What a value must be, judged by the parameter's default; None when ``value`` fits."""
    default = parameter.default
    if default is inspect.Parameter.empty or default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "a number"
        if isinstance(default, int) and not isinstance(value, int) and not isinstance(
            default, bool
        ) and _annotation_is_int(parameter):
            return "an integer"
        return None
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    if isinstance(default, (tuple, list)):
        return None if isinstance(value, list) else "a list"
    return None


def _annotation_is_int(parameter: inspect.Parameter) -> bool:
    annotation = parameter.annotation
    return annotation is int or annotation == "int"


def _resolve(config: Config, path: str) -> Path:
    expanded = Path(path).expanduser()
    return Path(os.path.normpath(config.base_dir / expanded))


def _show(value: Any) -> str:
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", list: "list",
             dict: "table"}
    kind = kinds.get(type(value), type(value).__name__)
    text = repr(value) if not isinstance(value, Mapping) else "{...}"
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{kind} {text}"
