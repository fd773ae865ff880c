"""lamina: a small, fast deep-learning framework on NumPy.

``import lamina as lm`` is cheap: submodules (``lm.nn``, ``lm.optim``, ...) load on first use.
The torch-compatible surface (``lm.float``, ``lm.device``, ``lm.exp``, ``lm.max``, in-place
``_`` methods...) is pure Python on NumPy and loads here.
"""

from __future__ import annotations

import builtins as _builtins
import importlib

from lamina import (  # noqa: F401 - these install Tensor methods
    inplace,
    math_methods,
    selection,
    shape_methods,
    tensor_methods,
)
from lamina.creation import (
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    IntTensor,
    LongTensor,
    as_tensor,
    asarray,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full_like,
    linspace,
    logspace,
    meshgrid,
    multinomial,
    normal,
    rand_like,
    randint,
    randint_like,
    randn_like,
    randperm,
    tril,
    triu,
)
from lamina.device import device
from lamina.dtypes import (
    bool as bool,
)
from lamina.dtypes import (
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    finfo,
    float16,
    get_default_dtype,
    half,
    iinfo,
    int8,
    int16,
    int32,
    long,
    set_default_dtype,
    short,
    uint8,
)
from lamina.dtypes import (
    float as float,
)
from lamina.dtypes import (
    int as int,
)
from lamina.functions import *  # noqa: F403 - torch's functions mirroring Tensor methods
from lamina.functions import __all__ as _functions_all
from lamina.grad_mode import inference_mode, is_inference_mode_enabled, set_grad_enabled
from lamina.printing import set_printoptions
from lamina.size import Size
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
    no_grad,
    ones,
    ones_like,
    rand,
    randn,
    stack,
    tensor,
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
    "cuda": "lamina.cuda",
    "accelerator": "lamina.accelerator",
    "backends": "lamina.backends",
    "distributed": "lamina.distributed",
}
# manual_seed is lazy too: lamina.random builds a NumPy Generator, and numpy.random costs
# about 25 ms to import, half of what `import lamina` may add to `import numpy`
_LAZY_NAMES = {"fit": "lamina.train", "save": "lamina.io", "load": "lamina.io",
               "manual_seed": "lamina.random", "predict_proba": "lamina.workflow.predictor",
               "Generator": "lamina.random", "initial_seed": "lamina.random",
               "seed": "lamina.random", "get_rng_state": "lamina.random",
               "set_rng_state": "lamina.random", "get_num_threads": "lamina.kernels.parallel",
               "set_num_threads": "lamina.kernels.parallel"}


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name == "return_types":  # torch.return_types' named tuples, made on first use (~1 ms)
        return importlib.import_module("lamina.return_types")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'lamina' has no attribute {name!r}")


# (lm.float, lm.int, lm.bool, lm.long... are torch's dtype names; they are left out of
# __all__ so that `from lamina import *` does not shadow Python's builtins)
__all__ = [
    "Tensor", "tensor", "zeros", "ones", "zeros_like", "ones_like", "randn", "rand", "arange",
    "cat", "stack", "full", "no_grad", "enable_grad", "is_grad_enabled",
    "float32", "float64", "int64", "float16", "int8", "int16", "int32", "uint8", "complex64",
    "complex128", "double", "half", "short", "long", "cfloat", "cdouble", "get_default_dtype",
    "set_default_dtype", "finfo", "iinfo", "set_printoptions", "Size", "device",
    "inference_mode", "is_inference_mode_enabled",
    "set_grad_enabled", "as_tensor", "asarray", "bernoulli", "empty", "empty_like", "eye",
    "from_numpy", "full_like", "linspace", "logspace", "meshgrid", "multinomial", "normal",
    "rand_like", "randint", "randint_like", "randn_like", "randperm", "tril", "triu",
    "FloatTensor", "DoubleTensor", "LongTensor", "IntTensor", "BoolTensor", "ByteTensor",
    *[n for n in _functions_all if not hasattr(_builtins, n)], "__version__", *_SUBMODULES,
    *_LAZY_NAMES,
]
