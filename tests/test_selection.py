"""max/min/sort/topk/kthvalue/median/mode/gather/index_select (lamina/selection.py): torch's
(values, indices) named tuples, float64 parity of values, indices and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import lamina as lm

A = np.random.default_rng(3).standard_normal((4, 5))
TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 0.0, 2.0], [5.0, 1.0, 1.0, 1.0]])
C3 = np.random.default_rng(4).standard_normal((2, 3, 4))

CASES = [
    ("max_all", lambda x: x.max(), (A,)),
    ("min_all", lambda x: x.min(), (A,)),
    ("max_dim", lambda x: x.max(1), (A,)),
    ("max_dim0_keepdim", lambda x: x.max(0, keepdim=True), (A,)),
    ("max_kw", lambda x: x.max(dim=-1), (C3,)),
    ("min_dim", lambda x: x.min(1), (A,)),
    ("max_ties_first_index", lambda x: x.max(1), (TIES,)),
    ("min_ties_first_index", lambda x: x.min(1), (TIES,)),
    ("max_elementwise", lambda x, y: x.max(y), (A, A[::-1].copy())),
    ("argmax_keepdim", lambda x: x.argmax(1, keepdim=True), (A,)),
    ("argmin", lambda x: x.argmin(0), (A,)),
    ("sort", lambda x: x.sort(), (A,)),
    ("sort_dim0_descending", lambda x: x.sort(0, descending=True), (A,)),
    ("sort_stable_ties", lambda x: x.sort(dim=1, stable=True), (TIES,)),
    ("sort_stable_ties_descending", lambda x: x.sort(dim=1, descending=True, stable=True),
     (TIES,)),
    ("argsort", lambda x: x.argsort(1, descending=True), (A,)),
    ("topk", lambda x: x.topk(2), (A,)),
    ("topk_smallest_dim0", lambda x: x.topk(3, dim=0, largest=False), (A,)),
    ("kthvalue", lambda x: x.kthvalue(2, 1), (A,)),
    ("kthvalue_keepdim", lambda x: x.kthvalue(3, 0, keepdim=True), (A,)),
    ("median_all_even", lambda x: x.median(), (A,)),
    ("median_dim_even", lambda x: x.median(1), (np.random.default_rng(5).standard_normal((3, 4)),)),
    ("median_dim_odd", lambda x: x.median(0), (A[:3],)),
    ("mode", lambda x: x.mode(1), (np.array([[1.0, 2.0, 2.0, 3.0], [4.0, 4.0, 5.0, 5.0]]),)),
    ("mode_dim0", lambda x: x.mode(0), (np.array([[1.0, 2.0], [1.0, 3.0], [2.0, 3.0]]),)),
    ("amax_dims", lambda x: x.amax((0, 2)), (C3,)),
    ("max_3d", lambda x: x.max(1), (C3,)),
    ("sort_3d", lambda x: x.sort(1), (C3,)),
    ("topk_3d", lambda x: x.topk(2, dim=1), (C3,)),
]


@pytest.mark.parametrize("name, fn, inputs", CASES, ids=[c[0] for c in CASES])
def test_matches_torch(parity, name, fn, inputs):
    parity.call(fn, fn, *inputs)


@pytest.mark.parametrize("method", ["max", "min", "sort", "topk", "kthvalue", "median", "mode"])
def test_named_tuple_fields_and_unpacking(torch, method):
    args = {"topk": (2, 1), "kthvalue": (2, 1)}.get(method, (1,))
    ours, theirs = getattr(lm.tensor(A), method)(*args), getattr(torch.tensor(A), method)(*args)
    assert type(ours).__name__ == type(theirs).__name__ == method
    values, indices = ours
    assert values is ours.values and indices is ours.indices and ours[0] is values
    np.testing.assert_array_equal(indices.numpy(), theirs.indices.numpy())
    assert repr(ours).startswith(f"lamina.return_types.{method}(\nvalues=tensor(")


def test_prediction_idiom_at_batch_two_gives_indices(torch):
    # at batch 2 unpacking values alone would also succeed: the indices must be what comes out
    out = np.array([[0.1, 2.0, -1.0], [3.0, 0.5, 0.2]])
    _, pred = lm.max(lm.tensor(out), 1)
    _, pred_t = torch.max(torch.tensor(out), 1)
    assert pred.dtype == lm.long and pred.tolist() == pred_t.tolist() == [1, 0]
    _, pred = lm.tensor(out).data.max(1)
    assert pred.tolist() == [1, 0]
    labels = lm.tensor([1, 2])
    assert (pred == labels).sum().item() == 1


def test_gather_and_index_select(parity):
    index = np.array([[0, 2], [1, 1], [3, 0], [4, 4]])
    parity.call(lambda x: x.gather(1, lm.tensor(index)),
                lambda x: x.gather(1, parity.torch.tensor(index)), A)
    rows = np.array([2, 0, 2])
    parity.call(lambda x: x.index_select(0, lm.tensor(rows)),
                lambda x: x.index_select(0, parity.torch.tensor(rows)), A)
    parity.call(lambda x: lm.gather(x, 0, lm.tensor(index[:2].T)),
                lambda x: parity.torch.gather(x, 0, parity.torch.tensor(index[:2].T)), A)


def test_bad_arguments():
    x = lm.tensor(A)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        x.max(2)
    with pytest.raises(RuntimeError, match=r"k \(6\) is out of range"):
        x.topk(6)
    with pytest.raises(RuntimeError, match="gather: index must be an integer tensor"):
        x.gather(1, lm.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="expected a non-empty tensor"):
        lm.zeros(0).max()


def test_numpy_style_axis_keeps_values_only():
    x = lm.tensor(A)
    np.testing.assert_allclose(x.max(axis=1).numpy(), A.max(axis=1))
    np.testing.assert_allclose(x.min(axis=(0, 1), keepdims=True).numpy(),
                               A.min(axis=(0, 1), keepdims=True))
