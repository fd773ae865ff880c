"""``lm.backends``: torch's backend switches. lamina computes with NumPy on the CPU only:
``backends.mps.is_available()``, ``backends.cudnn.is_available()`` and
``backends.cuda.is_built()`` are False, and the flags (``cudnn.benchmark``,
``cudnn.deterministic``, ``cuda.matmul.allow_tf32``...) can be set as scripts do, with no
effect."""

from lamina.backends import cuda, cudnn, mps

__all__ = ["cuda", "cudnn", "mps"]
