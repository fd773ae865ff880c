"""``lm.backends.cuda``: CUDA's switches (``matmul.allow_tf32``...), settable as in torch;
lamina has no CUDA, so ``is_built()`` is False and the flags change nothing."""

from types import SimpleNamespace


def is_built() -> bool:
    """False: lamina is not built with CUDA."""
    return False


matmul = SimpleNamespace(allow_tf32=False, allow_fp16_reduced_precision_reduction=True,
                         allow_bf16_reduced_precision_reduction=True)
