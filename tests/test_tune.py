"""Tests of lamina.tune and ``lamina tune``: the search space, the TOML writer, the study."""

from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from lamina.config import ConfigError, load_config
from lamina.tune import Range, load_tune_config, search_space, to_toml

optuna = pytest.importorskip("optuna")

from lamina.cli import main  # noqa: E402
from lamina.tune import _TrialReporter, tune  # noqa: E402
from lamina.workflow.training import run_training  # noqa: E402


def _inline_data(n: int = 48, seed: int = 0) -> tuple[str, str]:
    """Two noisy Gaussian blobs as TOML arrays: x rows and y labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.normal(0, 1, (n, 2)).round(3) + 1.5 * y[:, None]
    return (str(x.tolist()), str(y.tolist()))


X, Y = _inline_data()
TUNE_TOML = f"""
[data]
source = "inline"
x = {X}
y = {Y}

[model]
name = "mlp"
hidden = [{{int = [4, 16], step = 4}}]
dropout = {{uniform = [0.0, 0.3]}}

[optimizer]
name = {{choice = ["sgd", "adam"]}}
lr = {{log_uniform = [1e-3, 0.3]}}

[train]
epochs = 2
batch_size = 8
validation_split = 0.25

[output]
plots = false

[tune]
seed = 3
"""


@pytest.fixture
def document() -> dict:
    return tomllib.loads(TUNE_TOML)


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_tune.toml"
    path.write_text(TUNE_TOML)
    return path


# --------------------------------------------------------------------------- the study
def test_best_config_reproduces_best_value(document, tmp_path):
    result = tune(document, 4, out_dir=tmp_path)
    assert len(result.study.trials) == 4
    complete = [t for t in result.study.trials if t.state.name == "COMPLETE"]
    assert result.best_value == min(t.value for t in complete)
    assert set(result.best_params) == {"model.hidden[0]", "model.dropout", "optimizer.name",
                                       "optimizer.lr"}
    written = tomllib.loads((tmp_path / "best_config.toml").read_text())
    assert written == result.best_config
    assert "tune" not in written
    assert search_space(written) == []  # a plain config: no ranges left
    assert written["optimizer"]["lr"] == result.best_params["optimizer.lr"]
    assert written["model"]["hidden"] == [result.best_params["model.hidden[0]"]]

    again = run_training(load_config(tmp_path / "best_config.toml"), tmp_path / "again",
                         progress=False, write_files=False)
    assert again.history.history["val_loss"][-1] == pytest.approx(result.best_value, abs=1e-9)
    assert result.files["model"] == tmp_path / "best_model" / "model.safetensors"
    assert result.files["model"].is_file()
    assert 0 <= result.metrics["accuracy"] <= 1


def test_same_seed_same_trials(document, tmp_path):
    first = tune(document, 3, out_dir=tmp_path / "a", save_model=False)
    second = tune(document, 3, out_dir=tmp_path / "b", save_model=False)
    assert [t.params for t in first.study.trials] == [t.params for t in second.study.trials]
    assert [t.value for t in first.study.trials] == [t.value for t in second.study.trials]
    other = tune(document, 3, out_dir=tmp_path / "c", save_model=False, seed=4)
    assert [t.params for t in other.study.trials] != [t.params for t in first.study.trials]


def test_resumed_study_continues(document, tmp_path):
    storage = f"sqlite:///{tmp_path / 'new' / 'study.db'}"  # the folder is created
    first = tune(document, 2, storage=storage, study_name="resume", out_dir=tmp_path,
                 save_model=False)
    assert len(first.study.trials) == 2
    second = tune(document, 2, storage=storage, study_name="resume", out_dir=tmp_path,
                  save_model=False)
    trials = second.study.trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert trials[2].params != trials[0].params  # the resumed sampler does not repeat itself
    assert second.best_value == min(t.value for t in trials if t.state.name == "COMPLETE")


def test_settings_trials_and_metric(document, tmp_path):
    document["tune"] = {"trials": 2, "metric": "val_accuracy", "pruner": "none"}
    result = tune(document, out_dir=tmp_path, save_model=False)
    assert len(result.study.trials) == 2
    assert result.direction == "maximize"  # accuracy metrics are maximised by default
    assert result.best_value == max(t.value for t in result.study.trials)


def test_unknown_metric_is_an_error(document, tmp_path):
    document["tune"] = {"metric": "val_f2"}
    with pytest.raises(ValueError, match="metric = 'val_f2' is not an epoch log; available: .*"
                                         "val_loss"):
        tune(document, 1, out_dir=tmp_path, save_model=False)


def test_timeout(document, tmp_path):
    result = tune(document, 2, timeout=600, out_dir=tmp_path, save_model=False)
    assert len(result.study.trials) == 2  # n_trials came first
    with pytest.raises(ValueError, match="no trial of study 'lamina-tune' ran: the timeout"):
        tune(document, timeout=1e-9, out_dir=tmp_path, save_model=False)


def test_needs_trials_or_timeout(document, tmp_path):
    with pytest.raises(ValueError, match="give the number of trials"):
        tune(document, out_dir=tmp_path)


class _FakeTrial:
    def __init__(self, prune: bool) -> None:
        self.prune, self.reported = prune, []

    def report(self, value: float, step: int) -> None:
        self.reported.append((step, value))

    def should_prune(self) -> bool:
        return self.prune


def test_trial_callbacks_leave_no_trace_in_the_registry(document, tmp_path):
    from lamina.config import registry

    before = registry.callbacks.names()
    tune(document, 1, out_dir=tmp_path, save_model=False)
    assert registry.callbacks.names() == before


def test_reporter_reports_each_epoch_and_prunes():
    trial = _FakeTrial(prune=False)
    reporter = _TrialReporter(trial, "val_loss", optuna.TrialPruned)
    reporter.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.9})
    reporter.on_epoch_end(1, {"loss": 0.5, "val_loss": 0.4})
    assert trial.reported == [(0, 0.9), (1, 0.4)] and reporter.value == 0.4
    with pytest.raises(optuna.TrialPruned, match="pruned at epoch 1"):
        _TrialReporter(_FakeTrial(prune=True), "val_loss", optuna.TrialPruned).on_epoch_end(
            0, {"val_loss": 0.9})
    with pytest.raises(optuna.TrialPruned, match="val_loss is nan at epoch 3"):
        reporter.on_epoch_end(2, {"val_loss": math.nan})


def test_median_pruner_prunes_a_bad_trial(document, tmp_path):
    # lr choices 1e-6 (learns nothing) and 0.3: after one trial of each, the pruner stops
    # trials that are worse than the median at the same epoch
    document["optimizer"] = {"name": "sgd", "lr": {"choice": [0.3, 1e-6]}}
    document["model"] = {"name": "mlp", "hidden": [8]}
    document["train"]["epochs"] = 4
    document["tune"] = {"startup_trials": 1, "seed": 0}
    result = tune(document, 8, out_dir=tmp_path, save_model=False)
    pruned = [t for t in result.study.trials if t.state.name == "PRUNED"]
    assert pruned and all(t.params["optimizer.lr"] == 1e-6 for t in pruned)
    assert result.best_params == {"optimizer.lr": 0.3}


# --------------------------------------------------------------------------- search space
def test_search_space_names_and_kinds(document):
    ranges = {r.name: r for r in search_space(document)}
    assert list(ranges) == ["model.hidden[0]", "model.dropout", "optimizer.name",
                            "optimizer.lr"]
    assert ranges["model.hidden[0]"] == Range("model.hidden[0]", ("model", "hidden", 0), "int",
                                              4, 16, 4)
    assert ranges["optimizer.name"].choices == ("sgd", "adam")
    assert ranges["optimizer.lr"].examples() == [1e-3, 0.3]


def test_config_tables_are_not_ranges():
    document = {"callbacks": {"early_stopping": {"patience": {"int": [1, 3]}}},
                "train": {"class_weight": {"0": 1.0, "1": {"uniform": [1.0, 3.0]}}}}
    assert [r.name for r in search_space(document)] == [
        "callbacks.early_stopping.patience", "train.class_weight.1"]
    choice = search_space({"train": {"class_weight": {"choice": ["balanced", "none"]}}})
    assert choice[0].kind == "choice"


def test_choice_of_lists_round_trips_through_the_study():
    (r,) = search_space({"model": {"hidden": {"choice": [[8], [8, 8]]}}})
    trial = optuna.trial.FixedTrial({"model.hidden": "[8, 8]"})
    assert r.suggest(trial) == [8, 8]


@pytest.mark.parametrize("spec, message", [
    ({"loguniform": [1e-4, 1e-1]}, r"unknown distribution 'loguniform'; "
                                   r"a range is \{log_uniform = \[low, high\]\}"),
    ({}, "no distribution"),
    ({"uniform": [0.1, 0.2], "int": [1, 2]}, "exactly one distribution, received uniform and int"),
    ({"uniform": [0.2, 0.1]}, r"uniform needs low < high, received \[0.2, 0.1\]"),
    ({"uniform": [0.1, 0.1]}, "low < high"),
    ({"log_uniform": [0, 0.1]}, r"log_uniform needs 0 < low .*received \[0, 0.1\]"),
    ({"log_uniform": [-1.0, 0.1]}, "log_uniform needs 0 < low"),
    ({"uniform": [0.1]}, r"uniform needs \[low, high\], two numbers, received \[0.1\]"),
    ({"uniform": ["a", "b"]}, "two numbers"),
    ({"int": [1.5, 4]}, r"int needs \[low, high\], two integers"),
    ({"int": [1, 10], "step": 4}, "high - low must be a multiple of step"),
    ({"int": [1, 10], "step": 0}, "step must be a positive integer"),
    ({"log_uniform": [1e-3, 1e-1], "step": 0.01}, "step applies to int and uniform"),
    ({"choice": []}, "choice must be a non-empty list"),
    ({"choice": ["sgd", "sgd"]}, "choice lists a value twice"),
])
def test_bad_ranges(spec, message):
    where = r"config error in t\.toml: \[optimizer\] lr: .*"
    with pytest.raises(ConfigError, match=where + message):
        search_space({"optimizer": {"name": "sgd", "lr": spec}}, "t.toml")


def test_range_in_a_list_is_named_by_its_index():
    with pytest.raises(ConfigError, match=r"\[model\] hidden\[1\]: int needs low < high"):
        search_space({"model": {"hidden": [8, {"int": [9, 2]}]}})


@pytest.mark.parametrize("change, message", [
    ({"tune": {"trails": 3}}, "unknown key 'trails' in \\[tune\\]; allowed: trials"),
    ({"tune": {"direction": "down"}}, "\\[tune\\] direction must be \"minimize\" or"),
    ({"tune": {"trials": 0}}, "\\[tune\\] trials must be an integer >= 1"),
    ({"tune": {"pruner": "hyperband"}}, "\\[tune\\] pruner must be"),
    ({"optimizer": {"name": "adam", "lr": 0.1}, "model": {"name": "mlp"}}, "nothing to tune"),
    # checked for every choice before the first trial: Adam has no momentum
    ({"optimizer": {"name": {"choice": ["sgd", "adam"]}, "momentum": 0.9}},
     "unknown key 'momentum' in \\[optimizer\\] \\(name = \"adam\"\\)"),
    ({"train": {"epochs": {"uniform": [1, 3]}}}, "\\[train\\] epochs must be an integer >= 1"),
])
def test_bad_tune_configs(document, change, message):
    document.update(change)
    with pytest.raises(ConfigError, match=message):
        load_tune_config(document)


def test_relative_paths_become_absolute(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "d.npz", x_train=np.zeros((4, 2)), y_train=np.array([0, 1, 0, 1]))
    config = tmp_path / "c.toml"
    config.write_text('[data]\nsource = "npz"\npath = "data/d.npz"\n[model]\nname = "mlp"\n'
                      '[optimizer]\nlr = {uniform = [0.1, 0.2]}\n')
    loaded = load_tune_config(config)
    assert loaded.document["data"]["path"] == str((data / "d.npz").resolve())


# --------------------------------------------------------------------------- TOML writer
def test_to_toml_round_trips():
    document = {
        "data": {"source": "inline", "x": [[0.5, -1e-05], [1e16, 3.0]] * 30, "y": list(range(60)),
                 "text": 'quote " back \\ tab \t newline \n del \x7f é', "flag": False},
        "model": {"hidden": [], "weird key": 1, "inf": math.inf, "ninf": -math.inf},
        "callbacks": {"early_stopping": {"patience": 2, "nested": {"a": [1, [2, "b"]]}},
                      "checkpoint": {}},
    }
    text = to_toml(document)
    assert tomllib.loads(text) == document
    assert max(len(line) for line in text.splitlines()) <= 100
    assert math.isnan(tomllib.loads(to_toml({"t": {"v": math.nan}}))["t"]["v"])
    assert tomllib.loads(to_toml({"t": {"i": np.int64(3), "f": np.float32(0.5)}})) == {
        "t": {"i": 3, "f": 0.5}}


def test_to_toml_rejects_other_types():
    with pytest.raises(TypeError, match="to_toml: cannot write NoneType"):
        to_toml({"t": {"v": None}})


# --------------------------------------------------------------------------- the command
def _one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lamina: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_cli_writes_best_config_into_the_current_directory(config_file, tmp_path, monkeypatch,
                                                          capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", str(config_file), "--trials", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "study 'tiny_tune': 2 trials" in out
    best = next(line for line in out.splitlines() if line.startswith("best val_loss: "))
    assert "(trial " in best
    assert "  optimizer.lr = " in out
    assert (tmp_path / "best_config.toml").is_file()
    assert (tmp_path / "best_model" / "model.safetensors").is_file()
    assert main(["train", "best_config.toml", "--quiet", "--out", "run"]) == 0


def test_cli_out_storage_and_progress_lines(config_file, tmp_path, capsys):
    out = tmp_path / "out"
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    for expected in (1, 2):
        assert main(["tune", str(config_file), "--trials", "1", "--out", str(out),
                     "--storage", storage, "--study-name", "s"]) == 0
        captured = capsys.readouterr()
        assert f"study 's': {expected} trials" in captured.out
        assert f"trial {expected - 1} (1/1): val_loss " in captured.err
    assert (out / "best_config.toml").is_file()


@pytest.mark.parametrize("text, fragments", [
    ("[model\nname = 1", ["config error in bad.toml: invalid TOML"]),
    (TUNE_TOML.replace("log_uniform", "loguniform"),
     ["[optimizer] lr: unknown distribution 'loguniform'"]),
    (TUNE_TOML.replace("[1e-3, 0.3]", "[0.0, 0.3]"), ["log_uniform needs 0 < low"]),
    (TUNE_TOML.replace('source = "inline"', 'source = "inlined"'), ["unknown source 'inlined'"]),
])
def test_cli_config_errors_are_one_line(tmp_path, capsys, text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["tune", str(path), "--trials", "1", "--out", str(tmp_path)]) == 2
    _one_line_error(capsys.readouterr().err, *fragments)


def test_cli_missing_file_and_bad_options(tmp_path, config_file, capsys):
    assert main(["tune", str(tmp_path / "nope.toml"), "--trials", "1"]) == 2
    _one_line_error(capsys.readouterr().err, "nope.toml", "no such file")
    assert main(["tune", str(config_file), "--trials", "0"]) == 2
    _one_line_error(capsys.readouterr().err, "--trials must be > 0")
    assert main(["tune", str(config_file), "--trials", "1", "--seed", "-1"]) == 2
    _one_line_error(capsys.readouterr().err, "seed must be an integer >= 0, received -1")
    assert main(["tune", str(config_file), "--out", str(tmp_path)]) == 2
    _one_line_error(capsys.readouterr().err, "give the number of trials")
    assert main(["tune", str(config_file), "--trials", "1", "--storage", "nosuch://x"]) == 2
    _one_line_error(capsys.readouterr().err, "cannot open study 'tiny_tune'")


def test_cli_without_optuna(config_file, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    assert main(["tune", str(config_file), "--trials", "1"]) == 2
    _one_line_error(capsys.readouterr().err,
                    "lamina tune needs optuna: pip install 'lamina[tune]'")


def test_a_diverging_trial_is_pruned(document, tmp_path, monkeypatch):
    import lamina.tune
    from lamina.workflow.training import TrainingDiverged

    def diverge(config, out_dir, callbacks):
        raise TrainingDiverged("training diverged: fit: the loss is nan at epoch 1, batch 1")

    monkeypatch.setattr(lamina.tune, "_train", diverge)
    with pytest.raises(ValueError, match=r"no trial of study 'lamina-tune' completed \(2 pruned\)"):
        tune(document, 2, out_dir=tmp_path, save_model=False)
