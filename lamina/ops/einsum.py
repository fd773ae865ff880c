"""Einstein summation (``torch.einsum``): one op for contractions written as subscripts."""

from __future__ import annotations

import numpy as np

from lamina.ops import register


def parse(equation: str, n_operands: int) -> tuple[list[str], str]:
    """The operands' subscripts and the output's, e.g. 'ij,jk->ik' -> (['ij', 'jk'], 'ik'). An
    implicit output is the letters that appear once, in alphabetical order (NumPy's rule).

    Raises:
        ValueError: the number of subscripts differs from the operands', or '...' is used.
    """
    equation = equation.replace(" ", "")
    if "." in equation:
        raise ValueError("einsum: '...' (ellipsis) is not supported by lamina; name every "
                         "dimension")
    inputs, arrow, output = equation.partition("->")
    subscripts = inputs.split(",")
    if len(subscripts) != n_operands:
        raise ValueError(f"einsum: the equation has {len(subscripts)} operands' subscripts, "
                         f"but {n_operands} operands were given")
    if not arrow:
        letters = "".join(subscripts)
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return subscripts, output


@register
def einsum(*operands, equation):
    """out = sum over the letters missing from the output of the product of the operands
    (e.g. 'ij,jk->ik' is a matrix product). The gradient of operand k is the einsum of the
    output gradient with the other operands onto k's subscripts; letters that only k has
    (summed in k alone) come back by broadcasting. A letter repeated within one operand (a
    diagonal, 'ii->i') is not differentiable here (NotImplementedError in backward)."""
    subscripts, output = parse(equation, len(operands))
    out = np.einsum(f"{','.join(subscripts)}->{output}", *operands)

    def backward(grad, need):
        grads = []
        for k, (subs, a) in enumerate(zip(subscripts, operands, strict=True)):
            if not need[k]:
                grads.append(None)
                continue
            if len(set(subs)) != len(subs):
                raise NotImplementedError(f"einsum: the gradient of an operand with a repeated "
                                          f"subscript ({subs!r}) is not supported")
            others = [(s, o) for j, (s, o) in enumerate(zip(subscripts, operands, strict=True))
                      if j != k]
            reachable = set(output).union(*(set(s) for s, _ in others))
            kept = "".join(c for c in subs if c in reachable)
            spec = ",".join([output] + [s for s, _ in others]) + "->" + kept
            g = np.einsum(spec, grad, *[o for _, o in others])
            lost = [i for i, c in enumerate(subs) if c not in reachable]
            if lost:
                g = np.broadcast_to(np.expand_dims(g, tuple(lost)), a.shape)
            grads.append(np.asarray(g, dtype=a.dtype))
        return tuple(grads)

    return np.asarray(out), backward
