"""Shared by the MLflow tests: an empty current-schema store built once per process, and a
fixture giving back the MLflow environment variables that the reader sets process-wide."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import pytest

MLFLOW_ENV = (
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_ALLOW_FILE_STORE",
)


@functools.cache
def _template() -> Path:
    from mlflow import MlflowClient

    folder = Path(tempfile.mkdtemp(prefix="driftdeck-test-store-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "mlflow.db"
    # Building MLflow's schema runs every migration (seconds): do it once, copy it after.
    MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def fresh_store(path: Path) -> Path:
    """An empty sqlite store with this MLflow's schema at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_template(), path)
    return path


def restore_mlflow_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give back, after the test, the variables the reader sets (MLflow's HTTP limits, file-store
    opt-in): ``tests/conftest.py`` does it around every test."""
    for name in MLFLOW_ENV:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            monkeypatch.setenv(name, "unset")
            monkeypatch.delenv(name)
