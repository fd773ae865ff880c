"""Helpers of the compat-corpus test: the import-line rewrite and MNIST in torchvision's layout.

The rewrite is the whole port: a published PyTorch script must run on lamina once its import
statements, and nothing else, name lamina instead of torch (``torch`` -> ``lamina``,
``torchvision`` -> ``lamina.vision``), with every name they bind unchanged.
"""

from __future__ import annotations

import ast
import struct
import warnings
from pathlib import Path

import numpy as np

_ROOTS = {"torch": "lamina", "torchvision": "lamina.vision"}


def _port(module: str) -> str | None:
    """``torch.nn`` -> ``lamina.nn``, ``torchvision.utils`` -> ``lamina.vision.utils``; None for
    modules that are not torch's (``numpy``, ``torchaudio``, ...)."""
    head, _, rest = module.partition(".")
    if head not in _ROOTS:
        return None
    return _ROOTS[head] + ("." + rest if rest else "")


def _rewrite_import(node: ast.Import) -> str | None:
    parts, changed = [], False
    for alias in node.names:
        target = _port(alias.name)
        if target is None:
            parts.append(f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
            continue
        changed = True
        if alias.asname:
            parts.append(f"import {target} as {alias.asname}")
        elif "." not in alias.name:  # import torch -> binds torch
            parts.append(f"import {target} as {alias.name}")
        else:  # import torch.utils.data -> binds torch, with torch.utils.data loaded
            head = alias.name.partition(".")[0]
            parts.append(f"import {target}; import {_ROOTS[head]} as {head}")
    return "; ".join(parts) if changed else None


def _rewrite_from(node: ast.ImportFrom) -> str | None:
    if node.level or node.module is None:
        return None
    target = _port(node.module)
    if target is None:
        return None
    names = ", ".join(a.name + (f" as {a.asname}" if a.asname else "") for a in node.names)
    return f"from {target} import {names}"


def rewrite_imports(source: str) -> str:
    """Rewrite the import statements of ``source`` from torch/torchvision to lamina.

    Only ``import``/``from ... import`` statements naming ``torch`` or ``torchvision`` (or their
    submodules) change; every other character of the file stays as it was. Each statement binds
    the same names as before: ``import torch`` -> ``import lamina as torch``,
    ``from torch.utils.data import DataLoader`` -> ``from lamina.utils.data import DataLoader``.
    """
    with warnings.catch_warnings():  # a script's own invalid escapes are not ours to report
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            new = _rewrite_import(node)
        elif isinstance(node, ast.ImportFrom):
            new = _rewrite_from(node)
        else:
            continue
        if new is not None:
            start = offsets[node.lineno - 1] + _char_col(lines[node.lineno - 1], node.col_offset)
            end = offsets[node.end_lineno - 1] + _char_col(lines[node.end_lineno - 1],
                                                           node.end_col_offset)
            edits.append((start, end, new))
    for start, end, new in sorted(edits, reverse=True):
        source = source[:start] + new + source[end:]
    return source


def _char_col(line: str, byte_col: int) -> int:
    """ast gives UTF-8 byte offsets; strings index characters."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file: magic ``0x0000 08 ndim``, big-endian sizes, data."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I",
                                                                     *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist_raw(npz: Path, folder: Path) -> None:
    """MNIST from lamina's ``mnist.npz`` as torchvision's ``raw`` files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    with np.load(npz) as data:
        for prefix, split in (("train", "train"), ("t10k", "test")):
            write_idx(folder / f"{prefix}-images-idx3-ubyte", data[f"x_{split}"])
            write_idx(folder / f"{prefix}-labels-idx1-ubyte", data[f"y_{split}"])
