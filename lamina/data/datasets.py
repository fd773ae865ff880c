"""Datasets (``lm.datasets``): MNIST from a file, the cache, a download or the shipped subset."""

from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .npz import load_npz

__all__ = ["MNIST_SHA256", "MNIST_URL", "mnist"]

#: Where ``mnist()`` downloads from when ``url=`` and ``$LAMINA_MNIST_URL`` are not given (Keras').
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
#: sha256 of the file at ``MNIST_URL``.
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48938e3fa7ec5c3"
#: sha256 of the re-saved copy this project tests with (``../shared/data/mnist.npz``): same arrays.
MNIST_SHARED_SHA256 = "06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64"

_FILENAME = "mnist.npz"
_SMALL_FILE = "mnist_small.npz"
_KEYS = ("x_train", "y_train", "x_test", "y_test")
_TIMEOUT_S = 60.0
_CHUNK_BYTES = 1 << 16
_HEX64 = re.compile(r"[0-9a-f]{64}")

Split = tuple[np.ndarray, np.ndarray]


def mnist(
    path: str | os.PathLike[str] | None = None,
    subset: str | None = None,
    *,
    download: bool | None = None,
    url: str | None = None,
    sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[Split, Split]:
    """Load MNIST as ``(x_train, y_train), (x_test, y_test)``.

    The first of these that exists is read:

    1. ``subset="small"``: the class-balanced subset shipped inside lamina (6,000 training images,
       600 per digit; 1,000 test images, 100 per digit), so a fresh machine needs no file.
    2. ``path``: an ``.npz`` file, or a directory holding ``mnist.npz``. A ``path`` that does not
       exist is an error (no fallback: a typo must not silently load other data).
    3. ``$LAMINA_DATA``: a file or a directory, as ``path``.
    4. The user cache: ``cache_dir`` or ``$LAMINA_CACHE`` or ``$XDG_CACHE_HOME/lamina`` or
       ``~/.cache/lamina``, file ``mnist.npz``.
    5. A download into the user cache from ``url`` or ``$LAMINA_MNIST_URL`` or ``MNIST_URL``,
       unless ``download=False`` (or ``download=None`` and ``$LAMINA_OFFLINE`` is set to anything
       but ``""``/``"0"``). The file is written to a temporary file beside the cache file, its
       SHA-256 checked, then renamed into place, so the cache never holds a partial file.

    The archive must hold ``x_train``, ``y_train``, ``x_test``, ``y_test`` (Keras' ``mnist.npz``
    layout; sha256 ``MNIST_SHA256``). The full copy used by this project's tests and benchmarks,
    ``../shared/data/mnist.npz``, has sha256
    ``06af5dfe73b70e3bc1c36439982b18a8d76803db9b544f6fdf838a37fbb01b64``.

    Args:
        path: an ``.npz`` file or a directory holding ``mnist.npz``.
        subset: ``None`` for full MNIST, or ``"small"`` for the shipped subset.
        download: ``True`` allows a download, ``False`` forbids it, ``None`` allows it unless
            ``$LAMINA_OFFLINE`` is set.
        url: where to download from (``http(s)://`` or ``file://``).
        sha256: the expected hex digest of the download (or ``$LAMINA_MNIST_SHA256``); by default
            ``MNIST_SHA256`` or ``MNIST_SHARED_SHA256`` is accepted.
        cache_dir: the cache directory to look in and download to.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: images uint8 in ``0..255``, labels int64 class
        indices in ``0..9``.

    Shape:
        - x_train: ``(N_train, 28, 28)``; y_train: ``(N_train,)`` (60,000 for full MNIST).
        - x_test: ``(N_test, 28, 28)``; y_test: ``(N_test,)`` (10,000 for full MNIST).

    Raises:
        FileNotFoundError: ``path`` does not exist, or MNIST is nowhere and cannot be downloaded
            (the message lists every place looked at and how to fix it).
        ValueError: bad ``subset`` or ``sha256``; a download whose SHA-256 does not match (it is
            deleted); a file that is not an MNIST archive (missing key, wrong shape or dtype).

    Example:
        >>> (x_train, y_train), (x_test, y_test) = mnist(subset="small")
        >>> x_train.shape, x_train.dtype, y_train.dtype
        ((6000, 28, 28), dtype('uint8'), dtype('int64'))
        >>> x_test.shape
        (1000, 28, 28)
    """
    if subset is not None:
        if subset != "small":
            raise ValueError(
                f"mnist(subset={subset!r}): expected None (full MNIST) or 'small' "
                "(the subset shipped with lamina)"
            )
        if path is not None:
            raise ValueError(f"mnist(path={os.fspath(path)!r}, subset='small'): pass one, not both")
        resource = resources.files("lamina.data") / _SMALL_FILE
        with resources.as_file(resource) as small:
            return _load_mnist(small)
    if sha256 is not None:
        _check_hex_digest(sha256, "sha256=")
    return _load_mnist(_locate(path, download, url, sha256, cache_dir))


def _locate(
    path: str | os.PathLike[str] | None,
    download: bool | None,
    url: str | None,
    sha256: str | None,
    cache_dir: str | os.PathLike[str] | None,
) -> Path:
    if path is not None:
        found = _npz_at(Path(path).expanduser())
        if found is None:
            raise FileNotFoundError(
                f"mnist(path={os.fspath(path)!r}): no such file, nor a directory holding "
                f"{_FILENAME}; pass the file or its directory, or use mnist(subset='small')"
            )
        return found

    looked = ["path=: not given"]
    env_data = os.environ.get("LAMINA_DATA", "")
    if env_data:
        found = _npz_at(Path(env_data).expanduser())
        if found is not None:
            return found
        looked.append(f"$LAMINA_DATA={env_data!r}: neither {_FILENAME} nor a directory holding it")
    else:
        looked.append("$LAMINA_DATA: not set")

    cached = _cache_dir(cache_dir) / _FILENAME
    if cached.is_file():
        return cached
    looked.append(f"user cache {str(cached)!r}: no such file")

    if not _download_allowed(download):
        looked.append("download: disabled (download=False, or $LAMINA_OFFLINE is set)")
        raise FileNotFoundError(_not_found(looked))
    source = url or os.environ.get("LAMINA_MNIST_URL") or MNIST_URL
    expected = sha256 or os.environ.get("LAMINA_MNIST_SHA256") or None
    if sha256 is None and expected is not None:
        _check_hex_digest(expected, "$LAMINA_MNIST_SHA256")
    try:
        _download(source, cached, expected)
    except OSError as err:  # network, HTTP status, file system
        looked.append(f"download from {source!r}: failed ({type(err).__name__}: {err})")
        raise FileNotFoundError(_not_found(looked)) from err
    return cached


def _npz_at(candidate: Path) -> Path | None:
    if candidate.is_dir():
        candidate = candidate / _FILENAME
    return candidate if candidate.is_file() else None


def _cache_dir(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("LAMINA_CACHE"):
        return Path(os.environ["LAMINA_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "lamina"


def _download_allowed(download: bool | None) -> bool:
    if download is not None:
        return bool(download)
    return os.environ.get("LAMINA_OFFLINE", "") in ("", "0")


def _not_found(looked: list[str]) -> str:
    places = "\n".join(f"  - {line}" for line in looked)
    return (
        f"mnist(): could not find {_FILENAME}. Looked at:\n{places}\n"
        "Fix: pass path='/path/to/mnist.npz' (the file or its directory), set LAMINA_DATA to such "
        "a path, or use mnist(subset='small') for the subset shipped with lamina."
    )


def _check_hex_digest(digest: str, name: str) -> None:
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
        raise ValueError(f"mnist(): {name} must be 64 hex digits (a SHA-256), received {digest!r}")


def _download(url: str, target: Path, expected: str | None) -> None:
    """Fetch ``url`` to ``target`` atomically: temp file beside it, check SHA-256, rename."""
    import urllib.request  # only needed here; keeps `import lamina` light

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    temp = Path(name)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as src:
            digest = _copy_and_hash(src, out, total=getattr(src, "length", None))
        accepted = {expected.lower()} if expected else {MNIST_SHA256, MNIST_SHARED_SHA256}
        if digest not in accepted:
            raise ValueError(
                f"mnist(): SHA-256 mismatch for the download from {url!r}: expected "
                f"{' or '.join(sorted(accepted))}, received {digest}. The file was deleted; if "
                "this URL serves another trusted copy, pass its hash as sha256= "
                "(or set $LAMINA_MNIST_SHA256)."
            )
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _copy_and_hash(src: BinaryIO, out: BinaryIO, total: int | None) -> str:
    digest = hashlib.sha256()
    bar = _progress_bar(total)
    try:
        while chunk := src.read(_CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return digest.hexdigest()


def _progress_bar(total: int | None) -> Any:
    """A tqdm bar on an interactive stderr when tqdm is installed (it is optional), else None."""
    if sys.stderr is None or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="B", unit_scale=True, desc=_FILENAME, leave=False)


def _load_mnist(file: Path) -> tuple[Split, Split]:
    try:
        arrays = load_npz(file, keys=_KEYS)
    except KeyError as err:
        raise ValueError(f"mnist(): '{file}' is not an MNIST archive: {err}") from None
    return _check_split(arrays, "train", file), _check_split(arrays, "test", file)


def _check_split(arrays: dict[str, np.ndarray], split: str, file: Path) -> Split:
    x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
    where = f"mnist(): '{file}'"
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"{where}: x_{split} has shape {x.shape}, expected (N, 28, 28)")
    if x.dtype != np.uint8:
        raise ValueError(f"{where}: x_{split} has dtype {x.dtype}, expected uint8 (pixels 0..255)")
    if y.shape != (len(x),):
        raise ValueError(
            f"{where}: y_{split} has shape {y.shape}, expected ({len(x)},) "
            f"(one label per image of x_{split})"
        )
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{where}: y_{split} has dtype {y.dtype}, expected integer class indices")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(
            f"{where}: y_{split} has labels in {y.min()}..{y.max()}, expected digits 0..9"
        )
    return x, y.astype(np.int64)
