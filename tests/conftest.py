"""Shared fixtures: small worlds, the page tests' world, engine and Monitor, and module-level
caches of ``app`` reset so that no test sees another's results.

Helpers live in modules of their own (``tests/worlds.py``, ``tests/page_helpers.py``, ...); no
test module imports from another test module or from this file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import Config
from app.engine import Engine
from app.monitor import Monitor
from tests.caches import RESET_PER_MODULE, RESET_PER_TEST, clear
from tests.mlflow_helpers import restore_mlflow_env
from tests.worlds import make_world


# -- module-level caches of app (tests/caches.py lists them) ---------------------------------------
@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    clear(RESET_PER_TEST)
    restore_mlflow_env(monkeypatch)  # the MLflow variables the reader sets, given back after


@pytest.fixture(autouse=True, scope="module")
def _fresh_module_caches() -> None:
    clear(RESET_PER_MODULE)


# -- worlds -----------------------------------------------------------------------------------------
@pytest.fixture
def world(tmp_path: Path) -> Config:
    """The small world (tests/worlds.py) in this test's own folder."""
    return make_world(tmp_path)


@pytest.fixture(scope="module")
def page_world(tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The world a page-test module draws: the small world, unless the module overrides this
    fixture (e.g. with a world that has an MLflow store)."""
    return make_world(tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def page_engine(page_world: Config) -> Engine:
    """One engine for the module's tests, so they share its computed results as sessions do."""
    return Engine(page_world)


@pytest.fixture
def monitor(page_world: Config, page_engine: Engine) -> Monitor:
    """A fresh Monitor (its own window, the monitoring window) on the module's world and engine."""
    return Monitor(page_world, engine=page_engine)
