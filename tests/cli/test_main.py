"""The ``lamina`` entry point: commands, --help, error lines, exit codes, ``python -m lamina``."""

from __future__ import annotations

import doctest

import pytest

import lamina.cli
from lamina.cli import COMMANDS, Command, error_message, main

from .conftest import PENGUINS, TINY_MNIST, assert_one_line_error, assert_png, run_module

BUILT_IN = ("train", "evaluate", "predict", "summary", "inspect")


def test_doctests():
    assert doctest.testmod(lamina.cli).failed == 0


def test_top_level_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command.name in out


@pytest.mark.parametrize("command", BUILT_IN)
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lamina {command}")
    assert "--help" in out


def test_missing_command_and_unknown_command_are_one_line(cli):
    for argv in ([], ["bogus"], ["train"], ["predict", "--format", "xml", "m", "x"]):
        run = cli(*argv)
        assert run.code == 2
        assert_one_line_error(run.err)
    assert "invalid choice: 'bogus'" in cli("bogus").err


def test_command_whose_module_is_missing(cli, monkeypatch):
    fake = Command("later", "a command not written yet", "lamina.cli.not_written_yet")
    monkeypatch.setattr(lamina.cli, "COMMANDS", (*COMMANDS, fake))
    run = cli("later", "some", "args")
    assert run.code == 2
    assert_one_line_error(run.err, "'lamina later' is not available yet")


def test_user_error_is_one_line_exit_2(cli, tmp_path):
    run = cli("train", tmp_path / "missing.toml")
    assert run.code == 2
    assert_one_line_error(run.err, "missing.toml", "no such file")


def test_internal_error_is_one_line_exit_1_and_debug_shows_traceback(cli, monkeypatch):
    def broken(args):
        raise ZeroDivisionError("a bug")

    import lamina.cli.inspect_data as module

    monkeypatch.setattr(module, "run", broken)
    run = cli("inspect", "x.csv")
    assert run.code == 1
    assert run.err.startswith("lamina: internal error: ZeroDivisionError: a bug")
    assert "LAMINA_DEBUG=1" in run.err and "Traceback" not in run.err
    monkeypatch.setenv("LAMINA_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["inspect", "x.csv"])


def test_error_message_flattens_lines_and_errno():
    assert error_message(FileNotFoundError(2, "No such file or directory", "a.csv")) == \
        "No such file or directory: 'a.csv'"
    assert error_message(ValueError("first\n  - second\n  - third")) == "first second third"
    assert error_message(KeyError("no array named 'x'")) == "no array named 'x'"


def test_python_dash_m_lamina_help_and_version():
    result = run_module("--help")
    assert result.returncode == 0
    assert "train" in result.stdout and "inspect" in result.stdout
    result = run_module("--version")
    assert result.returncode == 0 and result.stdout.startswith("lamina ")


def test_python_dash_m_lamina_as_a_new_user(tmp_path):
    """train -> evaluate -> predict -> summary -> inspect in fresh interpreters, no traceback."""
    pytest.importorskip("matplotlib")
    config = tmp_path / "mlp.toml"
    config.write_text(TINY_MNIST.format(model="mlp"))
    result = run_module("train", config, "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "runs" / "mlp"  # the default output directory: runs/<config name>
    assert result.stdout.strip().splitlines()[-1].startswith("test accuracy: ")
    for name in ("learning_curves.png", "confusion_matrix.png"):
        assert_png(out / name)
    result = run_module("evaluate", out / "model.safetensors", "mnist-small")
    assert result.returncode == 0, result.stderr
    assert "accuracy:" in result.stdout and "confusion matrix" in result.stdout

    result = run_module("evaluate", out / "model.safetensors", tmp_path / "nope.npz")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "nope.npz")
    result = run_module("inspect", PENGUINS, "--label", "no_such_column")
    assert result.returncode == 2
    assert_one_line_error(result.stderr, "no_such_column")
