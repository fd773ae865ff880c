"""Optimizers and learning-rate schedulers (PyTorch: ``torch.optim``)."""

from lamina.optim import lr_scheduler
from lamina.optim.adadelta import Adadelta
from lamina.optim.adagrad import Adagrad
from lamina.optim.adam import Adam, AdamW
from lamina.optim.adamax import Adamax
from lamina.optim.lbfgs import LBFGS
from lamina.optim.nadam import NAdam
from lamina.optim.optimizer import Optimizer
from lamina.optim.radam import RAdam
from lamina.optim.rmsprop import RMSprop
from lamina.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "Adadelta", "Adamax",
           "NAdam", "RAdam", "LBFGS", "lr_scheduler"]
