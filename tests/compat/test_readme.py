"""README "A first network": a PyTorch script whose imports alone name lamina, and it learns."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("compat_corpus",
                                               Path(__file__).with_name("corpus.py"))
corpus = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)


def _first_network() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## A first network", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def _as_torch(source: str) -> str:
    """The README script as PyTorch users write it (imports of torch and torchvision)."""
    lines = []
    for line in source.splitlines(keepends=True):
        if line.startswith(("import lamina", "from lamina")):
            line = (line.replace("lamina.vision", "torchvision").replace("import lamina as torch",
                                                                          "import torch")
                    .replace("lamina", "torch"))
        lines.append(line)
    return "".join(lines)


def test_only_the_import_lines_differ_from_the_torch_script():
    source = _first_network()
    torch_source = _as_torch(source)
    assert "lamina" not in torch_source and "import torch\n" in torch_source
    assert corpus.rewrite_imports(torch_source) == source
    changed = [a for a, b in zip(source.splitlines(), torch_source.splitlines(), strict=True)
               if a != b]
    assert changed and all(line.startswith(("import ", "from ")) for line in changed)


def test_the_readme_script_learns(tmp_path):
    """Run on 3000 training and 500 test images (the README uses all of MNIST)."""
    pytest.importorskip("PIL")
    shared = [REPO / ".." / "shared", REPO / ".." / ".." / "shared"]
    npz = next((s / "data" / "mnist.npz" for s in shared if (s / "data" / "mnist.npz").is_file()),
               None)
    if npz is None:
        pytest.skip("MNIST is not at ../shared/data/mnist.npz")
    with np.load(npz) as data:
        images, labels = data["x_train"][:3500], data["y_train"][:3500]
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, part in (("train", slice(0, 3000)), ("t10k", slice(3000, 3500))):
        corpus.write_idx(raw / f"{prefix}-images-idx3-ubyte", images[part])
        corpus.write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[part])
    (tmp_path / "first.py").write_text(_first_network(), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "first.py"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    accuracies = [float(a) for a in re.findall(r"test accuracy (\S+)", result.stdout)]
    assert len(accuracies) == 2 and accuracies[-1] > 0.85
