"""Embedding: a learnt lookup table of vectors, indexed by integer tokens."""

from __future__ import annotations

import numpy as np

from lamina import functional_more as FM
from lamina.nn import init
from lamina.nn.module import Module, Parameter


class Embedding(Module):
    """out[...] = weight[indices[...]]: row i of ``weight`` is the vector of token i.

    Args:
        num_embeddings: vocabulary size V.
        embedding_dim: D.
        padding_idx: a row that receives no gradient and starts at zero (negative counts
            from the end).
        dtype: weight dtype (float32 by default).

    Shape:
        indices (*) int -> (*, D); weight (V, D), initialised N(0, 1) as PyTorch.

    Example:
        >>> import numpy as np
        >>> Embedding(10, 3)(np.array([[1, 2], [3, 4]])).shape
        (2, 2, 3)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 dtype=None):
        super().__init__()
        if num_embeddings <= 0 or embedding_dim <= 0:
            raise ValueError(f"Embedding: num_embeddings and embedding_dim must be positive, "
                             f"got ({num_embeddings}, {embedding_dim})")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx must be within num_embeddings "
                                 f"({num_embeddings}), got {padding_idx}")
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim),
                                         np.dtype(dtype or np.float32)))
        init.normal_(self.weight)
        if padding_idx is not None:
            self.weight._data[padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True,
                        padding_idx: int | None = None) -> Embedding:
        """An Embedding holding ``embeddings`` (V, D) (frozen unless ``freeze=False``)."""
        array = np.asarray(getattr(embeddings, "_data", embeddings))
        if array.ndim != 2:
            raise ValueError(f"Embedding.from_pretrained: expected a 2-D array, got shape "
                             f"{array.shape}")
        layer = cls(*array.shape, padding_idx=padding_idx, dtype=array.dtype)
        layer.weight._data[...] = array
        layer.weight.requires_grad = not freeze
        return layer

    def forward(self, indices):
        return FM.embedding(indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        return text if self.padding_idx is None else text + f", padding_idx={self.padding_idx}"
