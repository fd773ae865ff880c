"""lamina's file container: a safetensors file with string metadata and a checksum.

A file is ``8-byte little-endian header length + JSON header + tensor data``
(https://huggingface.co/docs/safetensors). The header maps tensor names to
``{"dtype", "shape", "data_offsets"}`` and ``"__metadata__"`` to string -> string entries:
``"format": "lamina"``, ``"format_version"``, ``"lamina_version"``, what the file holds (see
:mod:`lamina.io.model` and :mod:`lamina.io.objects`) and ``"checksum"``:
``"sha256:" + hex`` of the canonical JSON of the other metadata entries, then, per tensor in
name order, its name, NumPy dtype and shape as JSON followed by its bytes. Any change to a
tensor's bytes, dtype or shape, or to any metadata entry, changes the checksum.

:func:`read_file` validates everything before it returns: magic bytes of other formats, the
header's size, JSON and entries (dtype, shape, offsets that tile the data section exactly),
and the checksum. Arrays are only materialised on request, each at most as large as its bytes
in the file. Every problem is a ValueError naming the file.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

__all__ = ["FORMAT_VERSION", "DTYPES", "write_bytes", "read_file", "read_bytes", "parse",
           "is_zip", "RawFile", "checksum", "source_name"]

FORMAT_VERSION = "2"
CHECKSUM_KEY = "checksum"
_MAX_HEADER = 100 * 1024 * 1024
DTYPES = {"BOOL": np.dtype(np.bool_), "U8": np.dtype("<u1"), "I8": np.dtype("<i1"),
           "I16": np.dtype("<i2"), "U16": np.dtype("<u2"), "F16": np.dtype("<f2"),
           "I32": np.dtype("<i4"), "U32": np.dtype("<u4"), "F32": np.dtype("<f4"),
           "I64": np.dtype("<i8"), "U64": np.dtype("<u8"), "F64": np.dtype("<f8")}
_MAGIC = ((b"\x80", "a Python pickle payload (lamina never unpickles files)"),
          (b"PK\x03\x04", "a zip archive (a PyTorch .pt/.pth file? lm.load reads the "
                          "state_dicts in those: model.load_state_dict(lm.load(path)))"),
          (b"\x93NUMPY", "a NumPy .npy file"),
          (b"\x89HDF", "an HDF5 file (a Keras .h5 model?)"))

Source = str | os.PathLike | IO[bytes]


def source_name(source: Source) -> str:
    """The path of ``source``, or a description of a file object."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    name = getattr(source, "name", None)
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def _hash_tensor(h: Any, name: str, dtype: np.dtype, shape: tuple, data: Any) -> None:
    h.update(json.dumps([name, dtype.str, list(shape)]).encode())
    h.update(data)


def checksum(metadata: dict[str, str], tensors: dict[str, tuple[np.dtype, tuple, Any]]) -> str:
    """The file checksum: sha256 over the metadata (without the checksum) and the tensors.

    Args:
        metadata: the header's string metadata.
        tensors: name -> (little-endian dtype, shape, bytes-like data).
    """
    h = hashlib.sha256()
    rest = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    h.update(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(tensors):
        _hash_tensor(h, name, *tensors[name])
    return "sha256:" + h.hexdigest()


def write_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The bytes of a safetensors file holding ``tensors`` and ``metadata`` plus its checksum."""
    from safetensors.numpy import save as st_save

    arrays = {k: np.asarray(v, dtype=v.dtype.newbyteorder("<"), order="C") for k, v in
              tensors.items()}
    metadata = {k: v for k, v in metadata.items() if k != CHECKSUM_KEY}
    metadata[CHECKSUM_KEY] = checksum(metadata, {
        k: (v.dtype, v.shape, memoryview(v.reshape(-1)).cast("B")) for k, v in arrays.items()})
    return st_save(arrays, metadata=metadata)


@dataclass
class RawFile:
    """A validated file: its name, string metadata and tensor table (not yet arrays).

    Attributes:
        name: the path (or file object's name) for messages.
        metadata: the header's ``__metadata__``.
        entries: tensor name -> (NumPy dtype, shape, (start, end) in ``data``).
        data: the file's bytes.
    """

    name: str
    metadata: dict[str, str]
    entries: dict[str, tuple[np.dtype, tuple[int, ...], tuple[int, int]]]
    data: bytes

    @property
    def where(self) -> str:
        return f"lm.load({self.name!r})"

    def array(self, name: str) -> np.ndarray:
        """A writable copy of tensor ``name``, in native byte order."""
        dtype, shape, (start, end) = self.entries[name]
        flat = np.frombuffer(self.data, dtype=dtype, count=math.prod(shape), offset=start)
        return flat.reshape(shape).astype(dtype.newbyteorder("="), copy=True)

    def arrays(self, names: Any = None) -> dict[str, np.ndarray]:
        """Copies of the tensors in ``names`` (all by default), in file order."""
        return {k: self.array(k) for k in (self.entries if names is None else names)}

    def json(self, key: str) -> Any:
        """The metadata entry ``key`` parsed as JSON.

        Raises:
            ValueError: the entry is not valid JSON.
        """
        try:
            return json.loads(self.metadata[key])
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digits limit
            raise ValueError(f"{self.where}: metadata {key!r} is not valid JSON ({exc})") \
                from None


def read_bytes(source: Source) -> tuple[str, bytes]:
    """The name and bytes of a path or binary file object (no validation yet)."""
    return _read_bytes(source)


def is_zip(data: bytes) -> bool:
    """Whether ``data`` starts like a zip archive (PyTorch's ``torch.save`` format)."""
    return data.startswith(b"PK\x03\x04")


def _read_bytes(source: Source) -> tuple[str, bytes]:
    name = source_name(source)
    if not isinstance(source, (str, os.PathLike)):
        if not callable(getattr(source, "read", None)):
            raise TypeError(f"lm.load: expected a path or a binary file object, got "
                            f"{type(source).__name__}")
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"lm.load({name!r}): the file object must be opened in binary mode "
                            f"('rb'), it returned {type(data).__name__}")
        return name, bytes(data)
    if not os.path.exists(name):
        raise FileNotFoundError(errno.ENOENT, "lm.load: no such file", name)
    if os.path.isdir(name):
        raise ValueError(f"lm.load: {name!r} is a directory, expected a lamina file")
    with open(name, "rb") as f:
        return name, f.read()


def _check_entries(header: dict, available: int, where: str) -> dict:
    entries = {}
    for name, entry in header.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise ValueError(f"{where}: tensor {name!r:.80} has a malformed header entry")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise ValueError(f"{where}: tensor {name!r:.80} has unsupported dtype "
                             f"{str(dtype)[:20]!r}; expected one of {sorted(DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > 32
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                           for d in shape)):
            raise ValueError(f"{where}: tensor {name!r:.80} has a bad shape {str(shape)[:80]}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(o, int) and not isinstance(o, bool) and o >= 0
                           for o in offsets)
                or offsets[0] > offsets[1]):
            raise ValueError(f"{where}: tensor {name!r:.80} has bad data offsets "
                             f"{str(offsets)[:80]}")
        if offsets[1] > available:
            raise ValueError(f"{where}: tensor {name!r:.80} needs bytes up to {offsets[1]} but "
                             f"the data section has {available}: the file is truncated")
        if offsets[1] - offsets[0] != math.prod(shape) * DTYPES[dtype].itemsize:
            raise ValueError(f"{where}: tensor {name!r:.80} of shape {shape} and dtype {dtype} "
                             f"does not match its {offsets[1] - offsets[0]} bytes")
        entries[name] = (DTYPES[dtype], tuple(shape), (offsets[0], offsets[1]))
    position = 0
    for name, (_, _, (start, end)) in sorted(entries.items(), key=lambda e: e[1][2]):
        if start != position:
            raise ValueError(f"{where}: tensor {name!r:.80} starts at byte {start} of the data "
                             f"section, expected {position} (overlapping or missing data)")
        position = end
    if position != available:
        raise ValueError(f"{where}: {available - position} bytes after the last tensor: the "
                         f"file was appended to or is not a safetensors file")
    return entries


