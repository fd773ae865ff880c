"""``lm.backends.mps``: Apple's Metal backend, which lamina does not have."""


def is_available() -> bool:
    """False: lamina has no MPS device."""
    return False


def is_built() -> bool:
    """False: lamina is not built with MPS."""
    return False
