"""The backend seam: the one interface the engine knows between the data files and SQL.

A backend registers each data role (``reference``, ``inputs``, ``predictions``, ``labels``) as a
view over its files, runs a query with parameters and hands back small results. Queries are the
named files in ``queries/`` filled by ``queries.render`` (DuckDB's dialect, the reference one);
a backend that speaks another dialect translates them, or reads its own file of the same name
(``queries/spark/<name>.sql``) where the dialects differ. Values always travel as parameters.

Two backends: ``duckdb`` (embedded, the default; ``app.duckdb_backend``) and ``spark``
(``app.spark_backend``, PySpark on any Spark master), chosen by ``[engine] backend``
(``app.sources.open_backend``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

Params = dict[str, Any] | list[Any] | None

FILE_COLUMN = "__driftdeck_file"
"""The column of a role's by-file view naming the file (its path as listed) of each row: per-file
partial aggregates (app/partials.py) filter on it."""


class Backend(Protocol):
    """Register the sources, run a (named) query with parameters, fetch a small result."""

    name: str

    def register(
        self, role: str, files: Sequence[str], hive: bool, by_file: str | None = None
    ) -> dict[str, str]:
        """Make ``role`` a view over ``files``; return its columns and their DuckDB type names
        (``DOUBLE``, ``BIGINT``, ``VARCHAR``, ``TIMESTAMP`` …, whatever the backend). With
        ``by_file``, also a view of that name with the same columns plus ``FILE_COLUMN``."""

    def drop(self, role: str) -> None:
        """Forget the views of ``role`` (its files are gone)."""

    def fetch(self, sql: str, params: Params, how: str) -> Any:
        """Run one query; ``how``: ``fetchall`` (tuples), ``records`` (dicts by column name),
        ``fetchnumpy`` (column name → numpy array), ``fetchdf`` (a pandas DataFrame) or
        ``arrow`` (a pyarrow Table).
        ``sql`` is a ``queries.Query`` when it was rendered from a named query file."""

    def close(self) -> None: ...
