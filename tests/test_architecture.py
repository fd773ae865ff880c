"""lamina's layering: no import cycle between its top-level modules and packages.

Each direct child of ``lamina/`` (a module such as ``lamina/serve.py`` or a package such as
``lamina/nn/``) is one node of a graph; an edge A -> B means some file of A imports B. The graph
is read from the source with :mod:`ast`, so it sees every import: at module level, inside
functions (deferred imports hide cycles at run time but not here), relative imports, and module
paths given as strings (``importlib.import_module("lamina.x")`` and factory targets such as
``"lamina.workflow.factories:mlp"``). The package's own ``lamina/__init__.py`` is the public
facade that re-exports everything lazily; it is not a node, and ``import lamina`` is no edge.
docs/architecture.md describes the layers this keeps apart.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lamina"
# The layers of docs/architecture.md, lowest first: a part may import parts of its own layer
# (without a cycle) and of lower layers, never of higher ones. A new top-level module or package
# belongs in this table and in the page; until it is listed, only the cycle check applies to it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("random", "convsize", "kernels", "labels", "metrics", "plots", "device", "dtypes", "size",
     "return_types", "printing", "cuda", "backends", "accelerator"),  # 0 foundations
    ("tensor", "ops", "creation", "functions", "grad_mode", "inplace", "math_methods",
     "shape_methods", "selection", "tensor_methods"),         # 1 the Tensor, its ops and methods
    ("autograd", "functional", "functional_more", "inference", "nn", "optim", "data", "utils",
     "vision", "codec", "testing", "distributed"),            # 2 the library
    ("models", "preprocessing", "tabular", "io"),             # 3 architectures, features, files
    ("train",),                                               # 4 fit, callbacks, checkpoints
    ("workflow", "config", "onnx", "onnx_layers"),            # 5 the application layer
    ("serve", "tune", "experiments", "quickstart"),           # 6 applications
    ("cli", "__main__"),                                      # 7 the command line
)
# a dotted module path written as a string: "lamina.cli.train" or "lamina.workflow.factories:mlp"
_MODULE_STRING = re.compile(r"lamina(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?")


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module path ``tree`` imports (absolute, relative ones resolved)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            # `from lamina import nn` imports the submodule lamina.nn
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                _MODULE_STRING.fullmatch(node.value):
            found.add(node.value.partition(":")[0])
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """``{node: {imported node: [files that import it]}}`` over the top-level parts of
    ``root`` (a package directory)."""
    nodes = {p.stem if p.is_file() else p.name for p in root.iterdir()
             if (p.suffix == ".py" and p.name != "__init__.py")
             or (p.is_dir() and (p / "__init__.py").is_file())}
    graph: dict[str, dict[str, list[str]]] = {node: {} for node in nodes}
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts == ("__init__.py",):
            continue
        source = relative.parts[0].removesuffix(".py")
        module = _module_name(path, root)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name in _imported(tree, module, path.name == "__init__.py"):
            parts = name.split(".")
            if parts[0] != root.name or len(parts) < 2 or parts[1] not in nodes:
                continue
            files = graph[source].setdefault(parts[1], []) if parts[1] != source else None
            if files is not None and str(relative) not in files:
                files.append(str(relative))
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the graph, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for successor in sorted(graph[node]):
            if state.get(successor) == 1:
                return path[path.index(successor):] + [successor]
            if successor not in state:
                cycle = visit(successor)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def describe_cycle(graph: dict[str, dict[str, list[str]]], cycle: list[str]) -> str:
    """The cycle as lines ``a -> b  (imported by a/x.py, ...)``."""
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:], strict=False):
        files = graph[a][b]
        shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
        lines.append(f"  {a} -> {b}: imported by {shown}")
    return "\n".join(lines)


def test_no_import_cycle_between_top_level_parts():
    graph = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between lamina's top-level parts:\n" + \
        describe_cycle(graph, cycle)


def layer_violations(graph: dict[str, dict[str, list[str]]],
                     layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """Imports of a higher layer's part, as lines ``a (layer i) -> b (layer j): files``."""
    level = {node: i for i, names in enumerate(layers) for node in names}
    found = []
    for a, targets in sorted(graph.items()):
        for b, files in sorted(targets.items()):
            if a in level and b in level and level[b] > level[a]:
                found.append(f"{a} (layer {level[a]}) -> {b} (layer {level[b]}): "
                             f"{', '.join(files)}")
    return found


def test_lower_layers_never_import_higher_ones():
    violations = layer_violations(import_graph())
    assert not violations, "imports of a higher layer (see docs/architecture.md):\n" + \
        "\n".join(violations)


def test_every_layer_part_exists():
    graph = import_graph()
    listed = [node for names in LAYERS for node in names]
    assert len(listed) == len(set(listed))
    assert not set(listed) - set(graph), set(listed) - set(graph)


def test_layer_check_reports_an_upward_import():
    graph = {"low": {"high": ["low.py"]}, "high": {}}
    assert layer_violations(graph, (("low",), ("high",))) == [
        "low (layer 0) -> high (layer 1): low.py"]
    assert layer_violations(graph, (("high",), ("low",))) == []


def test_graph_sees_deferred_relative_and_string_imports(tmp_path):
    root = tmp_path / "lamina"
    (root / "app").mkdir(parents=True)
    (root / "__init__.py").write_text("from lamina import low\n")
    (root / "low.py").write_text("def f():\n    from .app import run\n")
    (root / "app" / "__init__.py").write_text("")
    (root / "app" / "run.py").write_text("from ..low import f\nTARGET = 'lamina.cli:main'\n")
    (root / "cli.py").write_text("import lamina\n")
    graph = import_graph(root)
    assert graph == {"low": {"app": ["low.py"]}, "app": {"low": ["app/run.py"],
                                                          "cli": ["app/run.py"]},
                     "cli": {}}
    cycle = find_cycle(graph)
    assert cycle == ["app", "low", "app"]
    assert describe_cycle(graph, cycle) == (
        "app -> low -> app\n"
        "  app -> low: imported by app/run.py\n"
        "  low -> app: imported by low.py")
    (root / "low.py").write_text("X = 1\n")
    assert find_cycle(import_graph(root)) is None
