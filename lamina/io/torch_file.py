"""Read PyTorch ``torch.save`` files (zip) of state_dicts without torch and without risk.

A ``.pt``/``.pth`` file written by ``torch.save`` is a zip archive: ``<name>/data.pkl`` (a
pickle of the saved object), ``<name>/data/<key>`` (the raw bytes of each storage) and
``<name>/byteorder``. The pickle is read by an allow-list unpickler, the idea of
``torch.load(weights_only=True)``: it can only rebuild dicts, ``OrderedDict``, lists, tuples,
numbers, strings, None, bools and tensors (``torch._utils._rebuild_tensor_v2`` /
``_rebuild_parameter`` over the typed storages). Any other global is refused before anything
is called, so no code from the file ever runs.

Everything is checked before arrays are built: the archive (stored entries only, sizes within
the file), each storage's byte count against its element count, each tensor's size, stride and
offset against its storage, and the total of the tensors against the data in the file.
Tensors come back as lamina Tensors (``requires_grad`` kept); bfloat16 becomes float32.
"""

from __future__ import annotations

import io
import math
import pickle
import zipfile
from collections import OrderedDict
from typing import Any

import numpy as np

from lamina.tensor import Tensor

__all__ = ["load_torch_zip"]

_STORAGES = {"FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
             "BFloat16Storage": "bf16", "LongStorage": "<i8", "IntStorage": "<i4",
             "ShortStorage": "<i2", "CharStorage": "i1", "ByteStorage": "u1",
             "BoolStorage": "?"}
_MAX_NDIM = 32


class _StorageType:
    """A ``torch.XStorage`` named in the pickle: only its element type."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype("<u2") if _STORAGES[name] == "bf16" else np.dtype(_STORAGES[name])


class _Storage:
    """One storage's elements, read from the archive."""

    def __init__(self, array: np.ndarray, bfloat16: bool) -> None:
        self.array, self.bfloat16 = array, bfloat16


class _TensorHolder:
    """A tensor rebuilt from the pickle; a plain object so that BUILD cannot reach a Tensor."""

    def __init__(self, array: np.ndarray, requires_grad: bool) -> None:
        self.array, self.requires_grad = array, requires_grad

    def __setstate__(self, state: Any) -> None:  # a BUILD opcode: nothing to restore
        pass


class _StateDict(OrderedDict):
    """``collections.OrderedDict`` in the pickle; torch's ``_metadata`` state is dropped."""

    def __setstate__(self, state: Any) -> None:
        pass


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, prefix: str, budget: int, where: str) -> None:
        self.archive, self.prefix, self.where = archive, prefix, where
        self.budget = budget  # elements the tensors may still take
        self.storages: dict[str, _Storage] = {}

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.where}: {message}")

    def storage(self, pid: Any) -> _Storage:
        if (not isinstance(pid, tuple) or len(pid) != 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)
                or not isinstance(pid[4], int) or isinstance(pid[4], bool) or pid[4] < 0):
            raise self.fail(f"unexpected persistent id {str(pid)[:80]!r}; only tensor storages "
                            f"are allowed")
        kind, key, numel = pid[1], pid[2], pid[4]
        if key in self.storages:
            return self.storages[key]
        name = f"{self.prefix}data/{key}"
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise self.fail(f"storage {key[:40]!r} is missing from the archive") from None
        if info.file_size != numel * kind.dtype.itemsize:
            raise self.fail(f"storage {key[:40]!r} holds {info.file_size} bytes, {numel} "
                            f"elements of {kind.name} need {numel * kind.dtype.itemsize}")
        array = np.frombuffer(self.archive.read(name), dtype=kind.dtype).copy()
        storage = _Storage(array, kind.name == "BFloat16Storage")
        self.storages[key] = storage
        return storage

    def rebuild_tensor(self, storage: Any, offset: Any, size: Any, stride: Any,
                       requires_grad: Any = False, hooks: Any = None,
                       metadata: Any = None) -> _TensorHolder:
        if not isinstance(storage, _Storage):
            raise self.fail("a tensor must be built from a storage")
        ints = (isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride) <= _MAX_NDIM
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0
                        for v in (offset, *size, *stride)))
        if not ints:
            raise self.fail(f"bad tensor size {str(size)[:60]}, stride {str(stride)[:60]} or "
                            f"offset {str(offset)[:20]}")
        count = math.prod(size)
        available = storage.array.size
        last = offset + sum((n - 1) * s for n, s in zip(size, stride, strict=True)) \
            if count else offset - 1
        if last >= available or count > available:
            raise self.fail(f"a tensor of size {size} and stride {stride} at offset {offset} "
                            f"does not fit its storage of {available} elements")
        self.budget -= count
        if self.budget < 0:
            raise self.fail("the tensors take more elements than the file holds")
        base = storage.array
        itemsize = base.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[offset:], shape=size, strides=tuple(s * itemsize for s in stride),
            writeable=False) if count else np.empty(size, base.dtype)
        array = np.array(view, copy=True)
        if storage.bfloat16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return _TensorHolder(array, requires_grad is True)

    def rebuild_parameter(self, data: Any, requires_grad: Any = True, hooks: Any = None,
                          state: Any = None) -> _TensorHolder:
        if not isinstance(data, _TensorHolder):
            raise self.fail("a parameter must wrap a tensor")
        return _TensorHolder(data.array, requires_grad is True)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, reader: _Reader) -> None:
        super().__init__(io.BytesIO(data))
        self.reader = reader

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return _StateDict
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self.reader.rebuild_tensor
        if module == "torch._utils" and name in ("_rebuild_parameter",
                                                 "_rebuild_parameter_with_state"):
            return self.reader.rebuild_parameter
        raise self.reader.fail(f"the pickle names {module[:60]}.{name[:60]}, which is not on "
                               f"the allow-list (only state_dicts of tensors can be read; save "
                               f"model.state_dict() in PyTorch)")

    def persistent_load(self, pid: Any) -> Any:
        return self.reader.storage(pid)


