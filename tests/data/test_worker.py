"""DataLoader(num_workers > 0): worker processes give the same batches in the same order."""

import os

import numpy as np
import pytest

import lamina as lm
from lamina.data import (
    DataLoader,
    Dataset,
    IterableDataset,
    TensorDataset,
    get_worker_info,
)


class _Pids(Dataset):
    """Sample i is (i, pid of the process that loaded it, a draw from lamina's generator)."""

    def __len__(self):
        return 12

    def __getitem__(self, index):
        return index, os.getpid(), float(lm.random.generator().random())


class _Fails(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        if index == 2:
            raise KeyError("sample 2 is broken")
        return index


class _Stream(IterableDataset):
    def __iter__(self):
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        return iter(range(start, 10, step))


def _values(loader):
    return [tuple(t.tolist() for t in batch) for batch in loader]


def test_workers_give_the_same_batches_in_order():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    ds = TensorDataset(x, np.arange(20))
    lm.manual_seed(5)
    single = [_values(DataLoader(ds, 3, shuffle=True)) for _ in range(2)]
    lm.manual_seed(5)
    multi = [_values(DataLoader(ds, 3, shuffle=True, num_workers=2)) for _ in range(2)]
    assert single == multi and single[0] != single[1]


def test_workers_are_other_processes_seeded_per_worker():
    loader = DataLoader(_Pids(), batch_size=2, num_workers=3, generator=7)
    batches = list(loader)
    indices = [i for b in batches for i in b[0].tolist()]
    pids = [p for b in batches for p in b[1].tolist()]
    assert indices == list(range(12))
    assert os.getpid() not in pids and len(set(pids)) == 3
    # batch k was loaded by worker k mod 3: its pid repeats every third batch
    assert [b[1].tolist()[0] for b in batches][:3] == [b[1].tolist()[0] for b in batches][3:6]
    draws = [b[2].tolist() for b in batches]
    again = [b[2].tolist() for b in DataLoader(_Pids(), batch_size=2, num_workers=3, generator=7)]
    assert draws == again  # seeds: base_seed (from the generator) + worker id
    assert draws[0] != draws[1]


def test_worker_init_fn_and_worker_info(tmp_path):
    def init(worker_id):
        info = get_worker_info()
        (tmp_path / f"w{worker_id}").write_text(f"{info.id} {info.num_workers}")

    list(DataLoader(TensorDataset(np.arange(8)), 2, num_workers=2, worker_init_fn=init))
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["0 2", "1 2"]
    assert get_worker_info() is None


def test_worker_error_is_raised_with_its_type():
    with pytest.raises(KeyError, match="sample 2 is broken"):
        list(DataLoader(_Fails(), batch_size=1, num_workers=2, collate_fn=list))


def test_iterable_dataset_sharded_by_worker_info():
    single = [b.tolist() for b in DataLoader(_Stream(), batch_size=3)]
    assert single == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    multi = [b.tolist() for b in DataLoader(_Stream(), batch_size=3, num_workers=2)]
    assert multi == [[0, 2, 4], [1, 3, 5], [6, 8], [7, 9]]


def test_persistent_workers_keep_their_processes():
    loader = DataLoader(_Pids(), batch_size=4, num_workers=2, persistent_workers=True,
                        prefetch_factor=1)
    first = {p for b in loader for p in b[1].tolist()}
    second = {p for b in loader for p in b[1].tolist()}
    assert first == second and len(first) == 2
    pool = loader._pool
    loader.__del__()
    assert pool.processes == []


def test_abandoned_epoch_does_not_leak_into_the_next():
    loader = DataLoader(TensorDataset(np.arange(30)), batch_size=2, num_workers=2,
                        persistent_workers=True)
    iterator = iter(loader)
    next(iterator)
    assert [b[0].tolist() for b in loader][0] == [0, 1]
    loader.__del__()


def test_option_errors():
    ds = TensorDataset(np.arange(4))
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_sampler"):
        DataLoader(ds, batch_sampler=[[0, 1]], drop_last=True)