def read_file(source: Source) -> RawFile:
    """Read and validate a safetensors file (header, entries, checksum); no arrays yet.

    Files of format_version 2 or later must carry a checksum; files without one (written by
    lamina's first format, or by safetensors itself) are accepted without.

    Raises:
        FileNotFoundError: no file at the path.
        TypeError: ``source`` is neither a path nor a binary file object.
        ValueError: anything wrong with the file; the message names it.
    """
    return parse(*_read_bytes(source))


def parse(name: str, data: bytes) -> RawFile:
    """Validate the bytes ``data`` of the file ``name`` (see :func:`read_file`)."""
    where = f"lm.load({name!r})"
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else -1
    looks_safetensors = 0 < size <= len(data) - 8 and data[8:9] == b"{"
    for magic, what in _MAGIC:
        if data.startswith(magic) and not looks_safetensors:
            raise ValueError(f"{where}: the file is {what}, not a lamina safetensors file")
    if len(data) < 8:
        raise ValueError(f"{where}: {len(data)} bytes is too short for a safetensors file "
                         f"(truncated or not a lamina file)")
    if size > min(len(data) - 8, _MAX_HEADER):
        raise ValueError(f"{where}: header length {size} exceeds the {len(data) - 8} bytes "
                         f"after it (truncated file, or not a safetensors file)")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, digits
        raise ValueError(f"{where}: the header is not valid JSON ({exc}); corrupt or not a "
                         f"safetensors file") from None
    if not isinstance(header, dict):
        raise ValueError(f"{where}: the header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ValueError(f"{where}: __metadata__ must map strings to strings")
    entries = _check_entries(header, len(data) - 8 - size, where)
    raw = RawFile(name, metadata, entries, data)
    _verify_checksum(raw, 8 + size, where)
    raw.entries = {k: (d, s, (a + 8 + size, b + 8 + size))
                   for k, (d, s, (a, b)) in entries.items()}
    return raw


def _verify_checksum(raw: RawFile, base: int, where: str) -> None:
    stored = raw.metadata.get(CHECKSUM_KEY)
    version = raw.metadata.get("format_version", "1")
    if stored is None:
        if raw.metadata.get("format") == "lamina" and version != "1":
            raise ValueError(f"{where}: the file has no checksum (format_version "
                             f"{version[:20]!r} requires one): edited or corrupt")
        return
    view = memoryview(raw.data)
    actual = checksum(raw.metadata, {k: (d, s, view[base + a:base + b])
                                     for k, (d, s, (a, b)) in raw.entries.items()})
    if stored != actual:
        raise ValueError(f"{where}: checksum mismatch (stored {stored[:24]!r}..., computed "
                         f"{actual[:24]!r}...): the file is corrupt or was edited")
