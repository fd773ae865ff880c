"""`lamina experiments list|run` (lamina/cli/experiments.py)."""

from lamina.cli import main
from lamina.cli.experiments import run_cli
from lamina.experiments import claims, names


def test_list_prints_name_two_spaces_claim(capsys):
    assert main(["experiments", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{name}  {claim}" for name, claim in claims().items()]
    assert [line.split("  ", 1)[0] for line in lines] == names()


def test_run_quick_prints_the_conclusion_and_writes_a_png(tmp_path, capsys):
    status = main(["experiments", "run", "metrics-imbalance", "--quick", "--out", str(tmp_path),
                   "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert out.startswith("metrics-imbalance: ")
    assert "conclusion: " in out and "claim holds: yes" in out
    assert list(tmp_path.glob("*.png"))


def test_unknown_experiment_is_a_user_error(capsys):
    assert run_cli(["run", "nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'nope'" in err and "capacity" in err


def test_an_action_is_required(capsys):
    assert run_cli([]) == 2
    assert "ACTION" in capsys.readouterr().err
