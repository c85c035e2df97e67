"""The DuckDB backend (the default): one in-process connection, one view per data role."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from app import object_storage
from app.backend import FILE_COLUMN, Params
from app.errors import DriftdeckError
from queries import ident, literal, render

TIMESTAMP_NAMES = (
    "timestamp",
    "ts",
    "event_time",
    "event_timestamp",
    "time",
    "created_at",
    "datetime",
)
_TS_TYPES = ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "DATE")

READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException)
"""What DuckDB raises when a file cannot be read (also a bare Error for a damaged page header)."""


class DuckDBBackend:
    """Owns the DuckDB connection; each query runs in its own cursor, so several threads
    (server sessions) can query at once."""

    name = "duckdb"

    def __init__(self, config):
        self.config = config
        self._by_file: dict[str, str] = {}  # role → its by-file view
        settings: dict[str, Any] = {"preserve_insertion_order": False}
        if config.threads:
            settings["threads"] = config.threads
        if config.memory_limit:
            settings["memory_limit"] = config.memory_limit
        try:
            self._con = duckdb.connect(":memory:", config=settings)
        except duckdb.Error as exc:
            raise DriftdeckError(f"engine settings rejected by DuckDB: {exc}") from None
        try:
            # Only matters where the ICU extension is installed; without it DuckDB is UTC already.
            self._con.execute("SET TimeZone = 'UTC'")
        except duckdb.Error:
            pass
        self._filesystems: set[int] = set()  # fsspec filesystems registered with DuckDB

    # -- the seam ------------------------------------------------------------------------
    def register(
        self, role: str, files: Sequence[str], hive: bool, by_file: str | None = None
    ) -> dict[str, str]:
        view = ident(role)
        for path in files[:1]:
            if object_storage.is_url(path):  # DuckDB reads s3://… through fsspec
                object_storage.register(
                    self._con, path, self.config.storage_settings, self._filesystems
                )
        listed = "[" + ", ".join(literal(path) for path in files) + "]"
        flag = "true" if hive else "false"
        self._con.execute(render("view", view=view, files=listed, hive=flag, replace=""))
        raw = dict(self._con.execute(render("describe", view=view)).fetchall())
        replace = self._timestamp_replace(raw)
        if replace:
            self._con.execute(render("view", view=view, files=listed, hive=flag, replace=replace))
        if by_file:
            self._by_file[role] = by_file
            self._con.execute(
                render(
                    "file_view",
                    view=ident(by_file),
                    files=listed,
                    hive=flag,
                    replace=replace,
                    file_column_name=literal(FILE_COLUMN),
                )
            )
        return dict(self._con.execute(render("describe", view=view)).fetchall())

    def drop(self, role: str) -> None:
        self._con.execute(f"DROP VIEW IF EXISTS {ident(role)}")
        by_file = self._by_file.pop(role, None)
        if by_file:
            self._con.execute(f"DROP VIEW IF EXISTS {ident(by_file)}")

    def fetch(self, sql: str, params: Params, how: str) -> Any:
        if how == "arrow":  # through a relation: a DB-API result copies every row for Arrow
            cursor = self._con.cursor()
            try:
                cursor.execute("SET enable_progress_bar = false")
                return cursor.sql(sql, params=params or None).to_arrow_table()
            finally:
                cursor.close()
        cursor = self.query(sql, params)
        try:
            if how == "records":
                names = [column[0] for column in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            return getattr(cursor, how)()
        finally:
            cursor.close()

    def close(self) -> None:
        self._con.close()

    # -- DuckDB only ---------------------------------------------------------------------
    def query(self, sql: str, params: Params = None) -> duckdb.DuckDBPyConnection:
        """Run one query in its own cursor and return the cursor to fetch from."""
        cursor = self._con.cursor()
        try:
            # DuckDB's own progress bar would write to the user's terminal; ours is on stderr.
            cursor.execute("SET enable_progress_bar = false")
            return cursor.execute(sql, params or {})
        except duckdb.Error:
            cursor.close()
            raise

    def files_changed(self) -> None:
        """Drop what DuckDB cached of remote files (an object was rewritten under its name)."""
        if self._filesystems:
            object_storage.forget_reads(self._con)

    def unreadable(self, paths: Sequence[str]) -> str | None:
        """The first file DuckDB cannot read whole (every column of every row), if any."""
        for path in paths:
            cursor = self._con.cursor()
            try:
                cursor.execute(render("read_whole"), [path]).fetchall()
            except duckdb.Error:
                return path
            finally:
                cursor.close()
        return None

    def _timestamp_replace(self, raw: dict[str, str]) -> str:
        """A ``REPLACE (...)`` clause turning every timestamp flavour into plain UTC TIMESTAMP."""
        named = self.config.columns.timestamp
        parts = []
        for name, kind in raw.items():
            col = ident(name)
            if kind.startswith("TIMESTAMP_NS") or kind == "TIMESTAMPTZ_NS":
                # DuckDB's cast rounds nanoseconds to the nearest microsecond, which moves a row
                # across a window's edge; down to the microsecond, a row is before a bound
                # exactly when it was (bounds are whole microseconds).
                e = f"epoch_ns({col})"
                parts.append(
                    f"make_timestamp(({e} - (({e} % 1000) + 1000) % 1000) // 1000) AS {col}"
                )
            elif kind.startswith("TIMESTAMP WITH TIME ZONE") or kind == "TIMESTAMPTZ":
                parts.append(f"CAST({col} AS TIMESTAMP) AS {col}")
            elif kind in _TS_TYPES and kind != "TIMESTAMP":
                parts.append(f"CAST({col} AS TIMESTAMP) AS {col}")
            elif kind == "VARCHAR" and (
                name == named or (not named and name.lower() in TIMESTAMP_NAMES)
            ):
                parts.append(f"CAST(try_cast({col} AS TIMESTAMPTZ) AS TIMESTAMP) AS {col}")
        return f"REPLACE ({', '.join(parts)})" if parts else ""
