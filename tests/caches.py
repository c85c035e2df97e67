"""The module-level caches of ``app`` and when the tests reset them (``tests/conftest.py``).

Every cache ``app`` keeps at module level is listed here: ``tests/test_caches.py`` finds them in
the source and fails on one listed nowhere, so a new cache cannot carry one test's results into
another unnoticed.
"""

from __future__ import annotations

import importlib

RESET_PER_TEST = (
    ("app.sources", "_footer_cache"),  # a file version's parquet footer check
    ("app.object_storage", "_filesystems"),  # fsspec filesystems by storage options
    ("app.report", "_reports"),  # the typed report per engine, data version and window
)
"""Reset before each test: what one test computed or remembered never reaches the next."""

RESET_PER_MODULE = (
    ("app.engine", "_engines"),
    ("app.accuracy", "_BASELINES"),
    ("app.mlflow_reader", "_shared"),
    ("app.mlflow_sqlite", "_copies"),
    ("app.pages.mlflow_cache", "MLflowCache._results"),
    ("app.pages.training", "_SCORES"),  # the training runs' scores
)
"""Reset before each test module: results a module's tests share on purpose, through the one world
(and MLflow store) of its fixtures, as the sessions of a server share them."""

KEPT = (
    ("app.export", "_dist_files"),  # Panel's dist files by name
    ("app.store", "code_fingerprint"),  # a hash of the engine's code and queries
    ("app.mlflow_sqlite", "_revisions"),  # MLflow's schema migrations
    (
        "app.ks_pvalue",
        "_compiled_ksstats",
    ),  # scipy's Kolmogorov distribution module, run from its source
    ("app.spark_backend", "_sessions"),  # the SparkSession (one per process; views are per engine)
)
"""Kept for the whole run: they depend only on the installed code, never on a test's data."""


def cache(module_name: str, path: str):
    """The cache object at ``path`` (dotted) inside the module."""
    target = importlib.import_module(module_name)
    for part in path.split("."):
        target = getattr(target, part)
    return target


def clear(caches: tuple[tuple[str, str], ...]) -> None:
    for module_name, path in caches:
        cache(module_name, path).clear()