def _convert(value: Any, where: str, depth: int = 0) -> Any:
    if depth > 64:
        raise ValueError(f"{where}: the object is nested deeper than 64 levels")
    if isinstance(value, _TensorHolder):
        return Tensor(value.array, requires_grad=value.requires_grad
                      and value.array.dtype.kind == "f")
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, dict):
        out = OrderedDict() if isinstance(value, OrderedDict) else {}
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool, tuple)) and k is not None:
                raise ValueError(f"{where}: unexpected dict key of type {type(k).__name__}")
            out[k] = _convert(v, where, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        items = [_convert(v, where, depth + 1) for v in value]
        return items if isinstance(value, list) else tuple(items)
    raise ValueError(f"{where}: unexpected {type(value).__name__} in the pickle")


def load_torch_zip(name: str, data: bytes) -> Any:
    """The object in a ``torch.save`` zip archive (``data``), tensors as lamina Tensors.

    Raises:
        ValueError: a damaged archive, a pickle that names anything but the allowed globals
            (a whole pickled Module, say), or tensors that do not fit their storages; the
            message names the file.
    """
    where = f"lm.load({name!r})"
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            KeyError, IndexError, UnicodeDecodeError, NotImplementedError) as exc:
        raise ValueError(f"{where}: not a readable zip archive ({exc})") from None
    total = sum(i.file_size for i in infos)
    if any(i.compress_type != zipfile.ZIP_STORED for i in infos) or total > len(data):
        raise ValueError(f"{where}: a zip archive with compressed entries or sizes beyond the "
                         f"file; PyTorch writes stored entries only")
    pickles = [i.filename for i in infos if i.filename.endswith("/data.pkl")
               and i.filename.count("/") == 1]
    if len(pickles) != 1:
        raise ValueError(f"{where}: a zip archive without exactly one <name>/data.pkl; not a "
                         f"torch.save file")
    prefix = pickles[0][:-len("data.pkl")]
    try:
        if f"{prefix}byteorder" in archive.namelist() and \
                archive.read(f"{prefix}byteorder") != b"little":
            raise ValueError(f"{where}: only little-endian torch files can be read")
        reader = _Reader(archive, prefix, total, where)
        result = _Unpickler(archive.read(pickles[0]), reader).load()
    except ValueError as exc:
        if str(exc).startswith(where):
            raise
        raise ValueError(f"{where}: corrupt pickle in the torch file ({exc})") from None
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, TypeError, KeyError,
            IndexError, AttributeError, OverflowError, RecursionError, MemoryError,
            UnicodeDecodeError, NotImplementedError, OSError, LookupError) as exc:
        raise ValueError(f"{where}: corrupt torch file ({type(exc).__name__}: "
                         f"{str(exc)[:200]})") from None
    return _convert(result, where)
