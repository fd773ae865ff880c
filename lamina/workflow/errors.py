"""Exceptions as one readable line, for ``lamina``'s messages and the tuner's."""

from __future__ import annotations

__all__ = ["error_message"]


def error_message(err: BaseException) -> str:
    """An exception as one readable line (no quotes around KeyError text, no errno noise).

    Example:
        >>> error_message(FileNotFoundError(2, "No such file or directory", "x.toml"))
        "No such file or directory: 'x.toml'"
        >>> error_message(KeyError("no column 'age'"))
        "no column 'age'"
    """
    if isinstance(err, OSError) and err.strerror and err.filename is not None:
        text = f"{err.strerror}: '{err.filename}'"
    elif isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str):
        text = err.args[0]
    else:
        text = str(err) or type(err).__name__
    lines = [line.strip() for line in text.splitlines()]
    lines = [line[2:] if line.startswith("- ") else line for line in lines]
    return " ".join(line for line in lines if line)
