"""The data files of each role, found and fingerprinted, and the backend (DuckDB unless
``[engine] backend`` says Spark) that holds one view per role over them, in place."""

from __future__ import annotations

import glob
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app import object_storage
from app.backend import FILE_COLUMN, Backend
from app.config import ROLES, Config
from app.duckdb_backend import READ_ERRORS, TIMESTAMP_NAMES
from app.errors import DataChanged, DriftdeckError

__all__ = [
    "FILE_COLUMN",
    "TIMESTAMP_NAMES",
    "FileState",
    "RoleState",
    "Sources",
    "expand",
    "scan_role",
]

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


def open_backend(config: Config) -> Backend:
    """The backend ``[engine] backend`` names (DuckDB unless it says ``spark``)."""
    if config.backend == "spark":
        from app.spark_backend import SparkBackend

        return SparkBackend(config)
    from app.duckdb_backend import DuckDBBackend

    return DuckDBBackend(config)


class Sources:
    """The views ``reference``, ``inputs``, ``predictions``, ``labels`` on the configured backend
    (``app.backend``), rebuilt when a role's files change, and the queries over them.

    Each query runs on its own (a DuckDB cursor, a Spark job), so several threads (server
    sessions) can query at once.
    """

    def __init__(self, config: Config, backend: Backend | None = None):
        self.config = config
        self.backend = backend or open_backend(config)
        self._lock = threading.RLock()
        self._states: dict[str, RoleState] = {}
        self._schemas: dict[str, dict[str, str]] = {}
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
            if changed and hasattr(self.backend, "files_changed"):
                self.backend.files_changed()
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
        if not state.files:
            self.backend.drop(role)
            return
        paths = [f.path for f in state.files]
        hive = any("=" in Path(f.path).parent.name for f in state.files)
        try:
            by_file = self.by_file(role) if role in PER_FILE_ROLES else None
            self._schemas[role] = self.backend.register(role, paths, hive, by_file)
        except Exception as exc:  # each backend raises its own error types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            self._states[role] = RoleState(
                role, state.location, (), f"cannot be read: {first}", state.skipped
            )
            self.backend.drop(role)

    @staticmethod
    def by_file(role: str) -> str:
        """The name of the view of a production role whose rows carry their file's path in
        ``FILE_COLUMN`` (the same columns as the role's view otherwise)."""
        return f"{role}:by file"

    # -- queries -------------------------------------------------------------------------
    def _fetch(self, sql: str, params: dict | list | None, how: str) -> Any:
        try:
            return self.backend.fetch(sql, params, how)
        except Exception as exc:
            self._failed(exc)
            raise

    def fetchall(self, sql: str, params: dict | list | None = None) -> list[tuple]:
        return self._fetch(sql, params, "fetchall")

    def fetchrecords(self, sql: str, params: dict | list | None = None) -> list[dict]:
        """The rows as dicts by column name (aggregates read by name, not position)."""
        return self._fetch(sql, params, "records")

    def fetchnumpy(self, sql: str, params: dict | list | None = None) -> dict:
        return self._fetch(sql, params, "fetchnumpy")

    def fetchdf(self, sql: str, params: dict | list | None = None):
        return self._fetch(sql, params, "fetchdf")

    def fetcharrow(self, sql: str, params: dict | list | None = None):
        """The result as an Arrow table (many text values, without a Python object each)."""
        return self._fetch(sql, params, "arrow")

    def _failed(self, exc: Exception) -> None:
        """After a failed query: when the error names one of the files, look at the files again.

        A file that changed or went while it was read (a logger rewriting or rotating it) drops
        out of the views or comes back as it is now; one that fails unchanged has damaged data
        behind a sound footer and is skipped from now on, named in the status like a truncated
        file. Either way the caller gets ``DataChanged`` and computes again.
        """
        message = str(exc)
        with self._lock:
            files = [f for state in self._states.values() for f in state.files]
            named = next((f for f in files if f.path in message), None)
            if named is None and (isinstance(exc, READ_ERRORS) or "TProtocol" in message):
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
        """The first file the backend cannot read whole (every column of every row), if any."""
        check = getattr(self.backend, "unreadable", None)
        path = check([f.path for f in files]) if check else None
        return next((f for f in files if f.path == path), None)

    def close(self) -> None:
        self.backend.close()
