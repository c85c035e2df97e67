"""One DuckDB connection per process, one view per data role over the parquet files in place."""

from __future__ import annotations

import glob
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from app import object_storage
from app.config import ROLES, Config
from app.errors import DataChanged, DriftdeckError
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

FILE_COLUMN = "__driftdeck_file"
"""The column of a role's by-file view (``Sources.by_file``) naming the file of each row."""
PER_FILE_ROLES = ("inputs", "predictions")
"""Roles whose aggregates are kept per file (app/partials.py): production logs that grow by files."""


@dataclass(frozen=True)
class FileState:
    """What identifies a file's content for caching: path (or URL), size and modification
    time, and an object's ETag on object storage."""

    path: str
    size: int
    mtime_ns: int
    etag: str = ""


_READ_ERRORS = (duckdb.IOException, duckdb.InvalidInputException)
"""What DuckDB raises when a file cannot be read (also a bare Error for a damaged page header)."""


def _current(state: FileState, storage: dict | None = None) -> FileState | None:
    """The file at ``state.path`` as it is now (None when it is gone)."""
    if object_storage.is_url(state.path):
        found = object_storage.current(state, storage or {})
        return (
            None if found is None else FileState(found.path, found.size, found.mtime_ns, found.etag)
        )
    try:
        st = os.stat(state.path)
    except OSError:
        return None
    return FileState(state.path, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class RoleState:
    """The files behind one role, those that could not be read, and why."""

    role: str
    location: str | None
    files: tuple[FileState, ...]
    problem: str | None = None
    skipped: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        return bool(self.files)


def expand(location: str) -> list[str]:
    """The parquet files at a location: a file, a directory (recursively) or a glob."""
    if any(ch in location for ch in "*?["):
        return sorted(p for p in glob.glob(location, recursive=True) if os.path.isfile(p))
    if os.path.isdir(location):
        return sorted(
            p
            for p in glob.glob(os.path.join(location, "**", "*.parquet"), recursive=True)
            if os.path.isfile(p)
        )
    return [location] if os.path.isfile(location) else []


_footer_cache: dict[FileState, str | None] = {}


def _footer_problem(state: FileState, storage: dict | None = None) -> str | None:
    """Why a file is not readable parquet (checked once per file version), or None."""
    if state in _footer_cache:
        return _footer_cache[state]
    problem = None
    if state.size == 0:
        problem = "is empty (0 bytes)"
    else:
        try:
            import pyarrow.parquet as pq

            if object_storage.is_url(state.path):
                with object_storage.open_file(state.path, storage or {}) as handle:
                    pq.read_metadata(handle)
            else:
                pq.read_metadata(state.path)
        except Exception as exc:  # pyarrow raises several types for damaged files
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            problem = f"is not readable parquet ({first})"
    _footer_cache[state] = problem
    return problem


def scan_role(role: str, location: str | None, storage: dict | None = None) -> RoleState:
    """Find and check the files of one role without reading their data."""
    if not location:
        return RoleState(role, None, (), "not configured")
    storage = storage or {}
    if object_storage.is_url(location):
        try:
            found = [
                FileState(o.path, o.size, o.mtime_ns, o.etag)
                for o in object_storage.list_objects(location, storage)
            ]
        except DriftdeckError as exc:
            return RoleState(role, location, (), str(exc))
    else:
        found = []
        for path in expand(location):
            try:
                st = os.stat(path)
            except OSError:
                continue  # vanished between listing and stat: a logger rotating files
            found.append(FileState(os.path.abspath(path), st.st_size, st.st_mtime_ns))
    states, skipped = [], []
    for state in found:
        problem = _footer_problem(state, storage)
        if problem:
            skipped.append(f"{state.path} {problem}")
        else:
            states.append(state)
    if not states:
        if skipped:
            return RoleState(role, location, (), skipped[0], tuple(skipped))
        return RoleState(role, location, (), f"no parquet file at {location}")
    return RoleState(role, location, tuple(states), None, tuple(skipped))


class Sources:
    """Owns the DuckDB connection and the views ``reference``, ``inputs``, ``predictions``, ``labels``.

    Each query runs in its own cursor, so several threads (server sessions) can query at once.
    """

    def __init__(self, config: Config):
        self.config = config
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
        self._lock = threading.RLock()
        self._states: dict[str, RoleState] = {}
        self._schemas: dict[str, dict[str, str]] = {}
        self._filesystems: set[int] = set()  # fsspec filesystems registered with DuckDB
        self.refresh()

    # -- files and versions -------------------------------------------------------------
    def refresh(self) -> bool:
        """Re-list the files; rebuild the views of roles whose files changed. True if any did."""
        with self._lock:
            changed = False
            for role in ROLES:
                state = scan_role(role, self.config.path(role), self.config.storage_settings)
                if self._states.get(role) != state:
                    self._states[role] = state
                    self._build_view(role)
                    changed = True
            if changed and self._filesystems:
                object_storage.forget_reads(self._con)
            return changed

    @property
    def version(self) -> tuple:
        """The data version: every role's file list with sizes and modification times."""
        return tuple((role, self._states[role].files) for role in ROLES)

    def state(self, role: str) -> RoleState:
        return self._states[role]

    def available(self, role: str) -> bool:
        return self._states[role].available and role in self._schemas

    def schema(self, role: str) -> dict[str, str]:
        """Column name → DuckDB type of a role's view (empty when the role has no data)."""
        return self._schemas.get(role, {})

    def _build_view(self, role: str) -> None:
        self._schemas.pop(role, None)
        state = self._states[role]
        view = ident(role)
        by_file = ident(self.by_file(role))
        if not state.files:
            self._con.execute(f"DROP VIEW IF EXISTS {view}")
            self._con.execute(f"DROP VIEW IF EXISTS {by_file}")
            return
        for f in state.files[:1]:
            if object_storage.is_url(f.path):  # DuckDB reads s3://… through fsspec
                object_storage.register(
                    self._con, f.path, self.config.storage_settings, self._filesystems
                )
        files = "[" + ", ".join(literal(f.path) for f in state.files) + "]"
        hive = "true" if any("=" in Path(f.path).parent.name for f in state.files) else "false"
        try:
            self._con.execute(render("view", view=view, files=files, hive=hive, replace=""))
            raw = dict(self._con.execute(render("describe", view=view)).fetchall())
            replace = self._timestamp_replace(raw)
            if replace:
                self._con.execute(
                    render("view", view=view, files=files, hive=hive, replace=replace)
                )
            self._schemas[role] = dict(self._con.execute(render("describe", view=view)).fetchall())
            if role in PER_FILE_ROLES:
                self._con.execute(
                    render(
                        "file_view",
                        view=by_file,
                        files=files,
                        hive=hive,
                        replace=replace,
                        file_column_name=literal(FILE_COLUMN),
                    )
                )
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0]
            self._states[role] = RoleState(
                role, state.location, (), f"cannot be read: {first}", state.skipped
            )
            self._con.execute(f"DROP VIEW IF EXISTS {view}")
            self._con.execute(f"DROP VIEW IF EXISTS {by_file}")

    @staticmethod
    def by_file(role: str) -> str:
        """The name of the view of a production role whose rows carry their file's path in
        ``FILE_COLUMN`` (the same columns as the role's view otherwise)."""
        return f"{role}:by file"

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

    # -- queries -------------------------------------------------------------------------
    def query(self, sql: str, params: dict | list | None = None) -> duckdb.DuckDBPyConnection:
        """Run one query in its own cursor and return the cursor to fetch from."""
        cursor = self._con.cursor()
        try:
            # DuckDB's own progress bar would write to the user's terminal; ours is on stderr.
            cursor.execute("SET enable_progress_bar = false")
            return cursor.execute(sql, params or {})
        except duckdb.Error as exc:
            cursor.close()
            self._failed(exc)
            raise

    def _fetch(self, sql: str, params: dict | list | None, how: str) -> Any:
        cursor = self.query(sql, params)
        try:
            if how == "records":
                names = [column[0] for column in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            return getattr(cursor, how)()
        except duckdb.Error as exc:
            self._failed(exc)
            raise
        finally:
            cursor.close()

    def fetchall(self, sql: str, params: dict | list | None = None) -> list[tuple]:
        return self._fetch(sql, params, "fetchall")

    def fetchrecords(self, sql: str, params: dict | list | None = None) -> list[dict]:
        """The rows as dicts by column name (aggregates read by name, not position)."""
        return self._fetch(sql, params, "records")

    def fetchnumpy(self, sql: str, params: dict | list | None = None) -> dict:
        return self._fetch(sql, params, "fetchnumpy")

    def fetchdf(self, sql: str, params: dict | list | None = None):
        return self._fetch(sql, params, "fetchdf")

    def _failed(self, exc: duckdb.Error) -> None:
        """After a failed query: when DuckDB names one of the files, look at the files again.

        A file that changed or went while it was read (a logger rewriting or rotating it) drops
        out of the views or comes back as it is now; one that fails unchanged has damaged data
        behind a sound footer and is skipped from now on, named in the status like a truncated
        file. Either way the caller gets ``DataChanged`` and computes again.
        """
        message = str(exc)
        with self._lock:
            files = [f for state in self._states.values() for f in state.files]
            named = next((f for f in files if f.path in message), None)
            if named is None and (isinstance(exc, _READ_ERRORS) or "TProtocol" in message):
                # A reading error that names no file (a damaged page header): find the file.
                storage = self.config.storage_settings
                named = next(
                    (f for f in files if _current(f, storage) != f), None
                ) or self._unreadable(files)
            if named is None:
                return  # not about a file: the caller's own error
            unchanged = _current(named, self.config.storage_settings) == named
            first = message.splitlines()[0] if message else type(exc).__name__
            if unchanged:
                _footer_cache[named] = f"is not readable parquet ({first})"
            self.refresh()
        what = "could not be read" if unchanged else "changed while it was read"
        raise DataChanged(f"{named.path} {what}: {first}") from None

    def _unreadable(self, files: list[FileState]) -> FileState | None:
        """The first file DuckDB cannot read whole (every column of every row), if any."""
        for f in files:
            cursor = self._con.cursor()
            try:
                cursor.execute(render("read_whole"), [f.path]).fetchall()
            except duckdb.Error:
                return f
            finally:
                cursor.close()
        return None

    def close(self) -> None:
        self._con.close()
