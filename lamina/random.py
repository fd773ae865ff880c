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


def initial_seed() -> int:
    """The seed the global generator was last seeded with (``torch.initial_seed``)."""
    return _state["seed"]


def seed() -> int:
    """Reseed the global generator from fresh OS entropy and return the seed (``torch.seed``)."""
    value = int(np.random.SeedSequence().entropy % (1 << 63))
    manual_seed(value)
    return value


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


class Generator:
    """An independent random source (``torch.Generator``), for ``generator=`` arguments
    (``lm.randn(3, generator=g)``, ``lm.randperm(n, generator=g)``, in-place ``normal_``...).

    It starts from a fixed seed (torch's default, 67280421310721) so that a fresh Generator is
    reproducible; :meth:`manual_seed` reseeds it. ``rng`` is the NumPy generator underneath.
    """

    DEFAULT_SEED = 67280421310721

    def __init__(self, device="cpu") -> None:
        from lamina.device import check_device

        self.device = check_device(device, "lm.Generator")
        self.manual_seed(self.DEFAULT_SEED)

    def manual_seed(self, seed: int) -> Generator:
        """Reseed; returns self (as torch, so ``lm.Generator().manual_seed(0)`` chains)."""
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"Generator.manual_seed: expected an int seed, got "
                            f"{type(seed).__name__}")
        self._seed = int(seed)
        self.rng = np.random.default_rng(self._seed)
        return self

    def seed(self) -> int:
        """Reseed from fresh OS entropy and return the new seed (a non-negative 63-bit int)."""
        seed = int(np.random.SeedSequence().entropy % (1 << 63))
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        """The seed this generator was last seeded with."""
        return self._seed

    def get_state(self) -> dict:
        """The NumPy bit generator's state (a dict), for :meth:`set_state`."""
        return {"seed": self._seed, "state": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> Generator:
        """Restore a state returned by :meth:`get_state`; returns self."""
        self._seed = int(state["seed"])
        self.rng.bit_generator.state = state["state"]
        return self
