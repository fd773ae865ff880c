"""One seeded random source for everything random in lamina.

Init, shuffling, dropout and augmentation all draw from :func:`generator`, so
``lm.manual_seed(n)`` makes a whole training run reproducible bit for bit on one machine.
"""

from __future__ import annotations

import numpy as np

_state = {"rng": np.random.default_rng(0), "seed": 0}


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed lamina's global generator (PyTorch: ``torch.manual_seed``) and return it."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")
    _state["rng"] = np.random.default_rng(int(seed))
    _state["seed"] = int(seed)
    return _state["rng"]


def generator() -> np.random.Generator:
    """The global generator that every random operation in lamina uses."""
    return _state["rng"]


def get_rng_state() -> dict:
    """The generator's state as a JSON-serialisable dict (for checkpoints)."""
    return _state["rng"].bit_generator.state


def set_rng_state(state: dict) -> None:
    """Restore a state returned by :func:`get_rng_state`."""
    try:
        _state["rng"].bit_generator.state = state  # in place: holders of generator() stay in step
    except (TypeError, ValueError):
        rng = np.random.default_rng()
        rng.bit_generator.state = state
        _state["rng"] = rng
