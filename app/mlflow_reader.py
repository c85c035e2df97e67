"""Training runs, model registry and monitoring history from MLflow, every call bounded in time.

MLflow is imported only inside the calls (it costs seconds), so commands that never consult
MLflow never pay for it. Each MLflow request runs in a daemon thread and is abandoned after
``timeout_seconds`` (app/mlflow_calls.py). The registry (app/mlflow_registry.py) and the search
for the training runs (app/training_experiment.py) are methods of the reader defined there.

A store written by an older MLflow is never migrated in place (MLflow itself would do that
silently when tables are missing): it is read from an upgraded temporary copy
(app/mlflow_sqlite.py), and writing to it is refused with the ``mlflow db upgrade`` command to run.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from app.config import Config
from app.errors import DriftdeckError
from app.mlflow_calls import _is_mlflow_failure, _reason, _Timeout, probe_http, run_bounded
from app.mlflow_location import _scrub, store_location
from app.mlflow_registry import RegistryReading, _model_info
from app.mlflow_runs import runs_frame
from app.mlflow_sqlite import inspect_sqlite_store, upgrade_command, upgraded_copy
from app.training_experiment import TrainingExperiment, TrainingRunDiscovery

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

T = TypeVar("T")

# Local work that is not a network request (checking a sqlite store, upgrading a temporary copy
# of an old one) may take longer than a request timeout on a slow disk.
LOCAL_OPEN_SECONDS = 60.0


class MLflowUnavailable(DriftdeckError):
    """MLflow could not answer: unreachable, too slow, missing store or unusable schema."""


class MLflowStoreOutdated(MLflowUnavailable):
    """The store was written by another MLflow version and needs ``mlflow db upgrade``."""


def _set_http_limits(timeout: float) -> None:
    # MLflow reads these on every request. Without them one request may retry with backoff for
    # minutes (7 retries, 120 s timeout); our own bound would return in time, but the abandoned
    # thread would keep hammering the server. They are process-wide on purpose.
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(timeout)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"


class MLflowReader(TrainingRunDiscovery, RegistryReading):
    """Reads what the pages show from MLflow; every method is bounded by the config's timeout.

    Failures raise ``MLflowUnavailable`` with a one-line message naming the (redacted) URI,
    except ``ping`` which reports them in its result. After a failure to reach MLflow, calls
    fail fast for ``cooldown_seconds`` so that one page does not wait once per chart.
    """

    # Runs, experiments or versions per request: small enough that one page of a slow store
    # answers well within the timeout, large enough that hundreds of runs take a few requests.
    page_size: int = 200

    def __init__(
        self,
        config: Config,
        *,
        timeout: float | None = None,
        cooldown_seconds: float = 10.0,
    ) -> None:
        self.config = config
        self.location = store_location(config)
        self.timeout = float(timeout if timeout is not None else config.mlflow.timeout_seconds)
        self.cooldown_seconds = cooldown_seconds
        self.notice: str | None = None
        self._lock = threading.Lock()
        self._clients: dict[tuple, MlflowClient] = {}
        self._down_until = 0.0
        self._down_message = ""

    @property
    def display_uri(self) -> str:
        return self.location.display

    # -- plumbing -----------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[[MlflowClient], T], *, write: bool = False) -> T:
        """``fn(client)`` within the timeout; MLflow failures become ``MLflowUnavailable``."""
        if time.monotonic() < self._down_until:
            raise MLflowUnavailable(self._down_message)
        client = self._client(write=write)
        try:
            return run_bounded(lambda: fn(client), self.timeout, what.replace(" ", "-"))
        except _Timeout:
            raise self._down(f"no answer to '{what}' within {self.timeout:g} s") from None
        except MLflowUnavailable:
            raise
        except Exception as exc:
            if not _is_mlflow_failure(exc):
                raise
            reason, connectivity = _reason(exc, self.timeout)
            if connectivity or self.location.kind != "http":
                raise self._down(reason) from None
            # The server answered, with an error: it is reachable, this request failed.
            message = f"MLflow at {self.display_uri} failed '{what}': {reason}"
            raise MLflowUnavailable(_scrub(message, self.location.uri)) from None

    def _down(self, reason: str) -> MLflowUnavailable:
        message = _scrub(f"MLflow unreachable at {self.display_uri}: {reason}", self.location.uri)
        if self.cooldown_seconds > 0:
            self._down_message = message
            self._down_until = time.monotonic() + self.cooldown_seconds
        return MLflowUnavailable(message)

    def _client(self, *, write: bool) -> MlflowClient:
        if time.monotonic() < self._down_until:
            raise MLflowUnavailable(self._down_message)
        self._precheck(write)
        # Imported outside the bound: a cold import takes seconds, but it is local work.
        import mlflow.store.tracking.rest_store  # noqa: F401
        from mlflow.tracking import MlflowClient  # noqa: F401

        limit = (
            self.timeout
            if self.location.kind in ("http", "other")
            else max(self.timeout, LOCAL_OPEN_SECONDS)
        )
        try:
            return run_bounded(lambda: self._open(write), limit, "mlflow-open")
        except _Timeout:
            raise self._down(f"opening the store took over {limit:g} s") from None
        except MLflowUnavailable:
            raise
        except Exception as exc:
            if not _is_mlflow_failure(exc):
                raise
            raise self._down(_reason(exc, self.timeout)[0]) from None

    def _precheck(self, write: bool) -> None:
        """Fail before importing MLflow when it is certainly out of reach.

        A status check or a monitor job against a store that does not exist or a server that
        is down then costs at most one ``/health`` request, not also seconds of imports.
        """
        loc = self.location
        if loc.kind in ("sqlite", "file") and not write and loc.path and not loc.path.exists():
            raise MLflowUnavailable(
                f"MLflow unreachable at {loc.display}: no MLflow store at {loc.path}"
            )
        if loc.kind == "http" and not self._clients:
            reason = probe_http(loc, self.timeout)
            if reason:
                raise self._down(reason)

    def _open(self, write: bool) -> MlflowClient:
        from mlflow import MlflowClient

        loc = self.location
        uri = loc.uri
        if loc.kind == "http":
            _set_http_limits(self.timeout)
        elif loc.kind == "file":
            # MLflow 3 refuses file stores unless asked; the user configured this one.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        elif loc.kind == "sqlite":
            uri = self._sqlite_uri(write)
        registry_uri = os.environ.get("MLFLOW_REGISTRY_URI") or uri
        key = (uri, registry_uri)
        with self._lock:
            if key not in self._clients:
                # Creating the client opens the tracking store (where a local store may fail).
                self._clients[key] = MlflowClient(tracking_uri=uri, registry_uri=registry_uri)
            return self._clients[key]

    def _sqlite_uri(self, write: bool) -> str:
        loc = self.location
        assert loc.path is not None
        schema = inspect_sqlite_store(loc.path)
        if schema.state == "current" or (write and schema.state in ("missing", "empty")):
            self.notice = None
            return loc.uri
        if schema.state in ("missing", "empty"):
            what = "no MLflow store" if schema.state == "missing" else "an empty MLflow store"
            raise MLflowUnavailable(f"MLflow unreachable at {loc.display}: {what} at {loc.path}")
        if schema.state == "newer":
            raise MLflowStoreOutdated(
                f"MLflow store {loc.path} was written by a newer MLflow (schema {schema.revision}); "
                "upgrade the mlflow package to read it"
            )
        command = upgrade_command(loc)
        if write:
            raise MLflowStoreOutdated(
                f"MLflow store {loc.path} has an older schema ({schema.revision}); Driftdeck does not "
                f"migrate it silently: back it up, then run `{command}`"
            )
        self.notice = (
            f"store has an older schema ({schema.revision}); showing an upgraded temporary copy, "
            f"run `{command}` (after a backup) to upgrade it in place"
        )
        return f"sqlite:///{upgraded_copy(loc.path)}"

    def _paged(self, what: str, fetch: Callable[[MlflowClient, str | None], Any]) -> list:
        """Every item of a paged MLflow search, one bounded call per page."""
        items: list = []
        token: str | None = None
        while True:
            page = self.call(what, lambda c, t=token: fetch(c, t))
            items.extend(page)
            token = getattr(page, "token", None)
            if not token:
                return items

    # -- what the pages draw ------------------------------------------------------------------

    def ping(self) -> dict:
        """Whether MLflow answers, how fast, its experiments and the registered model."""
        result: dict[str, Any] = {
            "ok": False,
            "latency_seconds": None,
            "message": "",
            "experiments": [],
            "registered_model": None,
            "uri": self.display_uri,
        }
        name = self.config.mlflow.registered_model
        try:
            self._client(write=False)  # opening a local store is not part of the latency
            started = time.perf_counter()
            experiments = self._paged(
                "list experiments",
                lambda c, t: c.search_experiments(max_results=self.page_size, page_token=t),
            )
            result["latency_seconds"] = round(time.perf_counter() - started, 4)
            result["experiments"] = sorted(e.name for e in experiments)
            result["registered_model"] = self.call(
                "get registered model", lambda c: _model_info(c, name)
            )
        except MLflowUnavailable as exc:
            result["message"] = str(exc)
            return result
        result["ok"] = True
        parts = [f"reachable at {self.display_uri} in {result['latency_seconds']:.2f} s"]
        parts.append(f"{len(experiments)} experiment{'s' if len(experiments) != 1 else ''}")
        try:
            training = self.training_experiment()
        except MLflowUnavailable as exc:
            training = TrainingExperiment(None, None, message=str(exc))
        result["training_experiment"] = training.name
        if training.note:
            parts.append(training.note)
        elif training.name is None:
            parts.append(training.message)
        wanted = self.config.mlflow.monitoring_experiment
        if wanted not in result["experiments"]:
            parts.append(f"no experiment '{wanted}'")
        model = result["registered_model"]
        if model is None:
            parts.append(f"no registered model '{name}'")
        else:
            aliases = ", ".join(f"{a} → v{v}" for a, v in sorted(model["aliases"].items()))
            parts.append(
                f"model '{name}': {model['versions']} version{'s' if model['versions'] != 1 else ''}"
                + (f" ({aliases})" if aliases else "")
            )
        if self.notice:
            parts.append(self.notice)
        result["message"] = "; ".join(parts)
        return result

    def experiment_id(self, name: str) -> str | None:
        """The id of an experiment by name, or None when it does not exist."""
        experiment = self.call(f"get experiment {name}", lambda c: c.get_experiment_by_name(name))
        if experiment is None or experiment.lifecycle_stage == "deleted":
            return None
        return experiment.experiment_id

    def runs(self, experiment: str) -> pd.DataFrame:
        """One row per active run of an experiment, oldest first: metrics by plain name, params as ``param.<name>``."""
        experiment_id = self.experiment_id(experiment)
        if experiment_id is None:
            frame = runs_frame([])
            frame.attrs["message"] = f"no experiment '{experiment}' at {self.display_uri}"
            return frame
        return self._runs_of(experiment_id, experiment)

    def _runs_of(self, experiment_id: str, experiment: str) -> pd.DataFrame:
        runs = self._paged(
            f"search runs of {experiment}",
            lambda c, t: c.search_runs(
                [experiment_id],
                max_results=self.page_size,
                order_by=["attributes.start_time ASC"],
                page_token=t,
            ),
        )
        frame = runs_frame(runs)
        frame.attrs["experiment_id"] = experiment_id
        return frame

    def monitoring_history(self) -> pd.DataFrame:
        """The monitoring experiment's runs, oldest first: one row per check, drift metrics as columns."""
        return self.runs(self.config.mlflow.monitoring_experiment)


_shared_lock = threading.Lock()
_shared: dict[tuple, MLflowReader] = {}


def shared_reader(config: Config) -> MLflowReader:
    """One reader per MLflow location and settings in this process, so that status checks,
    pages and logging share its clients and its memory of an unreachable server."""
    key = (store_location(config).uri, config.mlflow)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = MLflowReader(config)
        return _shared[key]
