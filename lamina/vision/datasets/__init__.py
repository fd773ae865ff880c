"""torchvision.datasets: MNIST, FashionMNIST, KMNIST and CIFAR10 in torchvision's on-disk layout."""

from lamina.vision.datasets.cifar import CIFAR10
from lamina.vision.datasets.mnist import KMNIST, MNIST, FashionMNIST
from lamina.vision.datasets.vision import VisionDataset

__all__ = ["VisionDataset", "MNIST", "FashionMNIST", "KMNIST", "CIFAR10"]
