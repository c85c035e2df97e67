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


class Query(str):
    """A rendered query that remembers its name and slots, so a backend of another dialect can
    read its own file of that name instead (``queries/spark/<name>.sql``)."""

    name: str
    parts: dict[str, str]

    def __new__(cls, name: str, parts: dict[str, str]) -> Query:
        query = super().__new__(cls, _code(name).format(**parts))
        query.name = name
        query.parts = parts
        return query

    def __getnewargs__(self) -> tuple[str, dict[str, str]]:
        return (self.name, self.parts)


def render(name: str, **parts: str) -> Query:
    """``load(name)`` with ``{part}`` slots filled by already-quoted SQL fragments."""
    return Query(name, parts)


@cache
def dialect_file(dialect: str, name: str) -> str | None:
    """The text of ``queries/<dialect>/<name>.sql`` without comments, or None when that dialect
    runs the DuckDB query (translated)."""
    path = resources.files(__package__).joinpath(dialect, f"{name}.sql")
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    return "\n".join(
        line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("--")
    )


def fragment(name: str, **parts: str) -> str:
    """An aggregate fragment (``queries/<name>.sql`` without comments) for a wider SELECT."""
    return _code(name).format(**parts)
