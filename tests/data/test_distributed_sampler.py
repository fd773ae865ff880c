"""DistributedSampler's shares, checked without an MPI job (num_replicas and rank given); the
2-rank run is in tests/distributed/mpi_training.py."""

from __future__ import annotations

import pytest

from lamina.data import DistributedSampler


@pytest.mark.parametrize("n, replicas, drop_last", [(10, 3, False), (10, 3, True), (3, 7, False),
                                                    (12, 4, False), (12, 4, True), (1, 2, False)])
def test_sampler_shards_match_torch_without_shuffling(torch, n, replicas, drop_last):
    from torch.utils.data.distributed import DistributedSampler as TorchSampler

    for rank in range(replicas):
        ours = DistributedSampler(list(range(n)), replicas, rank, shuffle=False,
                                  drop_last=drop_last)
        theirs = TorchSampler(list(range(n)), replicas, rank, shuffle=False,
                              drop_last=drop_last)
        assert list(ours) == list(theirs)
        assert len(ours) == len(theirs)


@pytest.mark.parametrize("n, replicas", [(10, 3), (7, 2), (64, 8)])
def test_sampler_shards_are_a_partition_of_each_epoch(n, replicas):
    for epoch in range(3):
        shards = []
        for rank in range(replicas):
            sampler = DistributedSampler(range(n), replicas, rank, seed=11)
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
        assert len({len(s) for s in shards}) == 1
        together = [i for s in shards for i in s]
        assert sorted(set(together)) == list(range(n))
        assert len(together) - n == (-n) % replicas  # the padding repeats a few indices
    first = [list(DistributedSampler(range(n), replicas, 0, seed=11)) for _ in range(2)]
    assert first[0] == first[1]


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match=r"invalid rank 3.*\[0, 2\]"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    with pytest.raises(ValueError, match="num_replicas must be >= 1"):
        DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))  # no process group to ask


def test_sampler_drives_a_dataloader_and_has_torch_import_paths():
    import numpy as np

    from lamina.data import DataLoader, Sampler, TensorDataset
    from lamina.utils.data import DistributedSampler as UtilsSampler
    from lamina.utils.data.distributed import DistributedSampler as TorchPathSampler

    assert UtilsSampler is TorchPathSampler is DistributedSampler
    dataset = TensorDataset(np.arange(10.0)[:, None], np.arange(10))
    sampler = DistributedSampler(dataset, num_replicas=3, rank=1, shuffle=False)
    assert isinstance(sampler, Sampler)
    labels = [yb.tolist() for _, yb in DataLoader(dataset, batch_size=2, sampler=sampler)]
    assert labels == [[1, 4], [7, 0]]  # 1, 4, 7 and the padding's first index

