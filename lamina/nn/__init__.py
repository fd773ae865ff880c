"""Neural-network layers, losses and initialisers (PyTorch: ``torch.nn``)."""

import sys

from lamina import functional
from lamina.nn import init, parallel, utils
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
from lamina.nn.activation_more import (
    CELU,
    ELU,
    GELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    LogSigmoid,
    Mish,
    PReLU,
    Softplus,
    Softsign,
    Threshold,
)
from lamina.nn.container import ModuleList, Sequential
from lamina.nn.containers import ModuleDict, ParameterDict, ParameterList
from lamina.nn.conv import Conv2d, MaskedConv2d
from lamina.nn.conv_more import Conv1d, ConvTranspose2d
from lamina.nn.dropout import Dropout, Flatten
from lamina.nn.dropout_channel import Dropout1d, Dropout2d
from lamina.nn.embedding import Embedding
from lamina.nn.linear import Identity, Linear
from lamina.nn.loss import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from lamina.nn.loss_more import BCELoss, HuberLoss, KLDivLoss, SmoothL1Loss
from lamina.nn.module import Module, Parameter
from lamina.nn.normalization import BatchNorm1d, BatchNorm2d, GroupNorm, LayerNorm
from lamina.nn.pooling import AvgPool2d, MaxPool2d, Subsampling
from lamina.nn.pooling_more import (
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    MaxPool1d,
    Upsample,
)
from lamina.nn.recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell
from lamina.nn.regularization import l1_penalty, l2_penalty

# `lm.nn.functional` and `import lamina.nn.functional` are the module lamina.functional itself
sys.modules[__name__ + ".functional"] = functional

__all__ = [
    "functional", "init", "parallel", "utils", "Module", "Parameter", "Sequential", "ModuleList",
    "ModuleDict", "ParameterList", "ParameterDict", "Linear",
    "Identity", "Dropout", "Flatten", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Swish", "SiLU",
    "ScaledTanh", "Softmax", "LogSoftmax", "MSELoss", "L1Loss", "CrossEntropyLoss", "NLLLoss",
    "BCEWithLogitsLoss", "l1_penalty", "l2_penalty", "Conv2d", "MaskedConv2d", "MaxPool2d",
    "AvgPool2d", "Subsampling",
    # normalisation, embedding, recurrent, more convolutions, pooling, activations, losses
    "BatchNorm1d", "BatchNorm2d", "LayerNorm", "GroupNorm", "Dropout1d", "Dropout2d",
    "Embedding", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "Conv1d",
    "ConvTranspose2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "MaxPool1d", "AvgPool1d",
    "Upsample", "GELU", "ELU", "SELU", "CELU", "Softplus", "Mish", "Hardswish", "Hardsigmoid",
    "PReLU", "LogSigmoid", "Softsign", "Threshold", "BCELoss", "HuberLoss", "SmoothL1Loss",
    "KLDivLoss",
]
