"""Sqlite MLflow stores: their schema state, read without writing, and upgraded temporary copies.

A store written by an older MLflow is never migrated in place (MLflow itself would do that
silently when tables are missing): it is read from an upgraded temporary copy.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from app.mlflow_location import StoreLocation


@dataclass(frozen=True)
class SchemaState:
    """What a sqlite store looks like to this MLflow: current, outdated, newer, empty, missing."""

    state: str
    revision: str | None = None
    head: str | None = None


def _readonly_sqlite_url(path: Path) -> str:
    return f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true"


def inspect_sqlite_store(path: Path) -> SchemaState:
    """The schema state of a sqlite store, read through a read-only connection."""
    if not path.is_file():
        return SchemaState("missing")
    # Import both store modules so that every table MLflow expects is registered.
    import mlflow.store.model_registry.sqlalchemy_store  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    import sqlalchemy
    from mlflow.store.db import utils as db_utils

    head = _head_revision()
    engine = sqlalchemy.create_engine(_readonly_sqlite_url(path))
    try:
        tables = [
            t for t in sqlalchemy.inspect(engine).get_table_names() if not t.startswith("alembic_")
        ]
        if not tables:
            return SchemaState("empty", None, head)
        revision = db_utils._get_schema_version(engine)
        if revision != head:
            state = "newer" if revision and revision not in _known_revisions() else "outdated"
            return SchemaState(state, revision, head)
        if not db_utils._all_tables_exist(engine):
            return SchemaState("outdated", revision, head)
        with engine.connect() as conn:
            # MLflow inserts the default experiment when it is missing: that would be a write.
            default = conn.exec_driver_sql(
                "SELECT 1 FROM experiments WHERE experiment_id = 0"
            ).first()
        return SchemaState("current" if default else "outdated", revision, head)
    finally:
        engine.dispose()


_revisions_lock = threading.Lock()
_revisions: dict[str, Any] = {}


def _script_directory():
    with _revisions_lock:
        if "script" not in _revisions:
            from alembic.script import ScriptDirectory
            from mlflow.store.db.utils import _get_alembic_config

            _revisions["script"] = ScriptDirectory.from_config(_get_alembic_config(db_url=""))
        return _revisions["script"]


def _head_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    with _revisions_lock:
        if "head" not in _revisions:
            _revisions["head"] = _get_latest_schema_revision()
        return _revisions["head"]


def _known_revisions() -> set[str]:
    script = _script_directory()
    return {rev.revision for rev in script.walk_revisions()}


_copies_lock = threading.Lock()
_copies: dict[tuple, Path] = {}
_copies_dir: tempfile.TemporaryDirectory | None = None


@contextmanager
def _quiet_loggers(*names: str):
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def upgraded_copy(path: Path) -> Path:
    """A temporary copy of an old sqlite store, upgraded to this MLflow's schema (cached)."""
    global _copies_dir
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _copies_lock:
        if key in _copies:
            return _copies[key]
        if _copies_dir is None:
            _copies_dir = tempfile.TemporaryDirectory(
                prefix="driftdeck-mlflow-", ignore_cleanup_errors=True
            )
        target = Path(_copies_dir.name) / f"{len(_copies)}-{path.name}"
        # The backup API gives a consistent snapshot even while a writer is active.
        source = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()

        import sqlalchemy
        from mlflow.store.db.utils import _upgrade_db

        engine = sqlalchemy.create_engine(f"sqlite:///{target}")
        try:
            with _quiet_loggers("mlflow.store.db.utils", "alembic"):
                _upgrade_db(engine)
        finally:
            engine.dispose()
        _copies[key] = target
        return target


def upgrade_command(location: StoreLocation) -> str:
    return f"mlflow db upgrade {location.display}"
