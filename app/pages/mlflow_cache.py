"""What the pages read from MLflow, shared by every session for a short while.

MLflow answers in seconds (or, when it is down, after the timeout), so its results are kept
for ``TTL_SECONDS`` and a failure for ``FAILURE_TTL_SECONDS``. Concurrent sessions asking for
the same thing wait for one call instead of each making their own (``pn.cache`` would run the
call once per waiting session and does not remember failures, hence this small cache).
"""

from __future__ import annotations

from typing import Any, ClassVar

import panel as pn

from app.config import Config
from app.mlflow_location import store_location
from app.mlflow_reader import MLflowReader, MLflowUnavailable, shared_reader
from app.pages.cards import error_state
from app.single_flight import SingleFlight

TTL_SECONDS = 60.0
FAILURE_TTL_SECONDS = 10.0

READS = ("training_runs", "registry", "monitoring_history", "ping")


class MLflowCache:
    """Results of ``MLflowReader`` calls by (store, settings, call), with an expiry."""

    _results: ClassVar[SingleFlight] = SingleFlight()

    @classmethod
    def get(cls, config: Config, what: str, reader: MLflowReader | None = None) -> Any:
        """``reader.<what>()`` (one of ``READS``), cached; raises ``MLflowUnavailable``."""
        if what not in READS:
            raise ValueError(f"unknown MLflow read {what!r}")
        reader = reader or shared_reader(config)
        key = (reader.location.uri, config.mlflow, what, id(reader))
        return cls._results.get(
            key,
            getattr(reader, what),
            ttl=TTL_SECONDS,
            keep_failures=(MLflowUnavailable,),
            failure_ttl=FAILURE_TTL_SECONDS,
        )

    @classmethod
    def clear(cls, config: Config | None = None) -> None:
        """Forget cached results (of one config's MLflow store, or all)."""
        cls._results.forget(keep=lambda key: config is not None and key[1] != config.mlflow)


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
