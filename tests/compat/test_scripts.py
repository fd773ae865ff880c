"""The compat corpus: published PyTorch scripts run on lamina with only their imports rewritten.

For every entry of ``../shared/compat/MANIFEST.toml``: copy the script to a scratch directory,
apply the manifest's ``shorten`` substitutions, rewrite the import lines
(``corpus.rewrite_imports``, nothing else), provide MNIST in torchvision's layout at the entry's
``data_root``, run it with ``MPLBACKEND=Agg`` under a timeout, and check that it exits 0 and
learns (the manifest's ``learns``, one checker per script below). Entries in ``SLOW`` run only with
``LAMINA_COMPAT_ALL=1``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _shared() -> Path:
    """``../shared`` beside the repository (a worktree one level deeper looks one level up), or
    ``$LAMINA_SHARED_DIR``."""
    override = os.environ.get("LAMINA_SHARED_DIR")
    if override:
        return Path(override)
    for candidate in (REPO / ".." / "shared", REPO / ".." / ".." / "shared"):
        if candidate.is_dir():
            return candidate
    return REPO / ".." / "shared"


COMPAT = _shared() / "compat"
MNIST_NPZ = _shared() / "data" / "mnist.npz"
TIMEOUT_S = 420

_spec = importlib.util.spec_from_file_location("compat_corpus",
                                               Path(__file__).with_name("corpus.py"))
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)

# Scripts that need what this branch does not have yet (named), expected to fail until it lands
# (none since compat-tensor's and layers' work landed).
MISSING: dict[str, str] = {}
# Scripts too slow for the default run (seconds measured on lamina, 2 shared cores).
SLOW: dict[str, str] = {
    "03_time_sequence_prediction.py": "LBFGS over a 999-step LSTMCell unroll: > 5 min here",
    "04_mnist_rnn.py": "an LSTM over 60000 MNIST rows, 1 epoch: minutes",
    "05_vae.py": "356 s on the shared 2-core machine (torch: 15 s), mostly Linear's matmuls",
    "06_mnist_forward_forward.py": "300 full-batch epochs, two layers",
    "15_cnn_batchnorm_mnist.py": "a BatchNorm CNN over 60000 MNIST images, 1 epoch: minutes",
}

_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _numbers(text: str) -> list[float]:
    """The numbers of a printed line, leaving out a ``dtype=...`` or ``grad_fn=<...>`` suffix
    (float64's 64, SumBackward0's 0)."""
    return [float(n) for n in _NUMBER.findall(text.split("dtype")[0].split("grad_fn")[0])]


def _last(pattern: str, out: str) -> re.Match:
    found = list(re.finditer(pattern, out, re.M))
    assert found, f"no line matching {pattern!r} in the output:\n{out[-3000:]}"
    return found[-1]


def _losses(pattern: str, out: str) -> list[float]:
    values = [float(m.group(1)) for m in re.finditer(pattern, out, re.M)]
    assert values, f"no line matching {pattern!r} in the output:\n{out[-3000:]}"
    return values


def _check_01(out: str, workdir: Path) -> None:
    assert float(_last(r"Loss: (\S+) after \d+ batches", out).group(1)) < 1e-3
    learned = [float(v) for v in re.findall(r"[+-]\d+\.\d+", _last(r"Learned function:.*", out)[0])]
    actual = [float(v) for v in re.findall(r"[+-]\d+\.\d+", _last(r"Actual function:.*", out)[0])]
    assert len(learned) == len(actual) == 5
    assert max(abs(a - b) for a, b in zip(learned, actual, strict=True)) < 0.15


def _check_02(out: str, workdir: Path) -> None:
    assert (workdir / "traindata.pt").is_file()


def _check_03(out: str, workdir: Path) -> None:
    losses = _losses(r"^loss: (\S+)$", out)
    assert losses[-1] * 10 <= losses[0]
    assert float(_last(r"test loss: (\S+)", out).group(1)) < 0.05


def _check_04(out: str, workdir: Path) -> None:
    assert int(_last(r"Accuracy: \d+/10000 \((\d+)%\)", out).group(1)) >= 60
    losses = _losses(r"Loss: (\S+)", out)
    assert losses[-1] < losses[0]


def _check_05(out: str, workdir: Path) -> None:
    assert float(_last(r"====> Epoch: 1 Average loss: (\S+)", out).group(1)) < 200
    assert float(_last(r"====> Test set loss: (\S+)", out).group(1)) < 150
    assert (workdir / "results" / "reconstruction_1.png").is_file()
    assert (workdir / "results" / "sample_1.png").is_file()


def _check_06(out: str, workdir: Path) -> None:
    assert float(_last(r"test error: (\S+)", out).group(1)) < 0.6
    layers = out.split("training layer:")[1:]
    assert len(layers) == 2
    for layer in layers:
        losses = _losses(r"Loss:\s+(\S+)", layer)
        assert losses[-1] < losses[0]


def _check_07(out: str, workdir: Path) -> None:
    lines = out.splitlines()
    assert any(_numbers(line) == [4, 4, 16, 2, 8] for line in lines)
    assert "[2. 2. 2. 2. 2.]" in out  # the NumPy view follows a.add_(1)
    assert any(_numbers(line) == [2] * 5 and "float64" in line for line in lines)


def _check_08(out: str, workdir: Path) -> None:
    lines = out.splitlines()
    assert any(len(v := _numbers(line)) == 3 and v == pytest.approx([204.8, 2048, 0.2048],
                                                                      rel=1e-3) for line in lines)
    assert sum(_numbers(line) == [3, 3, 3, 3] for line in lines) == 3
    assert any(_numbers(line) == pytest.approx([0.1] * 4) and "requires_grad=True" in line
               for line in lines)
    assert _numbers(lines[-1]) == pytest.approx([4.8], rel=1e-5)


def _check_09(out: str, workdir: Path) -> None:
    losses = _losses(r"^\d+ (\S+)$", out)
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)) and losses[-1] < 10
    assert losses[0] == pytest.approx(209.958, rel=1e-3)
    a, b, c, d = _numbers(_last(r"Result: .*", out)[0].split("=", 1)[1].replace("P3", "P"))
    assert b == pytest.approx(-2.2085, abs=2e-3) and d == pytest.approx(0.2555, abs=1e-3)


def _check_10(out: str, workdir: Path) -> None:
    losses = _losses(r"^\d+ (\S+)$", out)
    assert losses[-1] < losses[0] and losses[-1] < 20


def _check_11(out: str, workdir: Path) -> None:
    losses = _losses(r"^\d+ (\S+)$", out)
    assert len(losses) == 3 and losses[-1] < losses[0]


def _check_12(out: str, workdir: Path) -> None:
    assert "Net(" in out and "conv1" in out and "fc3" in out
    assert (workdir / "model.pt").is_file()


def _check_13(out: str, workdir: Path) -> None:
    rows = re.findall(r"Epoch:\s+(\d+) \| Step:\s+(\d+) \| batch x:\s+\[([^\]]*)\] \| "
                      r"batch y:\s+\[([^\]]*)\]", out)
    assert [(int(e), int(s)) for e, s, _, _ in rows] == [(e, s) for e in range(3) for s in range(2)]
    for epoch in range(3):
        xs = [_numbers(x) for e, _, x, _ in rows if int(e) == epoch]
        ys = [_numbers(y) for e, _, _, y in rows if int(e) == epoch]
        assert [len(x) for x in xs] == [5, 5]
        assert sorted(xs[0] + xs[1]) == list(range(1, 11))
        assert all(11 - xv == yv for x, y in zip(xs, ys, strict=True)
                   for xv, yv in zip(x, y, strict=True))


def _accuracy(pattern: str, threshold: float) -> Callable[[str, Path], None]:
    def check(out: str, workdir: Path) -> None:
        assert float(_last(pattern, out).group(1)) >= threshold
        assert (workdir / "model.ckpt").is_file()
    return check


def _check_16(out: str, workdir: Path) -> None:
    _accuracy(r"Accuracy of the model on the 10000 test images: (\S+) %", 70)(out, workdir)
    losses = _losses(r"Loss: (\S+)", out)
    assert losses[-1] < losses[0]


CHECKS: dict[str, Callable[[str, Path], None]] = {
    "01_regression.py": _check_01,
    "02_generate_sine_wave.py": _check_02,
    "03_time_sequence_prediction.py": _check_03,
    "04_mnist_rnn.py": _check_04,
    "05_vae.py": _check_05,
    "06_mnist_forward_forward.py": _check_06,
    "07_tensor_basics.py": _check_07,
    "08_autograd_basics.py": _check_08,
    "09_polynomial_custom_function.py": _check_09,
    "10_polynomial_optim.py": _check_10,
    "11_dynamic_net.py": _check_11,
    "12_save_load_checkpoint.py": _check_12,
    "13_batch_train.py": _check_13,
    "14_feedforward_mnist.py": _accuracy(
        r"Accuracy of the network on the 10000 test images: (\S+) %", 94),
    "15_cnn_batchnorm_mnist.py": _accuracy(
        r"Test Accuracy of the model on the 10000 test images: (\S+) %", 97),
    "16_logistic_regression_mnist.py": _check_16,
}


def _manifest() -> list[dict]:
    path = COMPAT / "MANIFEST.toml"
    if not path.is_file():
        return []
    with open(path, "rb") as stream:
        return tomllib.load(stream)["script"]


ENTRIES = {Path(entry["file"]).name: entry for entry in _manifest()}


def _params() -> list:
    if not ENTRIES:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"the compat corpus is not at {COMPAT.resolve()}"))]
    params = []
    for name in ENTRIES:
        marks = []
        if name in MISSING:
            marks.append(pytest.mark.xfail(reason=f"needs {MISSING[name]}", strict=False))
        if name in SLOW and os.environ.get("LAMINA_COMPAT_ALL") != "1":
            marks.append(pytest.mark.skip(reason=f"slow ({SLOW[name]}); LAMINA_COMPAT_ALL=1 "
                                                 f"runs it"))
        params.append(pytest.param(name, marks=marks, id=name.removesuffix(".py")))
    return params


@pytest.fixture(scope="module")
def mnist_raw(tmp_path_factory) -> Path:
    """MNIST's four raw files in torchvision's layout, written once for all scripts."""
    if not MNIST_NPZ.is_file():
        pytest.skip(f"MNIST is not at {MNIST_NPZ.resolve()} (../shared/data/mnist.npz)")
    folder = tmp_path_factory.mktemp("mnist") / "MNIST" / "raw"
    corpus.write_mnist_raw(MNIST_NPZ, folder)
    return folder.parent


def _prepare(entry: dict, workdir: Path) -> Path:
    source = (COMPAT / entry["file"]).read_text(encoding="utf-8")
    for sub in entry.get("shorten", []):
        assert source.count(sub["from"]) == 1, f"shorten string {sub['from']!r} not unique"
        source = source.replace(sub["from"], sub["to"])
    target = workdir / Path(entry["file"]).name
    target.write_text(corpus.rewrite_imports(source), encoding="utf-8")
    return target


def _run(script: Path, args: list[str], workdir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(REPO), PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, script.name, *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)


def _requires(entry: dict) -> None:
    for requirement in entry.get("requires", []):
        module = {"pillow (via save_image)": "PIL"}.get(requirement, requirement)
        pytest.importorskip(module, reason=f"{entry['file']} needs {requirement}")


@pytest.mark.parametrize("name", _params())
def test_script_runs_and_learns(name: str, tmp_path: Path, request) -> None:
    entry = ENTRIES[name]
    _requires(entry)
    workdir = tmp_path / "a" / "b" / "run"
    workdir.mkdir(parents=True)
    if entry.get("data") == "mnist":
        data_root = (workdir / entry["data_root"]).resolve()
        data_root.mkdir(parents=True, exist_ok=True)
        (data_root / "MNIST").symlink_to(request.getfixturevalue("mnist_raw"),
                                         target_is_directory=True)
    for folder in entry.get("needs_dirs", []):
        (workdir / folder).mkdir(parents=True, exist_ok=True)
    if "needs_first" in entry:
        first = ENTRIES[Path(entry["needs_first"]).name]
        done = _run(_prepare(first, workdir), first.get("args", []), workdir)
        assert done.returncode == 0, done.stderr[-3000:]
    result = _run(_prepare(entry, workdir), entry.get("args", []), workdir)
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stderr[-4000:]}"
    CHECKS[name](result.stdout, workdir)


def test_every_script_has_a_checker() -> None:
    assert set(ENTRIES) <= set(CHECKS)


@pytest.mark.parametrize(("line", "expected"), [
    ("import torch", "import lamina as torch"),
    ("import torch.nn as nn", "import lamina.nn as nn"),
    ("from torch.nn import functional as F", "from lamina.nn import functional as F"),
    ("import torch.utils.data", "import lamina.utils.data; import lamina as torch"),
    ("import torchvision", "import lamina.vision as torchvision"),
    ("import torchvision.transforms as transforms",
     "import lamina.vision.transforms as transforms"),
    ("from torchvision.utils import save_image", "from lamina.vision.utils import save_image"),
    ("from torch import nn, optim", "from lamina import nn, optim"),
    ("import numpy as np, torch", "import numpy as np; import lamina as torch"),
    ("import torchaudio", "import torchaudio"),
    ("from __future__ import print_function", "from __future__ import print_function"),
])
def test_rewrite_import_lines(line: str, expected: str) -> None:
    assert corpus.rewrite_imports(line + "\n") == expected + "\n"


def test_rewrite_touches_nothing_but_imports() -> None:
    source = ('"""import torch in a docstring"""\nimport torch\nx = "import torch"  # torch\n'
              "def f():\n    from torch.utils.data import (\n        DataLoader,\n    )\n"
              "    return torch.zeros(1)\n")
    out = corpus.rewrite_imports(source)
    assert out == ('"""import torch in a docstring"""\nimport lamina as torch\n'
                   'x = "import torch"  # torch\ndef f():\n'
                   "    from lamina.utils.data import DataLoader\n    return torch.zeros(1)\n")


def test_written_idx_files_read_back(tmp_path: Path) -> None:
    import numpy as np

    from lamina.vision.datasets.mnist import read_idx

    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    corpus.write_idx(tmp_path / "x", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x", 3), images)
    assert shutil.which(sys.executable)
