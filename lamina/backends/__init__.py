"""``lm.backends``: torch's backend switches. lamina computes with NumPy on the CPU only:
``backends.mps.is_available()`` and ``backends.cudnn.is_available()`` are False, and cudnn's
flags (``benchmark``, ``deterministic``, ...) can be set as scripts do, with no effect."""

from lamina.backends import cudnn, mps

__all__ = ["cudnn", "mps"]
