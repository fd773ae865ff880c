"""``lm.Size``: a tensor's shape as torch gives it (``t.size()``, ``t.shape``), a tuple."""

from __future__ import annotations

import math


class Size(tuple):
    """A tuple of dimension sizes (``torch.Size``): compares, unpacks and indexes as a tuple;
    a slice is again a Size; ``numel()`` is the product of the sizes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"lamina.Size({list(self)})"

    def __getitem__(self, index):
        out = tuple.__getitem__(self, index)
        return Size(out) if isinstance(index, slice) else out

    def numel(self) -> int:
        """The number of elements of a tensor of this size (1 for ``Size([])``)."""
        return math.prod(self)
