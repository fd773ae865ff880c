"""Atomic file writes that clean up after themselves.

:func:`atomic_write` writes ``path`` through a temporary file in the same directory, named
``.NAME.XXXXXXXX.tmp``, holds an exclusive ``flock`` on it while writing, fsyncs it and
``os.replace``-s it onto ``path``: readers see the old file or the new one, never a torn one.
The temporary file is removed when the write fails. A process killed mid-write (kill -9) leaves
its temporary file behind, unlocked (the kernel drops the lock with the process): the next
write of the same ``path`` removes every such file it can lock. Where ``fcntl`` does not exist
(Windows), temporary files older than :data:`STALE_SECONDS` count as stale instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
import time

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["atomic_write", "remove_stale_temporaries", "STALE_SECONDS"]

STALE_SECONDS = 15 * 60


def _temp_pattern(name: str) -> re.Pattern:
    return re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_]{{6,}}\.tmp\Z")


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def remove_stale_temporaries(path: str) -> list[str]:
    """Remove the temporary files that killed writes of ``path`` left behind.

    Returns:
        The paths removed.
    """
    directory, name = os.path.split(os.path.abspath(path))
    pattern = _temp_pattern(name)
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        if not pattern.match(entry):
            continue
        full = os.path.join(directory, entry)
        with contextlib.suppress(OSError):
            if fcntl is None:
                if time.time() - os.stat(full).st_mtime < STALE_SECONDS:
                    continue
                os.unlink(full)
            else:
                fd = os.open(full, os.O_RDONLY)
                try:
                    if not _try_lock(fd):
                        continue  # a live writer holds it
                    os.unlink(full)
                finally:
                    os.close(fd)
            removed.append(full)
    return removed


def _locked_temporary(directory: str, name: str) -> tuple[int, str]:
    """A new temporary file beside the target, locked by this process."""
    for _ in range(100):
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
        if fcntl is None:
            return fd, tmp
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return fd, tmp
        except FileNotFoundError:
            pass  # a concurrent cleaner took it between mkstemp and flock: take another
        os.close(fd)
    raise OSError(errno.EAGAIN, "could not create a temporary file", directory)


def atomic_write(path: str | os.PathLike, data: bytes | memoryview, who: str = "lm.save") -> None:
    """Write ``data`` to exactly ``path``, atomically (see the module doc).

    Raises:
        FileNotFoundError: the directory of ``path`` does not exist.
        OSError: the write failed; ``path`` is unchanged and no temporary file remains.
    """
    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(errno.ENOENT, f"{who}: directory does not exist", directory)
    remove_stale_temporaries(path)
    fd, tmp = _locked_temporary(directory, name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)  # still locked: no cleaner takes it before it is in place
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
