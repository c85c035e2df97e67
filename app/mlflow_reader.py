"""Training runs, model registry and monitoring history from MLflow, every call bounded in time.

MLflow is imported only inside the calls (it costs seconds), so commands that never consult
MLflow never pay for it. Each MLflow request runs in a daemon thread and is abandoned after
``timeout_seconds``: a server that is down, or accepts connections and never answers, costs
at most the timeout, and an abandoned request never keeps the process alive at exit.

A store written by an older MLflow is never migrated in place (MLflow itself would do that
silently when tables are missing): it is read from an upgraded temporary copy, and writing to
it is refused with the ``mlflow db upgrade`` command to run.
"""

from __future__ import annotations

import logging
import math
import os
import re
import socket
import sqlite3
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from app.config import Config
from app.errors import DriftdeckError

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

T = TypeVar("T")

PRODUCTION_ALIASES = ("production", "prod", "champion")
"""Registry aliases (lower case) that name the version serving production."""

RUN_COLUMNS = ("run_id", "run_name", "start_time", "end_time", "status")
REGISTRY_COLUMNS = (
    "name",
    "version",
    "aliases",
    "stage",
    "status",
    "run_id",
    "run_name",
    "source",
    "created",
    "description",
)
# Local work that is not a network request (checking a sqlite store, upgrading a temporary copy
# of an old one) may take longer than a request timeout on a slow disk.
LOCAL_OPEN_SECONDS = 60.0


class MLflowUnavailable(DriftdeckError):
    """MLflow could not answer: unreachable, too slow, missing store or unusable schema."""


class MLflowStoreOutdated(MLflowUnavailable):
    """The store was written by another MLflow version and needs ``mlflow db upgrade``."""


# --- URIs ------------------------------------------------------------------------------------

_SECRET_QUERY = re.compile(
    r"(?i)\b((?:password|passwd|pwd|token|secret|api_?key|key|auth\w*|sig|signature|credential\w*)=)[^&#\s]*"
)
_USERINFO = re.compile(r"(//)[^/@\s]+@")


def redact_uri(uri: str) -> str:
    """The URI with user, password and secret-looking query values replaced by ``***``."""
    text = str(uri)
    try:
        parts = urlsplit(text)
    except ValueError:
        return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = _SECRET_QUERY.sub(r"\1***", parts.query)
    redacted = urlunsplit(parts._replace(netloc=netloc, query=query))
    # urlunsplit drops the empty authority of "scheme:///path"; keep the user's spelling.
    if text.startswith(f"{parts.scheme}:///") and not redacted.startswith(f"{parts.scheme}:///"):
        redacted = f"{parts.scheme}://" + redacted[len(parts.scheme) + 1 :]
    return redacted


def _scrub(text: str, uri: str) -> str:
    """An error text that may quote the URI, with every credential removed."""
    text = str(text).replace(uri, redact_uri(uri))
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\1***@", text))


@dataclass(frozen=True)
class StoreLocation:
    """Where the MLflow data lives: ``kind`` is sqlite, file, http or other (e.g. postgresql)."""

    kind: str
    uri: str
    path: Path | None = None

    @property
    def display(self) -> str:
        return redact_uri(self.uri)


def store_location(config: Config) -> StoreLocation:
    """The tracking URI of the config, with relative file-store paths resolved like data paths."""
    uri = config.tracking_uri
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        return StoreLocation("http", uri)
    if scheme == "sqlite":
        raw = uri[len("sqlite:///") :] if uri.startswith("sqlite:///") else ""
        raw = raw.split("?", 1)[0]
        if not raw or raw == ":memory:" or raw.startswith("file:"):
            return StoreLocation("other", uri)
        return StoreLocation("sqlite", uri, Path(unquote(raw)))
    if scheme == "file" or scheme == "" or len(scheme) == 1:  # one letter: a Windows drive
        raw = unquote(parts.path) if scheme == "file" else uri
        path = Path(os.path.expanduser(raw))
        if not path.is_absolute():
            path = (config.base_dir / path).resolve()
        return StoreLocation("file", path.as_uri(), path)
    return StoreLocation("other", uri)


# --- bounded calls ---------------------------------------------------------------------------


class _Timeout(Exception):
    pass


