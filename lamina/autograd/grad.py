"""``lm.autograd.grad`` and ``lm.autograd.backward`` (torch's functional forms of
``Tensor.backward``)."""

from __future__ import annotations

from collections.abc import Sequence

from lamina.tensor import Tensor


def backward(tensors, grad_tensors=None, retain_graph=None) -> None:
    """``t.backward(g)`` for each tensor (gradients accumulate into the leaves' ``.grad``)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = [None] * len(tensors) if grad_tensors is None else (
        [grad_tensors] if isinstance(grad_tensors, Tensor) else list(grad_tensors))
    for t, g in zip(tensors, grads, strict=True):
        t.backward(g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs`` (leaf tensors), returned
    instead of accumulated: the inputs' ``.grad`` are left as they were.

    Raises:
        NotImplementedError: ``create_graph=True`` (lamina's backward does not record a graph,
            so second derivatives are not available).
        RuntimeError: an input is not a leaf, or is unused and ``allow_unused`` is False.
    """
    if create_graph:
        raise NotImplementedError("lm.autograd.grad: create_graph=True (higher-order "
                                  "gradients) is not supported by lamina")
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    for x in inputs:
        if not isinstance(x, Tensor) or not x.is_leaf or not x.requires_grad:
            raise RuntimeError("lm.autograd.grad: inputs must be leaf tensors that require "
                               "grad (lamina keeps gradients of leaves only)")
    leaves = _leaves([outputs] if isinstance(outputs, Tensor) else list(outputs))
    leaves.update((id(x), x) for x in inputs)
    saved = {key: leaf.grad for key, leaf in leaves.items()}
    for leaf in leaves.values():
        leaf.grad = None
    try:
        backward(outputs, grad_outputs)
        result = tuple(x.grad for x in inputs)
    finally:
        for key, leaf in leaves.items():
            leaf.grad = saved[key]
    if not allow_unused and any(r is None for r in result):
        raise RuntimeError("lm.autograd.grad: one of the inputs was not used to compute the "
                           "outputs (pass allow_unused=True to get None for it)")
    return result


def _leaves(outputs: list[Tensor]) -> dict[int, Tensor]:
    """The leaves that require grad under ``outputs`` (whose ``.grad`` backward would touch)."""
    found: dict[int, Tensor] = {}
    seen: set[int] = set()
    stack = [t for t in outputs if isinstance(t, Tensor)]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node._backward is None:
            if node.requires_grad:
                found[id(node)] = node
            continue
        stack.extend(p for p in node._parents if p is not None)
    return found


__all__: Sequence[str] = ["grad", "backward"]
