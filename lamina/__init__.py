"""lamina: a small, fast deep-learning framework on NumPy.

``import lamina as lm`` is cheap: submodules (``lm.nn``, ``lm.optim``, ...) load on first use.
"""

from __future__ import annotations

import importlib

from lamina.tensor import (
    Tensor,
    arange,
    cat,
    enable_grad,
    float32,
    float64,
    full,
    int64,
    is_grad_enabled,
    maximum,
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

_SUBMODULES = {
    "nn": "lamina.nn",
    "optim": "lamina.optim",
    "data": "lamina.data",
    "datasets": "lamina.data.datasets",
    "metrics": "lamina.metrics",
    "preprocessing": "lamina.preprocessing",
    "models": "lamina.models",
    "io": "lamina.io",
    "onnx": "lamina.onnx",
    "train": "lamina.train",
    "functional": "lamina.functional",
    "testing": "lamina.testing",
    "experiments": "lamina.experiments",
    "random": "lamina.random",
    "autograd": "lamina.autograd",
    "utils": "lamina.utils",
    "vision": "lamina.vision",
    "workflow": "lamina.workflow",
}
# manual_seed is lazy too: lamina.random builds a NumPy Generator, and numpy.random costs
# about 25 ms to import, half of what `import lamina` may add to `import numpy`
_LAZY_NAMES = {"fit": "lamina.train", "save": "lamina.io", "load": "lamina.io",
               "manual_seed": "lamina.random", "predict_proba": "lamina.workflow.predictor"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


__all__ = [
    "Tensor", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn", "rand", "arange",
    "cat", "stack", "full", "where", "maximum", "no_grad", "enable_grad", "is_grad_enabled",
    "float32", "float64", "int64",
    "__version__", *_SUBMODULES, *_LAZY_NAMES,
]
