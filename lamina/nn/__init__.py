"""Neural-network layers, losses and initialisers (PyTorch: ``torch.nn``)."""

import sys

from lamina import functional
from lamina.nn import init, parallel
from lamina.nn.activation import (
    LeakyReLU,
    LogSoftmax,
    ReLU,
    ScaledTanh,
    Sigmoid,
    SiLU,
    Softmax,
    Swish,
    Tanh,
)
from lamina.nn.container import ModuleList, Sequential
from lamina.nn.conv import Conv2d, MaskedConv2d
from lamina.nn.dropout import Dropout, Flatten
from lamina.nn.linear import Identity, Linear
from lamina.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from lamina.nn.module import Module, Parameter
from lamina.nn.pooling import AvgPool2d, MaxPool2d, Subsampling
from lamina.nn.regularization import l1_penalty, l2_penalty

# `lm.nn.functional` and `import lamina.nn.functional` are the module lamina.functional itself
sys.modules[__name__ + ".functional"] = functional

__all__ = [
    "functional", "init", "parallel", "Module", "Parameter", "Sequential", "ModuleList", "Linear",
    "Identity", "Dropout", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Swish", "SiLU",
    "ScaledTanh", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss",
    "BCEWithLogitsLoss", "l1_penalty", "l2_penalty", "Conv2d", "MaskedConv2d", "MaxPool2d",
    "AvgPool2d", "Subsampling",
]
