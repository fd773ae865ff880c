"""Load ``.npz`` archives into a dict of arrays, never unpickling.

This is the notes' ``data = np.load('foo.npz')`` (sec 12.1) with ``allow_pickle=False`` fixed, the
archive read eagerly and closed, and errors that name the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["NpzKeyError", "load_npz"]

# What numpy and zipfile raise on a truncated, corrupt or foreign file.
_CORRUPT_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError)
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member; an empty zip
_NPY_MAGIC = b"\x93NUMPY"


class NpzKeyError(KeyError, ValueError):
    """A requested key is not in the archive; catch it as ``KeyError`` or as ``ValueError``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def load_npz(
    path: str | os.PathLike[str], keys: str | Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Read arrays from an ``.npz`` archive (as written by ``np.savez``/``np.savez_compressed``).

    Pickle is never used (``allow_pickle=False``): unpickling a file can run arbitrary code, so an
    archive holding Python-object arrays is rejected instead of loaded.

    Args:
        path: the ``.npz`` file.
        keys: names of the arrays to read (a single name is accepted); ``None`` reads them all.

    Returns:
        A dict from name to array, in the order of ``keys`` (or of the archive when ``keys`` is
        ``None``). The file is closed when this returns.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        IsADirectoryError: ``path`` is a directory.
        ValueError: the file is not a valid ``.npz`` archive (not a zip, corrupt, a lone ``.npy``,
            a member that is not an array), or an array holds Python objects (needs pickle).
        NpzKeyError: a name in ``keys`` is not in the archive (a ``KeyError`` and a ``ValueError``);
            the message lists the names present.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "demo.npz")
        >>> np.savez(path, x=np.arange(3), y=np.eye(2))
        >>> sorted(load_npz(path))
        ['x', 'y']
        >>> load_npz(path, keys="x")["x"]
        array([0, 1, 2])
    """
    file = Path(os.fspath(path))
    if not file.exists():
        raise FileNotFoundError(f"load_npz(path='{file}'): no such file")
    if file.is_dir():
        raise IsADirectoryError(f"load_npz(path='{file}'): is a directory, expected an .npz file")
    wanted = None if keys is None else _as_key_list(keys)
    with open(file, "rb") as handle:
        magic = handle.read(len(_NPY_MAGIC))
    if magic.startswith(_NPY_MAGIC):
        raise _invalid(file, "it holds a single array (a .npy file); read it with np.load")
    if not magic.startswith(_ZIP_MAGICS):
        raise _invalid(file, f"not a zip archive (first bytes {magic!r})" if magic else "empty")

    try:
        archive = np.load(file, allow_pickle=False)
    except _CORRUPT_ERRORS as err:
        raise _invalid(file, err) from None

    with archive:
        present = list(archive.files)
        if wanted is None:
            wanted = present
        missing = [key for key in wanted if key not in present]
        if missing:
            raise NpzKeyError(
                f"load_npz(path='{file}'): no array named {', '.join(map(repr, missing))}; "
                f"the archive holds {present}"
            )
        return {key: _read_member(archive, key, file) for key in wanted}


def _as_key_list(keys: str | Iterable[str]) -> list[str]:
    key_list = [keys] if isinstance(keys, str) else list(keys)
    bad = [key for key in key_list if not isinstance(key, str)]
    if bad:
        raise TypeError(f"load_npz(keys=...): expected array names (str), received {bad!r}")
    return key_list


def _read_member(archive: np.lib.npyio.NpzFile, key: str, file: Path) -> np.ndarray:
    try:
        value = archive[key]
    except _CORRUPT_ERRORS as err:
        # numpy refuses object arrays with this wording when allow_pickle=False.
        if isinstance(err, ValueError) and "allow_pickle" in str(err):
            raise ValueError(
                f"load_npz(path='{file}'): array {key!r} holds Python objects (dtype=object), "
                "which would need pickle; lamina never unpickles (it can run arbitrary code). "
                "Re-save the array with a numeric or string dtype."
            ) from None
        raise _invalid(file, f"array {key!r} is corrupt ({type(err).__name__}: {err})") from None
    if not isinstance(value, np.ndarray):
        raise _invalid(file, f"member {key!r} is not a .npy array")
    return value


def _invalid(file: Path, reason: object) -> ValueError:
    return ValueError(f"load_npz: '{file}' is not a valid .npz file: {reason}")
