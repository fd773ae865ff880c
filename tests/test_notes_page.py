"""docs/notes-to-code.md, "From the notes to the code": it covers every numbered equation of the
notes, and every lamina name, test and experiment it cites exists."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "notes-to-code.md"
NOTES = ROOT.parent / "shared" / "NOTES.md"
EQUATIONS = ([f"2.{i}" for i in range(1, 4)] + [f"3.{i}" for i in range(1, 12)]
             + [f"4.{i}" for i in range(1, 6)] + [f"6.{i}" for i in range(1, 9)]
             + [f"7.{i}" for i in range(1, 5)] + [f"8.{i}" for i in range(1, 4)]
             + [f"9.{i}" for i in range(1, 6)])


def page() -> str:
    return PAGE.read_text(encoding="utf-8")


def cited_equations(text: str) -> set[str]:
    """Equation numbers in 'eq 3.5, 3.6' / 'eq 6.5-6.8' / 'eq 3.10, 3.11' forms."""
    found = set()
    for match in re.finditer(r"eq ((?:\d+\.\d+)(?:(?:, |-)\d+\.\d+)*)", text):
        parts = re.split(r"(, |-)", match.group(1))
        numbers = parts[::2]
        found.update(numbers)
        for i, sep in enumerate(parts[1::2]):
            if sep == "-":
                (chapter, first), (_, last) = (n.split(".") for n in numbers[i:i + 2])
                found.update(f"{chapter}.{k}" for k in range(int(first), int(last) + 1))
    return found


def test_the_notes_have_39_numbered_equations():
    if not NOTES.is_file():
        pytest.skip(f"the notes are not beside the repository ({NOTES})")
    labels = set(re.findall(r"\\(?:quad|tag)\s*\{?\(?(\d+\.\d+)\)?\}?", NOTES.read_text()))
    assert labels == set(EQUATIONS)


def test_every_equation_has_a_row():
    missing = set(EQUATIONS) - cited_equations(page())
    assert not missing, f"equations without a row: {sorted(missing, key=lambda e: float(e))}"


def test_every_cited_test_exists():
    cited = set(re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", page()))
    assert len(cited) > 50
    for path, name in cited:
        file = ROOT / path
        assert file.is_file(), path
        if name:
            tree = ast.parse(file.read_text(encoding="utf-8"))
            names = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
            assert name in names, f"{path}::{name}"


def test_every_cited_lamina_name_exists():
    cited = set(re.findall(r"`(lamina(?:\.\w+)+)`", page()))
    assert len(cited) > 40
    for dotted in cited:
        parts = dotted.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"{dotted} does not resolve")


def test_every_cited_experiment_exists():
    from lamina import experiments

    rows = [line for line in page().splitlines() if line.startswith("|")]
    cited = {name for line in rows for name in re.findall(r"`([a-z]+(?:-[a-z]+)+|[a-z]+)`",
                                                           line.split("|")[-2])}
    known = set(experiments.names())
    assert cited & known == cited - {"lamina"}, cited - known
    assert known <= cited, f"experiments the page never shows: {known - cited}"
