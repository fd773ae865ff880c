"""``lm.autograd`` (PyTorch: ``torch.autograd``): user-defined differentiable operations
(:class:`Function`), gradients of outputs with respect to chosen inputs (:func:`grad`) and
anomaly detection (:func:`detect_anomaly`)."""

from lamina.autograd.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from lamina.autograd.function import Function, FunctionCtx, once_differentiable
from lamina.autograd.grad import backward, grad
from lamina.autograd.variable import Variable

__all__ = ["Function", "FunctionCtx", "once_differentiable", "grad", "backward", "Variable",
           "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]
