"""``torch.utils.data.distributed`` under its PyTorch name: :class:`DistributedSampler`."""

from lamina.data.distributed import DistributedSampler

__all__ = ["DistributedSampler"]
