"""The SQL of Driftdeck, one query per .sql file, and the helpers that fill it safely.

Values always travel as bound parameters (``$name``). The only text ever placed into a
query is an identifier or a file list, and both pass through the quoting helpers here:
DuckDB cannot bind parameters inside ``CREATE VIEW``, so file paths are quoted literals.
"""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> str:
    """The text of ``queries/<name>.sql``."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def ident(name: str) -> str:
    """A DuckDB identifier, quoted so any column name (spaces, quotes, keywords) is safe."""
    return '"' + str(name).replace('"', '""') + '"'


def literal(text: str) -> str:
    """A DuckDB string literal (only for file paths, which views cannot bind)."""
    return "'" + str(text).replace("'", "''") + "'"


def _code(name: str) -> str:
    """The query without its comment lines (comments may mention the slots)."""
    return "\n".join(
        line
        for line in load(name).splitlines()
        if line.strip() and not line.lstrip().startswith("--")
    )


def render(name: str, **parts: str) -> str:
    """``load(name)`` with ``{part}`` slots filled by already-quoted SQL fragments."""
    return _code(name).format(**parts)


def fragment(name: str, **parts: str) -> str:
    """An aggregate fragment (``queries/<name>.sql`` without comments) for a wider SELECT."""
    return _code(name).format(**parts)
