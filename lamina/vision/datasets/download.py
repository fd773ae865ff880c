"""Fetch dataset files over HTTP(S) with a checksum check, atomically (temp file, then rename)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import tempfile
from pathlib import Path

_CHUNK = 1 << 20
_TIMEOUT_S = 60


def file_digest(path: str | os.PathLike[str], algorithm: str = "md5") -> str:
    """Hex digest of a file's bytes (``md5`` as torchvision's lists, or ``sha256``)."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_integrity(path: str | os.PathLike[str], md5: str | None = None) -> bool:
    """True when ``path`` is a file and (when given) its MD5 is ``md5``."""
    if not Path(path).is_file():
        return False
    return md5 is None or file_digest(path, "md5") == md5.lower()


def download_url(url: str, target: Path, md5: str) -> None:
    """Download ``url`` to ``target``: a temp file beside it, MD5 check, then rename.

    Raises:
        ValueError: the download's MD5 is not ``md5`` (the partial file is deleted).
        OSError: the server could not be reached.
    """
    import urllib.request  # only needed here; keeps imports light

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    temp = Path(name)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "lamina"})
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(request,
                                                                    timeout=_TIMEOUT_S) as src:
            shutil.copyfileobj(src, out, _CHUNK)
        received = file_digest(temp, "md5")
        if received != md5.lower():
            raise ValueError(f"MD5 mismatch for {url}: expected {md5}, received {received}; "
                             f"the file was deleted")
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def download_from_mirrors(mirrors: list[str], filename: str, folder: Path, md5: str) -> Path:
    """Try each mirror in turn for ``filename``; the first download with the right MD5 wins.

    Raises:
        RuntimeError: every mirror failed (each failure is named).
    """
    target = folder / filename
    if check_integrity(target, md5):
        return target
    errors = []
    for mirror in mirrors:
        try:
            download_url(mirror + filename, target, md5)
            return target
        except (OSError, ValueError) as error:
            errors.append(f"{mirror}{filename}: {error}")
    raise RuntimeError(f"could not download {filename}:\n  " + "\n  ".join(errors))


def extract_gzip(source: Path, target: Path) -> None:
    """Decompress a ``.gz`` file to ``target`` (atomically)."""
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out, gzip.open(source, "rb") as src:
            shutil.copyfileobj(src, out, _CHUNK)
        os.replace(name, target)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def extract_tar(source: Path, folder: Path) -> None:
    """Unpack a tar archive into ``folder``, refusing links and paths that leave it."""
    with tarfile.open(source) as archive:
        archive.extractall(folder, filter="data")
