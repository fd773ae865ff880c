"""TOML configs: strict validation with one-line errors, the registry, path resolution."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

import lamina.workflow.config
from lamina.config import ConfigError, Registry, load_config, parse_config, registry

BASE = '[data]\nsource = "mnist"\n[model]\nname = "mlp"\n'


def test_doctests():
    assert doctest.testmod(lamina.workflow.config).failed == 0


def test_defaults_are_filled_in():
    config = parse_config(BASE)
    assert config["optimizer"] == {"name": "adam"}
    assert config["loss"] == {"name": "cross_entropy"}
    assert config["scheduler"] == {}
    assert config["train"] == {"epochs": 10, "batch_size": 32, "seed": 0,
                               "validation_split": 0.0, "shuffle": True,
                               "metrics": ["accuracy"], "class_weight": "none"}
    assert config["output"] == {"dir": None, "model": "model.safetensors", "plots": True}
    assert config.options("model") == {}
    assert config.factory("model").name == "mlp"


@pytest.mark.parametrize("extra, message", [
    ('[optimizer]\nname = "sgd"\nlrr = 0.1',
     "config error in c.toml: unknown key 'lrr' in [optimizer] (name = \"sgd\"); allowed: "
     "name, lr, momentum, dampening, nesterov, weight_decay, maximize"),
    ("[optimizer]\nlr = '0.1'",
     "config error in c.toml: [optimizer] (name = \"adam\") lr must be a number, received "
     "string '0.1'"),
    ("[trian]\nepochs = 1",
     "config error in c.toml: unknown table [trian]; allowed: data, model, loss, optimizer, "
     "scheduler, train, callbacks, output"),
    ("[train]\nepochs = 0",
     "config error in c.toml: [train] epochs must be an integer >= 1, received integer 0"),
    ("[train]\nvalidation_split = 1.5",
     "config error in c.toml: [train] validation_split must be a number in [0, 1), received "
     "number 1.5"),
    ("[train]\nepoch = 3",
     "config error in c.toml: unknown key 'epoch' in [train]; allowed: epochs, batch_size, "
     "seed, validation_split, shuffle, metrics, class_weight"),
    ('[scheduler]\nname = "step"',
     "config error in c.toml: [scheduler] (name = \"step\") needs key 'step_size'"),
    ('[loss]\nname = "hinge"',
     "config error in c.toml: unknown name 'hinge' in [loss]; registered: cross_entropy"),
    ("[callbacks]\nearly_stop = true",
     "config error in c.toml: unknown key 'early_stop' in [callbacks]; allowed: checkpoint, "
     "csv_logger, early_stopping"),
    ("[callbacks]\nearly_stopping = { patiance = 2 }",
     "config error in c.toml: unknown key 'patiance' in [callbacks.early_stopping]; allowed: "
     "monitor, patience, min_delta, mode, restore_best_weights"),
    ("[callbacks]\nearly_stopping = 3",
     "config error in c.toml: [callbacks] early_stopping must be true, false or a table of "
     "options, received integer 3"),
])
def test_errors_name_the_table_the_key_and_what_is_allowed(extra, message):
    with pytest.raises(ConfigError) as err:
        parse_config(BASE + extra, name="c.toml")
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_a_table_that_is_not_a_table():
    with pytest.raises(ConfigError, match=r"'optimizer' must be a table \[optimizer\], "
                                          "received integer 3"):
        parse_config("optimizer = 3\n" + BASE)


def test_missing_tables_and_selectors():
    with pytest.raises(ConfigError, match=r"missing table \[data\]"):
        parse_config('[model]\nname = "mlp"')
    with pytest.raises(ConfigError, match=r"\[model\] needs name = one of 'layers', 'lenet5', "
                                          r"'mlp', 'vgg'"):
        parse_config('[data]\nsource = "mnist"\n[model]\nhidden = [3]')
    with pytest.raises(ConfigError, match=r"\[data\] \(source = \"csv\"\) needs key 'path'"):
        parse_config('[data]\nsource = "csv"\n[model]\nname = "mlp"')


def test_malformed_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nsource = 'mnist'")
    with pytest.raises(ConfigError, match=r"config error in bad.toml: invalid TOML: "):
        load_config(bad)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_config(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        load_config(binary)


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    folder = tmp_path / "configs"
    folder.mkdir()
    path = folder / "c.toml"
    path.write_text('[data]\nsource = "csv"\npath = "../data/x.csv"\nlabel = "y"\n'
                    '[model]\nname = "mlp"\n[output]\ndir = "out"\n')
    config = load_config(path)
    assert Path(config["data"]["path"]) == tmp_path / "data" / "x.csv"
    assert Path(config["output"]["dir"]) == folder / "out"
    absolute = tmp_path / "abs.csv"
    path.write_text(f'[data]\nsource = "csv"\npath = "{absolute}"\nlabel = "y"\n'
                    '[model]\nname = "mlp"\n')
    assert Path(load_config(path)["data"]["path"]) == absolute


def test_callbacks_true_false_and_tables():
    config = parse_config(BASE + "[callbacks]\nearly_stopping = true\ncheckpoint = false\n"
                          "csv_logger = { filename = 'x.csv' }")
    assert config["callbacks"] == {"early_stopping": {}, "csv_logger": {"filename": "x.csv"}}


def test_override_is_checked():
    config = parse_config(BASE, name="c.toml")
    config.override("train", "epochs", 2)
    assert config["train"]["epochs"] == 2
    with pytest.raises(ConfigError, match=r"\[train\] epochs must be an integer >= 1"):
        config.override("train", "epochs", -1)
    config.override("optimizer", "lr", 0.5)
    assert config["optimizer"] == {"name": "adam", "lr": 0.5}
    with pytest.raises(ConfigError, match="unknown key 'lrr'"):
        config.override("optimizer", "lrr", 0.5)


def test_a_registered_factory_can_be_named_in_a_config():
    @registry.models.register("tiny_test_model", inject=("input_shape", "num_classes"))
    def tiny(width: int = 4, *, input_shape, num_classes):
        return ("tiny", width, input_shape, num_classes)

    config = parse_config('[data]\nsource = "mnist"\n[model]\nname = "tiny_test_model"\n'
                          "width = 8")
    factory = config.factory("model")
    assert factory.resolve()(**config.options("model"), input_shape=(3,), num_classes=2) == \
        ("tiny", 8, (3,), 2)
    with pytest.raises(ConfigError, match="allowed: name, width"):
        parse_config('[data]\nsource = "mnist"\n[model]\nname = "tiny_test_model"\n'
                     "input_shape = [3]")


def test_registry_lookup_errors_and_lazy_targets():
    reg = Registry("thing")
    reg.register("sgd", "lamina.optim:SGD", inject=("params",))
    assert reg.names() == ["sgd"] and "sgd" in reg
    assert "lr" in reg.get("sgd").parameters()
    assert "params" not in reg.get("sgd").parameters()
    with pytest.raises(KeyError, match="no thing named 'adam'; registered: sgd"):
        reg.get("adam")


def test_every_registered_factory_resolves():
    for kind in ("data", "models", "losses", "optimizers", "schedulers", "callbacks"):
        reg = getattr(registry, kind)
        for name in reg.names():
            assert callable(reg.get(name).resolve()), (kind, name)
            reg.get(name).parameters()
