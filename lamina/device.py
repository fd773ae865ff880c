"""``lm.device``: where tensors live. lamina computes with NumPy on the CPU, so ``"cpu"`` is the
only device a tensor can be on; other device types can be named (``lm.device("cuda")``, as in
torch, where the object exists without the hardware) but asking for them is a clear error.
"""

from __future__ import annotations

KNOWN_TYPES = ("cpu", "cuda", "mps", "xpu", "xla", "meta", "hip", "ipu", "mtia", "hpu",
               "privateuseone")


class device:  # noqa: N801 - torch's name
    """A device name, ``lm.device("cpu")``, ``lm.device("cuda:0")`` or ``lm.device("cuda", 0)``.

    Attributes:
        type: the device type, ``"cpu"``, ``"cuda"``, ...
        index: the device index, or None.

    Raises:
        RuntimeError: an unknown device type (as torch).
    """

    __slots__ = ("type", "index")

    def __init__(self, type: str | device, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index if index is None else index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        name = type
        if ":" in type:
            if index is not None:
                raise ValueError(f"device: {type!r} already names an index; do not pass index")
            type, _, number = type.partition(":")
            if not number.isdigit():
                raise RuntimeError(f"Invalid device string: {name!r}")
            index = int(number)
        if type not in KNOWN_TYPES:
            raise RuntimeError(f"Expected one of {', '.join(KNOWN_TYPES)} device type at start "
                               f"of device string: {name}")
        if index is not None and (not isinstance(index, int) or index < 0):
            raise RuntimeError(f"Device index must be a non-negative integer, got {index!r}")
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name, value):
        raise AttributeError("device objects are immutable")

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        if not isinstance(other, device):
            return NotImplemented
        return self.type == other.type and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return device, (self.type, self.index)


CPU = device("cpu")


def is_device(value) -> bool:
    """Whether ``value`` names a device: a :class:`device`, or a string such as ``"cpu"`` or
    ``"cuda:0"`` (not a dtype name such as ``"float64"``)."""
    if isinstance(value, device):
        return True
    if isinstance(value, str):
        return value.partition(":")[0] in KNOWN_TYPES
    return False


def check_device(value, where: str) -> device:
    """``value`` as a :class:`device` if lamina can put tensors there (the CPU; None means the
    CPU too).

    Raises:
        RuntimeError: the device exists in torch but not in lamina (``"cuda"``, ``"mps"``...).
    """
    if value is None:
        return CPU
    if isinstance(value, int) and not isinstance(value, bool):
        value = device("cuda", value)
    dev = value if isinstance(value, device) else device(value)
    if dev.type != "cpu":
        raise RuntimeError(f"{where}: lamina runs on the CPU only (NumPy), device {str(dev)!r} "
                           f"is not available; use 'cpu' (lm.cuda.is_available() is False)")
    return dev
