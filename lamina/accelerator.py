"""``lm.accelerator`` (torch 2.13's device-agnostic API): lamina has no accelerator, so
``is_available()`` is False and ``current_accelerator()`` is None, as torch on a CPU-only
machine; scripts written as ``torch.accelerator.current_accelerator() if
torch.accelerator.is_available() else "cpu"`` pick the CPU."""

from __future__ import annotations


def is_available() -> bool:
    """False: lamina computes on the CPU only."""
    return False


def current_accelerator(check_available: bool = False) -> None:
    """None: there is no accelerator (torch returns None too when none is present)."""
    return None


def device_count() -> int:
    """0: lamina has no accelerator devices."""
    return 0