def run_bounded(fn: Callable[[], T], timeout: float, name: str = "mlflow-call") -> T:
    """``fn()`` in a daemon thread; raises ``_Timeout`` when it has not returned in time."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    # A daemon thread, not an executor: executor threads are joined at exit, so a request that
    # never answers would keep `driftdeck monitor` alive long after it printed its result.
    threading.Thread(target=work, name=f"driftdeck-{name}", daemon=True).start()
    if not done.wait(timeout):
        raise _Timeout
    if "error" in box:
        raise box["error"]
    return box["value"]


def _is_mlflow_failure(exc: BaseException) -> bool:
    """Errors that mean MLflow or its store failed (as opposed to a bug in Driftdeck)."""
    if isinstance(exc, OSError | sqlite3.Error | TimeoutError | DriftdeckError):
        return True
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("mlflow", "sqlalchemy", "alembic", "requests", "urllib3")


def _reason(exc: BaseException, timeout: float) -> tuple[str, bool]:
    """A short reason for a failure, and whether it is about reaching MLflow at all."""
    text = str(exc)
    lowered = text.lower()
    connectivity = [
        (("connection refused",), "connection refused"),
        (
            (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo",
                "name resolution",
            ),
            "host not found",
        ),
        (("timed out", "timeout"), f"no answer within {timeout:g} s"),
        (
            ("max retries exceeded", "connection aborted", "connection reset", "remote end closed"),
            "connection failed",
        ),
    ]
    for needles, reason in connectivity:
        if any(n in lowered for n in needles):
            return reason, True
    if any(
        n in lowered for n in ("readonly database", "read-only file system", "permission denied")
    ):
        return "the MLflow store is not writable (a read-only file or folder)", False
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return (first if len(first) <= 240 else first[:237] + "..."), False


def _not_found(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


# --- sqlite stores ---------------------------------------------------------------------------


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


def probe_http(location: StoreLocation, timeout: float) -> str | None:
    """Why an MLflow server is certainly unreachable (None: it answers, or cannot be judged).

    One GET of ``/health`` with plain urllib, so no MLflow import is needed to find out.
    """
    parts = urlsplit(location.uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]  # urllib takes no credentials in the URL
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
            response.read(64)
    except urllib.error.HTTPError:
        return None  # it answers (perhaps a proxy wanting credentials): let MLflow ask
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return f"no answer within {timeout:g} s"
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, socket.gaierror):
            return "host not found"
        if isinstance(reason, ConnectionError):
            return "connection failed"
        return None  # e.g. TLS settings that MLflow may handle differently: let MLflow try
    return None


# --- the reader ------------------------------------------------------------------------------


def _set_http_limits(timeout: float) -> None:
    # MLflow reads these on every request. Without them one request may retry with backoff for
    # minutes (7 retries, 120 s timeout); our own bound would return in time, but the abandoned
    # thread would keep hammering the server. They are process-wide on purpose.
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(timeout)))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"


@dataclass(frozen=True)
class TrainingExperiment:
    """The experiment whose runs are the training runs: ``note`` says why it is not the
    configured one; without one, ``message`` says why and lists the experiments there are."""

    experiment_id: str | None
    name: str | None
    note: str = ""
    message: str = ""


class MLflowReader:
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

    def training_experiment(self) -> TrainingExperiment:
        """Where the training runs are: the configured experiment while it exists and is not
        deleted, else the experiment holding the source run of the registered model's production
        version (else of its newest versions), else none, with the experiments that do exist."""
        wanted = self.config.mlflow.training_experiment
        experiment = self.call(
            f"get experiment {wanted}", lambda c: c.get_experiment_by_name(wanted)
        )
        if experiment is not None and experiment.lifecycle_stage != "deleted":
            return TrainingExperiment(experiment.experiment_id, experiment.name)
        why = (
            f"experiment '{wanted}' is deleted"
            if experiment is not None
            else f"no experiment '{wanted}'"
        )
        found = self._experiment_of_model()
        if found is not None:
            experiment, version = found
            return TrainingExperiment(
                experiment.experiment_id,
                experiment.name,
                note=f"{why}, so the training runs are read from experiment '{experiment.name}', "
                f"where the source run of {version} was logged (set [mlflow] "
                "training_experiment to choose another)",
            )
        names = sorted(
            e.name
            for e in self._paged(
                "list experiments",
                lambda c, t: c.search_experiments(max_results=self.page_size, page_token=t),
            )
        )
        existing = ", ".join(f"'{n}'" for n in names) if names else "none"
        model = self.config.mlflow.registered_model
        return TrainingExperiment(
            None,
            None,
            message=f"{why} at {self.display_uri}, and no version of registered model '{model}' "
            f"has a source run in an active experiment; experiments there: {existing} (set "
            "[mlflow] training_experiment to one of them)",
        )

    def _experiment_of_model(self, tries: int = 5) -> tuple[Any, str] | None:
        """The active experiment of the source run of the registered model's production
        version, else of its newest versions (at most ``tries`` source runs are read)."""
        name = self.config.mlflow.registered_model
        model = self.call("get registered model", lambda c: _model_info(c, name))
        if model is None:
            return None
        versions = self.call(
            f"search versions of {name}",
            lambda c: c.search_model_versions(_versions_filter(name), max_results=1000),
        )
        aliases = {str(a).lower(): int(v) for a, v in model["aliases"].items()}
        by_number = {int(v.version): v for v in versions}
        candidates: list[tuple[int, str]] = []
        for alias in PRODUCTION_ALIASES:
            if aliases.get(alias) in by_number:
                candidates.append((aliases[alias], f"v{aliases[alias]} ({alias})"))
                break
        staged = [n for n, v in by_number.items() if str(v.current_stage).lower() == "production"]
        if staged:
            candidates.append((max(staged), f"v{max(staged)} (stage Production)"))
        newest = sorted(by_number, reverse=True)
        candidates += [
            (n, f"v{n}, the newest version" if i == 0 else f"v{n}") for i, n in enumerate(newest)
        ]
        seen: set[str] = set()
        for number, label in candidates:
            run_id = by_number[number].run_id
            if not run_id or run_id in seen:
                continue
            seen.add(run_id)
            if len(seen) > tries:
                return None
            run = self.call("get source run", lambda c, r=run_id: _run_or_none(c, r))
            if run is None:
                continue
            experiment = self.call(
                "get experiment of source run",
                lambda c, e=run.info.experiment_id: c.get_experiment(e),
            )
            if experiment is not None and experiment.lifecycle_stage != "deleted":
                return experiment, f"model '{name}' {label}"
        return None

    def training_runs(self) -> pd.DataFrame:
        """The training runs (see ``runs``) of the experiment ``training_experiment`` finds;
        ``attrs``: ``metrics`` names the headline metrics, ``experiment`` the experiment used,
        ``experiment_note`` why it is not the configured one, ``message`` why there are none."""
        training = self.training_experiment()
        if training.experiment_id is None:
            frame = runs_frame([])
            frame.attrs["message"] = training.message
        else:
            frame = self._runs_of(training.experiment_id, str(training.name))
            frame.attrs["experiment"] = training.name
            if training.note:
                frame.attrs["experiment_note"] = training.note
        frame.attrs["metrics"] = recognised_metrics(frame.columns)
        return frame

    def monitoring_history(self) -> pd.DataFrame:
        """The monitoring experiment's runs, oldest first: one row per check, drift metrics as columns."""
        return self.runs(self.config.mlflow.monitoring_experiment)

    def registry(self) -> pd.DataFrame:
        """Versions of the registered model with aliases, stage, source run and its metrics."""
        import pandas as pd

        name = self.config.mlflow.registered_model
        model = self.call("get registered model", lambda c: _model_info(c, name))
        if model is None:
            frame = pd.DataFrame(columns=list(REGISTRY_COLUMNS))
            frame.attrs["message"] = f"no registered model '{name}' at {self.display_uri}"
            return frame
        versions = self._paged(
            f"search versions of {name}",
            lambda c, t: c.search_model_versions(
                _versions_filter(name), max_results=self.page_size, page_token=t
            ),
        )
        by_version: dict[str, list[str]] = {}
        for alias, version in model["aliases"].items():
            by_version.setdefault(str(version), []).append(alias)
        runs = {}
        for run_id in dict.fromkeys(v.run_id for v in versions if v.run_id):
            runs[run_id] = self.call("get source run", lambda c, r=run_id: _run_or_none(c, r))
        rows = []
        for v in versions:
            run = runs.get(v.run_id)
            row = {
                "name": v.name,
                "version": int(v.version),
                "aliases": ", ".join(
                    sorted(set(by_version.get(str(v.version), [])) | set(v.aliases or []))
                ),
                "stage": v.current_stage,
                "status": v.status,
                "run_id": v.run_id,
                "run_name": run.info.run_name if run else None,
                "source": v.source,
                "created": v.creation_timestamp,
                "description": v.description or "",
            }
            if run:
                for metric, value in run.data.metrics.items():
                    row[metric if metric not in REGISTRY_COLUMNS else f"metric.{metric}"] = value
            rows.append(row)
        frame = pd.DataFrame(rows, columns=_ordered_columns(rows, REGISTRY_COLUMNS))
        frame["created"] = pd.to_datetime(frame["created"], unit="ms", utc=True)
        frame = frame.sort_values("version", ignore_index=True)
        frame.attrs["aliases"] = dict(model["aliases"])
        return frame


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


