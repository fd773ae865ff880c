"""``lm.backends.cudnn``: cuDNN's flags, settable as in torch (scripts set ``benchmark`` and
``deterministic`` for reproducibility); lamina has no cuDNN, so they change nothing (its NumPy
computations are deterministic on one machine whatever they say)."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available() -> bool:
    """False: lamina has no cuDNN."""
    return False


def version() -> None:
    """None, as torch without cuDNN."""
    return None
