"""What the pages read from MLflow, shared by every session for a short while.

MLflow answers in seconds (or, when it is down, after the timeout), so its results are kept
for ``TTL_SECONDS`` and a failure for ``FAILURE_TTL_SECONDS``. Concurrent sessions asking for
the same thing wait for one call instead of each making their own (``pn.cache`` would run the
call once per waiting session and does not remember failures, hence this small cache).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import panel as pn

from app.config import Config
from app.mlflow_reader import MLflowReader, MLflowUnavailable, shared_reader, store_location
from app.pages.cards import error_state

TTL_SECONDS = 60.0
FAILURE_TTL_SECONDS = 10.0

READS = ("training_runs", "registry", "monitoring_history", "ping")


class MLflowCache:
    """Results of ``MLflowReader`` calls by (store, settings, call), with an expiry."""

    _results: ClassVar[dict[tuple, tuple[float, Any, MLflowUnavailable | None]]] = {}
    _locks: ClassVar[dict[tuple, threading.Lock]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def get(cls, config: Config, what: str, reader: MLflowReader | None = None) -> Any:
        """``reader.<what>()`` (one of ``READS``), cached; raises ``MLflowUnavailable``."""
        if what not in READS:
            raise ValueError(f"unknown MLflow read {what!r}")
        reader = reader or shared_reader(config)
        key = (reader.location.uri, config.mlflow, what, id(reader))
        with cls._guard:
            lock = cls._locks.setdefault(key, threading.Lock())
        with lock:
            cached = cls._results.get(key)
            if cached is not None and time.monotonic() < cached[0]:
                return cls._unpack(cached)
            try:
                value, error = getattr(reader, what)(), None
            except MLflowUnavailable as exc:
                value, error = None, exc
            ttl = FAILURE_TTL_SECONDS if error is not None else TTL_SECONDS
            entry = (time.monotonic() + ttl, value, error)
            cls._results[key] = entry
            return cls._unpack(entry)

    @staticmethod
    def _unpack(entry: tuple[float, Any, MLflowUnavailable | None]) -> Any:
        _, value, error = entry
        if error is not None:
            raise MLflowUnavailable(str(error))
        return value

    @classmethod
    def clear(cls, config: Config | None = None) -> None:
        """Forget cached results (of one config's MLflow store, or all)."""
        with cls._guard:
            for key in list(cls._results):
                if config is None or key[1] == config.mlflow:
                    del cls._results[key]


def read(config: Config, what: str, reader: MLflowReader | None = None) -> Any:
    """Shorthand for :meth:`MLflowCache.get`."""
    return MLflowCache.get(config, what, reader)


def unavailable_note(error: BaseException, config: Config) -> pn.pane.HTML:
    """What an MLflow section shows when MLflow cannot answer (the URI without credentials)."""
    message = str(error)
    if not message.startswith("MLflow"):
        message = f"MLflow unreachable at {store_location(config).display}: {message}"
    return error_state(
        message,
        "This section needs MLflow; every other section keeps working. Check [mlflow] "
        "tracking_uri in driftdeck.toml (or MLFLOW_TRACKING_URI) and that the server is running.",
    )
