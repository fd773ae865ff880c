"""Fixtures for the CLI tests: tiny configs and models trained once per session."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lamina.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
PENGUINS = EXAMPLES / "data" / "synthetic_penguins.csv"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TINY_MNIST = """
[data]
source = "mnist"
subset = "small"
max_train = 300
max_test = 100

[model]
name = "{model}"

[optimizer]
name = "adam"
lr = 0.002

[train]
epochs = 1
batch_size = 32
validation_split = 0.1

[callbacks]
early_stopping = {{ patience = 1 }}
checkpoint = true
"""


@dataclass
class Run:
    """A finished ``lamina.cli.main`` call."""

    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """``cli("train", "x.toml")`` runs the command in-process and returns a :class:`Run`."""

    def run(*argv: str) -> Run:
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def run_module(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m lamina ARGV`` in a fresh interpreter, as a new user would run it."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("LAMINA_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "lamina", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def assert_one_line_error(err: str, *fragments: str) -> None:
    """stderr is one ``lamina: error:`` line naming every fragment, and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lamina: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), path
    assert len(data) > 1000, path


def _train(tmp: Path, name: str, config_text: str | None, config: Path | None = None,
           *extra: str) -> Path:
    if config is None:
        config = tmp / f"{name}.toml"
        config.write_text(config_text)
    out = tmp / name
    code = main(["train", str(config), "--out", str(out), "--quiet", *extra])
    assert code == 0
    return out


@pytest.fixture(scope="session")
def mnist_run(tmp_path_factory) -> Path:
    """The output directory of a LeNet-5 trained for one epoch on 270 MNIST images."""
    tmp = tmp_path_factory.mktemp("mnist")
    return _train(tmp, "lenet5", TINY_MNIST.format(model="lenet5"))


@pytest.fixture(scope="session")
def tabular_run(tmp_path_factory) -> Path:
    """The output directory of the shipped tabular example, trained for 3 epochs."""
    pytest.importorskip("pandas")
    tmp = tmp_path_factory.mktemp("tabular")
    return _train(tmp, "tabular", None, EXAMPLES / "configs" / "tabular_csv.toml",
                  "--epochs", "3")


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> dict[str, Path]:
    """Three MNIST test digits as 28x28 grayscale PNGs, one 32x32 PNG, an RGB one, an npz."""
    image = pytest.importorskip("PIL.Image")
    import lamina as lm

    tmp = tmp_path_factory.mktemp("digits")
    _, (x, y) = lm.datasets.mnist(subset="small")
    paths = {}
    for i in range(3):
        paths[f"digit{i}"] = tmp / f"digit{i}_label{y[i]}.png"
        image.fromarray(x[i]).save(paths[f"digit{i}"])
    paths["big"] = tmp / "big.png"
    image.fromarray(np.zeros((32, 32), np.uint8)).save(paths["big"])
    paths["rgb"] = tmp / "rgb.png"
    image.fromarray(np.stack([x[0]] * 3, axis=-1)).save(paths["rgb"])
    paths["npz"] = tmp / "test.npz"
    np.savez(paths["npz"], x_test=x[:40], y_test=y[:40])
    return paths
