"""`import lamina` stays cheap: NumPy and lamina's core modules only, everything else lazy."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import sys
before = set(sys.modules)
import lamina
new = sorted(set(sys.modules) - before)
print(" ".join(new))
"""


def modules_loaded_by_import_lamina() -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, check=True)
    return out.stdout.split()


def test_import_loads_only_numpy_and_the_core():
    loaded = modules_loaded_by_import_lamina()
    heavy = [m for m in loaded if m.split(".")[0] in ("torch", "numba", "scipy", "sklearn",
                                                      "pandas", "matplotlib", "safetensors",
                                                      "tqdm", "llvmlite")]
    assert not heavy, heavy
    # numpy.random alone costs ~25 ms: lamina.random (manual_seed) loads on first use
    assert "numpy.random" not in loaded
    import lamina

    lazy = set(lamina._SUBMODULES.values()) | set(lamina._LAZY_NAMES.values())
    assert not [m for m in loaded if m in lazy or m.startswith("lamina.optim")], loaded


def test_lazy_names_resolve():
    import lamina as lm

    assert callable(lm.manual_seed) and lm.manual_seed(3) is lm.random.generator()
    from lamina import manual_seed

    assert manual_seed is lm.random.manual_seed
    assert lm.nn.functional is lm.functional


def test_return_types_load_on_first_use():
    """lamina.return_types (eight named tuples, ~1 ms) is lazy: lm.return_types and the
    selection functions that return its tuples load it when first needed."""
    assert "lamina.return_types" not in modules_loaded_by_import_lamina()
    import lamina as lm

    values, indices = lm.tensor([[1.0, 3.0], [4.0, 2.0]]).max(dim=1)
    result = lm.tensor([[1.0, 3.0], [4.0, 2.0]]).max(dim=1)
    assert type(result) is lm.return_types.max
    assert result.values.tolist() == values.tolist() == [3.0, 4.0]
    assert indices.tolist() == [1, 0]
