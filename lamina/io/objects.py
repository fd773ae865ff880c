"""Files of plain objects: state_dicts and checkpoint dicts (``torch.save`` / ``torch.load``).

``lm.save(obj, path)`` for an object that is not a Module writes the file container of
:mod:`lamina.io.format` with every array or Tensor in ``obj`` as a tensor (named by its path in
the object: a state_dict's tensors keep their names, ``{"model": sd}`` gives ``"model.0.weight"``)
and the rest of the structure as JSON (:mod:`lamina.codec`) in the metadata entry ``"object"``.
Nothing is pickled; loading rebuilds exactly: Tensors as Tensors, NumPy arrays as arrays,
tuples as tuples, and numbers, strings, None and bools as themselves.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from lamina.codec import decode, encode
from lamina.io.atomic import atomic_write
from lamina.io.format import FORMAT_VERSION, RawFile, Source, write_bytes

__all__ = ["save_object", "object_from"]

OBJECT_KEY = "object"


def save_object(obj: Any, path: Source) -> None:
    """Write ``obj`` (see the module doc) to ``path`` (atomically) or a binary file object.

    Raises:
        TypeError: ``obj`` holds a value that cannot be stored (the message names its type).
    """
    from lamina import __version__

    tensors: dict[str, np.ndarray] = {}
    structure = encode(obj, tensors, "", "lm.save")
    header = {"format": "lamina", "format_version": FORMAT_VERSION,
              "lamina_version": __version__,
              OBJECT_KEY: json.dumps(structure, allow_nan=False)}
    data = write_bytes(tensors, header)
    if isinstance(path, (str, os.PathLike)):
        atomic_write(path, data)
    else:
        path.write(data)


def object_from(raw: RawFile) -> Any:
    """The object stored in a validated file.

    Raises:
        ValueError: malformed JSON, references to tensors the file does not hold, or tensors
            that nothing refers to.
    """
    used: set[str] = set()
    value = decode(raw.json(OBJECT_KEY), raw.arrays(), used, raw.where)
    unused = sorted(set(raw.entries) - used)
    if unused:
        raise ValueError(f"{raw.where}: tensors {unused[:5]} are not part of the stored object")
    return value