def _versions_filter(name: str) -> str:
    quote_char = "'" if "'" not in name else '"'
    return f"name = {quote_char}{name}{quote_char}"


def _model_info(client: MlflowClient, name: str) -> dict | None:
    try:
        model = client.get_registered_model(name)
    except Exception as exc:
        if _not_found(exc):
            return None
        raise
    versions = client.search_model_versions(_versions_filter(name), max_results=1000)
    numbers = [int(v.version) for v in versions]
    return {
        "name": model.name,
        "versions": len(numbers),
        "latest_version": max(numbers) if numbers else None,
        "aliases": {alias: int(version) for alias, version in (model.aliases or {}).items()},
    }


def _run_or_none(client: MlflowClient, run_id: str):
    try:
        return client.get_run(run_id)
    except Exception as exc:
        if _not_found(exc):
            return None
        raise


def _ordered_columns(rows: list[dict], first: Iterable[str]) -> list[str]:
    first = list(first)
    metrics, params = set(), set()
    for row in rows:
        for key in row:
            if key in first:
                continue
            (params if key.startswith("param.") else metrics).add(key)
    return first + sorted(metrics) + sorted(params)


def runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """MLflow ``Run`` objects as a flat table (start and end as UTC timestamps)."""
    import pandas as pd

    rows = []
    for run in runs:
        info, data = run.info, run.data
        row = {
            "run_id": info.run_id,
            "run_name": info.run_name,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "status": info.status,
        }
        for metric, value in data.metrics.items():
            row[metric if metric not in RUN_COLUMNS else f"metric.{metric}"] = value
        for param, value in data.params.items():
            row[f"param.{param}"] = value
        rows.append(row)
    frame = pd.DataFrame(rows, columns=_ordered_columns(rows, RUN_COLUMNS))
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


