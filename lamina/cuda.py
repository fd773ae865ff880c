"""``lm.cuda``: lamina has no CUDA devices (it computes with NumPy on the CPU), so
``lm.cuda.is_available()`` is False, as torch's on a machine without a GPU, and scripts that
choose their device with it run on the CPU."""

from __future__ import annotations


def is_available() -> bool:
    """False: lamina has no CUDA devices."""
    return False


def device_count() -> int:
    """0: lamina has no CUDA devices."""
    return 0


def is_initialized() -> bool:
    """False: there is no CUDA state to initialise."""
    return False


def manual_seed(seed: int) -> None:
    """Accepted and ignored, as torch does without a GPU (CPU randomness: ``lm.manual_seed``)."""
    if not isinstance(seed, int):
        raise TypeError(f"manual_seed: expected an int seed, got {type(seed).__name__}")


def manual_seed_all(seed: int) -> None:
    """Accepted and ignored, as torch does without a GPU (CPU randomness: ``lm.manual_seed``)."""
    manual_seed(seed)


def current_device() -> int:
    """Raises: RuntimeError, as torch without a GPU."""
    raise RuntimeError("lm.cuda.current_device(): lamina has no CUDA devices (it runs on the "
                       "CPU); check lm.cuda.is_available() first")


def empty_cache() -> None:
    """Nothing to release (no CUDA memory), as torch when CUDA was never initialised."""
