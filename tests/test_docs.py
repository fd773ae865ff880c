"""The documentation site (mkdocs.yml, docs/): it builds with ``mkdocs build --strict``, every
docstring ``Example`` and every runnable block of the pages runs and prints what it shows, and
every public name of the API reference has a docstring."""

from __future__ import annotations

import doctest
import importlib
import inspect
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
OPTIONAL = ("torch", "numba", "pandas", "matplotlib", "onnx", "onnxruntime", "optuna", "fastapi",
            "uvicorn", "PIL", "mpi4py", "sklearn", "tomli_w", "hypothesis")


def modules_with_examples() -> list[str]:
    """Dotted names of lamina's modules whose source holds a ``>>>`` line."""
    names = []
    for path in sorted((ROOT / "lamina").rglob("*.py")):
        if ">>> " in path.read_text(encoding="utf-8"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_or_skip(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name and error.name.split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs {error.name}")
        raise


@pytest.mark.parametrize("name", modules_with_examples())
def test_docstring_examples_run(name):
    module = import_or_skip(name)
    result = doctest.testmod(module, optionflags=FLAGS, report=True, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def blocks(page: Path, kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)\n```", page.read_text(encoding="utf-8"), flags=re.S)


@pytest.mark.parametrize("page", [p for p in pages() if blocks(p, "pycon")],
                         ids=lambda p: str(p.relative_to(DOCS)))
def test_runnable_blocks_print_what_the_page_shows(page):
    """Each ``pycon`` block runs as a doctest; the blocks of a page share one namespace."""
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=FLAGS)
    namespace: dict = {}
    for index, block in enumerate(blocks(page, "pycon")):
        test = parser.get_doctest(block + "\n", namespace, f"{page.name}[{index}]", str(page), 0)
        runner.run(test, clear_globs=False)
    assert runner.failures == 0, f"{runner.failures} example(s) in {page} printed otherwise"


def console_commands(page: Path) -> list[tuple[str, str]]:
    """(command, expected output) pairs of the page's ``console`` blocks."""
    pairs = []
    for block in blocks(page, "console"):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            pairs.append((command, output))
    return pairs


def test_cli_page_commands_print_what_the_page_shows(tmp_path):
    """docs/cli.md's commands, in order, in a scratch directory with examples/ beside it."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    import numpy as np

    from lamina.data.datasets import mnist

    _, (x_test, y_test) = mnist(subset="small")
    np.savez(tmp_path / "digits.npz", x=x_test[:3], y=y_test[:3])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH",
                                                                                 "")])}
    checker = doctest.OutputChecker()
    commands = console_commands(DOCS / "cli.md")
    assert {c.split()[1] for c, _ in commands} >= {"train", "summary", "evaluate", "inspect",
                                                  "predict", "export", "experiments"}
    for command, expected in commands:
        argv = shlex.split(command)
        assert argv[0] == "lamina"
        proc = subprocess.run([sys.executable, "-m", "lamina", *argv[1:]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (command, proc.stderr)
        assert checker.check_output(expected + "\n", proc.stdout, FLAGS), (
            f"$ {command}\nexpected:\n{expected}\ngot:\n{proc.stdout}")


def api_modules() -> list[str]:
    names = []
    for page in sorted((DOCS / "api").glob("*.md")):
        names += re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return names


def test_every_public_package_has_an_api_page():
    import lamina

    documented = set(api_modules())
    for name in lamina.__all__:
        value = getattr(lamina, name)
        if inspect.ismodule(value):
            assert value.__name__ in documented, f"lamina.{name} has no API page"


@pytest.mark.parametrize("name", api_modules())
def test_every_public_name_has_a_docstring(name):
    module = import_or_skip(name)
    assert inspect.getdoc(module), f"{name} has no docstring"
    public = getattr(module, "__all__", None) or [
        n for n, v in vars(module).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == name]
    missing = []
    for attr in public:
        value = getattr(module, attr)
        if (inspect.isclass(value) or inspect.isfunction(value)) and not inspect.getdoc(value):
            missing.append(attr)
    assert not missing, f"{name}: no docstring for {missing}"


def test_readme_links_the_pages():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/notes-to-code.md", "docs/index.md", "docs/cli.md"):
        assert page in readme, page


def test_site_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    proc = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "nn" / "index.html").is_file()
