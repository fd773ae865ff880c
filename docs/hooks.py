"""MkDocs hook: read lamina's Google-style ``Example:`` sections (singular, as STYLE.md writes
them) as examples, the way griffe already reads ``Examples:``, so that their ``>>>`` lines render
as code. griffe keeps its section names in a private table; if that moves, the build still runs
and the examples render as admonitions."""

from __future__ import annotations


def on_startup(**kwargs) -> None:
    try:
        from griffe import DocstringSectionKind
        from griffe._internal.docstrings import google
    except ImportError:
        return
    google._section_kind.setdefault("example", DocstringSectionKind.examples)