# --- metric names ----------------------------------------------------------------------------

_HEADLINE = {
    "accuracy": ("accuracy", "acc"),
    "f1": ("f1",),
    "macro_f1": ("macro_f1", "f1_macro", "macro_avg_f1", "f1_macro_avg"),
    "weighted_f1": ("weighted_f1", "f1_weighted", "weighted_avg_f1", "f1_weighted_avg"),
    "roc_auc": (
        "roc_auc",
        "auc",
        "roc_auc_ovr",
        "roc_auc_ovo",
        "roc_auc_ovr_weighted",
        "roc_auc_macro",
    ),
    "precision": ("precision", "macro_precision", "precision_macro", "weighted_precision"),
    "recall": ("recall", "macro_recall", "recall_macro", "weighted_recall"),
    "log_loss": ("log_loss", "logloss"),
}
_PREFIXES = ("test_", "val_", "validation_", "eval_", "holdout_")
_PER_CLASS = re.compile(
    r"^(?:(?P<m1>precision|recall|f1)_(?P<c1>.+)|(?P<c2>.+?)_(?P<m2>precision|recall|f1))$"
)
_AVERAGES = {"macro", "weighted", "micro", "macro_avg", "weighted_avg", "micro_avg", "avg", "score"}


def _normalise(name: str) -> str:
    key = name.lower().replace("-", "_").replace(" ", "_").replace(".", "_")
    key = key.removesuffix("_score").replace("f1_score", "f1")
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def recognised_metrics(columns: Iterable[str]) -> dict:
    """Which run columns are the common classification metrics.

    ``{"headline": {canonical: column}, "per_class": [{"column", "class", "metric"}]}`` where
    canonical is accuracy, f1, macro_f1, weighted_f1, roc_auc, precision, recall or log_loss
    (an unprefixed name wins over test_/val_ spellings), and per-class metrics are
    ``precision|recall|f1`` before or after a class name.
    """
    candidates: dict[str, list[tuple[int, str]]] = {}
    per_class = []
    for column in columns:
        column = str(column)
        if column in RUN_COLUMNS or column.startswith("param."):
            continue
        key = _normalise(column)
        canonical = next((c for c, spellings in _HEADLINE.items() if key in spellings), None)
        if canonical:
            prefixed = column.lower().startswith(_PREFIXES)
            candidates.setdefault(canonical, []).append((int(prefixed), column))
            continue
        match = _PER_CLASS.match(key)
        if match:
            metric = match.group("m1") or match.group("m2")
            cls = match.group("c1") or match.group("c2")
            if cls not in _AVERAGES and not cls.endswith(tuple(f"_{a}" for a in _AVERAGES)):
                per_class.append({"column": column, "class": cls, "metric": metric})
    headline = {canonical: min(found)[1] for canonical, found in candidates.items()}
    return {"headline": headline, "per_class": per_class}
