"""lamina.utils.data: torch.utils.data's names, signature and item types."""

import numpy as np

import lamina as torch  # the namespace as a PyTorch script sees it
import lamina.utils.data
from lamina.utils.data import (
    BatchSampler,
    DataLoader,
    SequentialSampler,
    TensorDataset,
    default_collate,
)


def test_namespace_after_import_lamina():
    assert torch.utils.data.DataLoader is DataLoader
    assert lamina.utils.data.TensorDataset is torch.data.TensorDataset


def test_tensor_dataset_items_are_tensors():
    ds = TensorDataset(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([0, 1]))
    x, y = ds[1]
    assert isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
    assert x.tolist() == [3.0, 4.0] and y.dtype == np.int64 and y.shape == ()


def test_torch_signature_defaults_and_positional_order():
    ds = TensorDataset(np.arange(5.0))
    assert len(DataLoader(ds)) == 5  # batch_size=1
    sampler = [4, 3, 2, 1, 0]
    batches = [b[0].tolist() for b in DataLoader(ds, 2, None, sampler)]
    assert batches == [[4.0, 3.0], [2.0, 1.0], [0.0]]
    by_batch = DataLoader(ds, batch_sampler=BatchSampler(SequentialSampler(ds), 3, True))
    assert [b[0].tolist() for b in by_batch] == [[0.0, 1.0, 2.0]] and len(by_batch) == 1


def test_default_collate_torch_dtypes():
    assert default_collate([1, 2]).dtype == np.int64
    assert default_collate([0.5, 1.0]).dtype == np.float64
    assert default_collate([True, False]).dtype == np.bool_
    x = default_collate([np.zeros((2, 2), np.uint8), np.ones((2, 2), np.uint8)])
    assert x.dtype.kind in "iu" and x.shape == (2, 2, 2) and x.tolist()[1] == [[1, 1], [1, 1]]
    assert default_collate(["a", "b"]) == ["a", "b"]


def test_custom_collate_with_workers():
    loader = DataLoader(TensorDataset(np.arange(6)), batch_size=2, num_workers=2,
                        collate_fn=lambda samples: [int(s[0]) * 10 for s in samples])
    assert list(loader) == [[0, 10], [20, 30], [40, 50]]


def test_batch_size_none_yields_single_converted_samples():
    ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.arange(3))
    loader = DataLoader(ds, batch_size=None)
    items = list(loader)
    assert len(loader) == 3 and len(items) == 3
    x, y = items[1]
    assert x.shape == (2,) and x.tolist() == [2.0, 3.0] and int(y) == 1
    with_workers = [tuple(t.tolist() for t in item)
                    for item in DataLoader(ds, batch_size=None, num_workers=2)]
    assert with_workers == [tuple(t.tolist() for t in item) for item in items]
    assert list(DataLoader(ds, batch_size=None, sampler=[2, 0],
                           collate_fn=lambda s: int(s[1]))) == [2, 0]
    assert lamina.utils.data.default_convert({"a": np.ones(2), "b": "s"})["b"] == "s"
    import pytest

    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
