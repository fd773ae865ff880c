"""Autograd utilities (PyTorch: ``torch.autograd``): anomaly detection."""

from lamina.autograd.anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]
