"""Configuration: CLI flags > environment > driftdeck.toml > defaults (README, Configuration)."""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from app.errors import DriftdeckError
from app.window import parse_span, parse_timestamp

DEFAULT_CONFIG_NAME = "driftdeck.toml"
ROLES = ("reference", "inputs", "predictions", "labels")
BACKENDS = ("duckdb", "spark")
COLUMN_LIST_KEYS = ("numerical", "categorical", "high_cardinality", "ignored", "segments")
COLUMN_NAME_KEYS = ("timestamp", "id", "target", "prediction", "probability", "model_version")


@dataclass(frozen=True)
class Level:
    """Critical and warning levels of one alert rule (alert when value is at or over)."""

    critical: float
    warning: float


DEFAULT_THRESHOLDS: dict[str, Level] = {
    "psi": Level(0.25, 0.10),
    "cardinality_ratio": Level(1.3, 1.15),
    "prediction_kl": Level(0.15, 0.10),
    "missing_share_increase": Level(0.10, 0.05),
    "unseen_share": Level(0.05, 0.01),
    # Accuracy below its baseline (realized with labels, estimated without), in points.
    "accuracy_drop": Level(0.10, 0.05),
}


@dataclass(frozen=True)
class KSAlert:
    """KS alerts are off by default; when on: p < pvalue and D >= statistic."""

    enabled: bool = False
    pvalue: float = 0.05
    statistic: float = 0.1


@dataclass(frozen=True)
class Columns:
    """Column roles; empty means inferred from the data."""

    timestamp: str | None = None
    id: str | None = None
    target: str | None = None
    prediction: str | None = None
    # The model's confidence in its predicted class (one column), or one probability column
    # per class as (class, column) pairs: the confidence is the predicted class's entry.
    probability: str | None = None
    probabilities: tuple[tuple[str, str], ...] = ()
    # The predictions column naming the model version (or A/B variant) that served each row.
    model_version: str | None = None
    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    high_cardinality: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    # Categorical columns whose values split the rows into segments (drift attribution).
    segments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Silence:
    """Mutes alerts of ``metric`` (on ``feature``, or on every feature) until ``until`` (UTC)."""

    metric: str
    until: datetime
    feature: str | None = None
    reason: str = ""

    def matches(self, alert: dict, now: datetime) -> bool:
        return (
            now < self.until
            and alert.get("metric") == self.metric
            and (self.feature is None or alert.get("feature") == self.feature)
        )


@dataclass(frozen=True)
class MLflowSettings:
    tracking_uri: str = "sqlite:///mlflow.db"
    training_experiment: str = "training"
    monitoring_experiment: str = "monitoring"
    registered_model: str = "HousingPriceClassifier"
    timeout_seconds: float = 5.0


@dataclass(frozen=True)
class Config:
    """Everything Driftdeck needs to know, resolved to absolute paths."""

    base_dir: Path = field(default_factory=Path.cwd)
    reference: str = "data/reference/reference.parquet"
    inputs: str = "data/production/inputs.parquet"
    predictions: str = "data/production/predictions.parquet"
    labels: str | None = "data/production/labels.parquet"
    columns: Columns = field(default_factory=Columns)
    thresholds: dict[str, Level] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    ks_alert: KSAlert = field(default_factory=KSAlert)
    mlflow: MLflowSettings = field(default_factory=MLflowSettings)
    port: int = 8501
    address: str = "127.0.0.1"
    refresh_seconds: float = 30.0
    # A password, or a JSON file of {"user": "password"}; never shown in repr or logs.
    basic_auth: str | None = field(default=None, repr=False)
    cookie_secret: str | None = field(default=None, repr=False)
    webhooks: tuple[str, ...] = ()
    silences: tuple[Silence, ...] = ()
    # The default production window: the span up to the newest row ("7d"), or "all".
    monitoring_window: str = "7d"
    memory_limit: str | None = None
    threads: int | None = None
    # [engine] backend: "duckdb" (embedded, the default) or "spark"; [engine.spark] master and conf.
    backend: str = "duckdb"
    spark_master: str = "local[2]"
    spark_conf: tuple[tuple[str, str], ...] = ()
    # Where computed results are kept across runs and processes; None: nowhere.
    store: str | None = ".driftdeck"
    # [storage]: object-storage settings (endpoint_url, key, secret, region, profile, anonymous);
    # secrets, so never in repr or messages.
    storage: tuple[tuple[str, Any], ...] = field(default=(), repr=False)
    source_file: Path | None = None

    @property
    def storage_settings(self) -> dict[str, Any]:
        return dict(self.storage)

    def path(self, role: str) -> str | None:
        """The configured location of a data role: absolute (file, directory or glob), or a
        URL on object storage (``s3://bucket/prefix/``) as it is."""
        value = getattr(self, role)
        if not value:
            return None
        if "://" in value:
            return value
        p = Path(os.path.expanduser(value))
        return str(p if p.is_absolute() else self.base_dir / p)

    @property
    def tracking_uri(self) -> str:
        """The MLflow URI with a relative sqlite path resolved against the config folder."""
        uri = self.mlflow.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            return prefix + str((self.base_dir / uri[len(prefix) :]).resolve())
        return uri

    @property
    def store_path(self) -> str | None:
        """The store folder, absolute (relative paths are beside the config file)."""
        if not self.store:
            return None
        p = Path(os.path.expanduser(self.store))
        return str(p if p.is_absolute() else self.base_dir / p)

    def with_overrides(self, **changes: Any) -> Config:
        return replace(self, **changes)


def _fail(where: str, key: str, why: str) -> DriftdeckError:
    return DriftdeckError(f"{where}: key '{key}' {why}")


def _number(where: str, key: str, value: Any, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, key, f"must be a number, got {value!r}")
    if not math.isfinite(value):
        raise _fail(where, key, f"must be a finite number, got {value!r}")
    if positive and value < 0:
        raise _fail(where, key, f"must not be negative, got {value!r}")
    return float(value)


def _string(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, key, f"must be a non-empty string, got {value!r}")
    return value


def _table(where: str, key: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail(where, key, f"must be a table, got {value!r}")
    return value


def _check_keys(where: str, section: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{section}." if section else ""
            raise _fail(where, prefix + key, f"is unknown (expected one of: {', '.join(allowed)})")


def _parse(raw: dict, where: str, base: Config) -> Config:
    _check_keys(
        where,
        "",
        raw,
        (
            "data",
            "columns",
            "thresholds",
            "mlflow",
            "server",
            "engine",
            "notifications",
            "monitoring",
            "silences",
            "storage",
        ),
    )
    changes: dict[str, Any] = {}

    data = _table(where, "data", raw.get("data", {}))
    _check_keys(where, "data", data, ROLES)
    for role, value in data.items():
        changes[role] = _string(where, f"data.{role}", value)

    cols = _table(where, "columns", raw.get("columns", {}))
    _check_keys(where, "columns", cols, (*COLUMN_NAME_KEYS, *COLUMN_LIST_KEYS, "probabilities"))
    col_changes: dict[str, Any] = {}
    for key in COLUMN_NAME_KEYS:
        if key in cols:
            col_changes[key] = _string(where, f"columns.{key}", cols[key])
    for key in COLUMN_LIST_KEYS:
        if key in cols:
            value = cols[key]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise _fail(
                    where, f"columns.{key}", f"must be a list of column names, got {value!r}"
                )
            col_changes[key] = tuple(_string(where, f"columns.{key}", v) for v in value)
    if "probabilities" in cols:
        table = _table(where, "columns.probabilities", cols["probabilities"])
        if not table:
            raise _fail(where, "columns.probabilities", "must name a column for each class")
        col_changes["probabilities"] = tuple(
            (str(cls), _string(where, f"columns.probabilities.{cls}", column))
            for cls, column in table.items()
        )
        if "probability" in cols:
            raise _fail(
                where, "columns.probabilities", "and columns.probability exclude each other"
            )
    if col_changes:
        changes["columns"] = replace(base.columns, **col_changes)

    th = _table(where, "thresholds", raw.get("thresholds", {}))
    _check_keys(where, "thresholds", th, (*DEFAULT_THRESHOLDS, "ks"))
    thresholds = dict(base.thresholds)
    for name, value in th.items():
        key = f"thresholds.{name}"
        if name == "ks":
            ks = _table(where, key, value)
            _check_keys(where, key, ks, ("enabled", "pvalue", "statistic"))
            enabled = ks.get("enabled", base.ks_alert.enabled)
            if not isinstance(enabled, bool):
                raise _fail(where, f"{key}.enabled", f"must be true or false, got {enabled!r}")
            changes["ks_alert"] = KSAlert(
                enabled,
                _number(where, f"{key}.pvalue", ks.get("pvalue", base.ks_alert.pvalue)),
                _number(where, f"{key}.statistic", ks.get("statistic", base.ks_alert.statistic)),
            )
            continue
        level = _table(where, key, value)
        _check_keys(where, key, level, ("critical", "warning"))
        old = thresholds[name]
        crit = _number(where, f"{key}.critical", level.get("critical", old.critical))
        warn = _number(where, f"{key}.warning", level.get("warning", old.warning))
        if warn > crit:
            raise _fail(where, f"{key}.warning", f"({warn}) must not exceed critical ({crit})")
        thresholds[name] = Level(crit, warn)
    changes["thresholds"] = thresholds

    ml = _table(where, "mlflow", raw.get("mlflow", {}))
    allowed = tuple(f.name for f in fields(MLflowSettings))
    _check_keys(where, "mlflow", ml, allowed)
    ml_changes: dict[str, Any] = {}
    for key, value in ml.items():
        if key == "timeout_seconds":
            ml_changes[key] = _number(where, f"mlflow.{key}", value)
            if ml_changes[key] == 0:
                raise _fail(where, f"mlflow.{key}", "must be greater than 0")
        else:
            ml_changes[key] = _string(where, f"mlflow.{key}", value)
    if ml_changes:
        changes["mlflow"] = replace(base.mlflow, **ml_changes)

    server = _table(where, "server", raw.get("server", {}))
    _check_keys(
        where,
        "server",
        server,
        ("port", "address", "refresh_seconds", "basic_auth", "cookie_secret"),
    )
    if "port" in server:
        changes["port"] = _port(where, "server.port", server["port"])
    if "address" in server:
        changes["address"] = _string(where, "server.address", server["address"])
    if "refresh_seconds" in server:
        changes["refresh_seconds"] = _number(
            where, "server.refresh_seconds", server["refresh_seconds"]
        )
    for key in ("basic_auth", "cookie_secret"):
        if key in server:  # secrets: the error names the key, never the value
            if not isinstance(server[key], str) or not server[key].strip():
                raise _fail(where, f"server.{key}", "must be a non-empty string")
            changes[key] = server[key]

    engine = _table(where, "engine", raw.get("engine", {}))
    _check_keys(where, "engine", engine, ("memory_limit", "threads", "store", "backend", "spark"))
    if "backend" in engine:
        backend = engine["backend"]
        if backend not in BACKENDS:
            raise _fail(
                where,
                "engine.backend",
                f"must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}",
            )
        changes["backend"] = backend
    spark = _table(where, "engine.spark", engine.get("spark", {}))
    _check_keys(where, "engine.spark", spark, ("master", "conf"))
    if "master" in spark:
        changes["spark_master"] = _string(where, "engine.spark.master", spark["master"])
    if "conf" in spark:
        conf = _table(where, "engine.spark.conf", spark["conf"])
        for key, value in conf.items():
            if isinstance(value, dict | list) or value is None:
                raise _fail(
                    where,
                    f"engine.spark.conf.{key}",
                    f"must be a string, number or boolean, got {value!r}",
                )
        changes["spark_conf"] = tuple(
            (key, str(value).lower() if isinstance(value, bool) else str(value))
            for key, value in sorted(conf.items())
        )
    if "store" in engine:
        store = engine["store"]
        if store is False:
            changes["store"] = None
        elif isinstance(store, str) and store.strip():
            changes["store"] = store
        else:
            raise _fail(where, "engine.store", f"must be a folder or false, got {store!r}")
    if "memory_limit" in engine:
        changes["memory_limit"] = _string(where, "engine.memory_limit", engine["memory_limit"])
    if "threads" in engine:
        threads = engine["threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise _fail(where, "engine.threads", f"must be a positive integer, got {threads!r}")
        changes["threads"] = threads

    monitoring = _table(where, "monitoring", raw.get("monitoring", {}))
    _check_keys(where, "monitoring", monitoring, ("window",))
    if "window" in monitoring:
        span = monitoring["window"]
        try:
            parse_span(span, "")
        except DriftdeckError:
            raise _fail(
                where,
                "monitoring.window",
                f'must be a span such as "7d", "36h", "2w" or "all", got {span!r}',
            ) from None
        changes["monitoring_window"] = span.strip().lower()

    storage = _table(where, "storage", raw.get("storage", {}))
    allowed = ("endpoint_url", "key", "secret", "region", "profile", "anonymous")
    _check_keys(where, "storage", storage, allowed)
    for key, value in storage.items():
        if key == "anonymous":
            if not isinstance(value, bool):
                raise _fail(where, "storage.anonymous", f"must be true or false, got {value!r}")
        elif not isinstance(value, str) or not value.strip():
            # The value may be a secret: the message names the key only.
            raise _fail(where, f"storage.{key}", "must be a non-empty string")
    if storage:
        changes["storage"] = tuple(sorted(storage.items()))

    if "silences" in raw:
        changes["silences"] = _silences(where, raw["silences"])

    notes = _table(where, "notifications", raw.get("notifications", {}))
    _check_keys(where, "notifications", notes, ("webhooks",))
    if "webhooks" in notes:
        hooks = notes["webhooks"]
        if not isinstance(hooks, list):
            raise _fail(where, "notifications.webhooks", f"must be a list of URLs, got {hooks!r}")
        changes["webhooks"] = tuple(_string(where, "notifications.webhooks", h) for h in hooks)
    return replace(base, **changes)


def _silences(where: str, value: Any) -> tuple[Silence, ...]:
    """``[[silences]]``: metric (required), feature, until (ISO time, required), reason."""
    if not isinstance(value, list):
        raise _fail(where, "silences", "must be an array of tables ([[silences]])")
    out = []
    for i, entry in enumerate(value):
        key = f"silences[{i}]"
        entry = _table(where, key, entry)
        _check_keys(where, key, entry, ("metric", "feature", "until", "reason"))
        for required in ("metric", "until"):
            if required not in entry:
                raise _fail(where, f"{key}.{required}", "is missing")
        until = entry["until"]
        if isinstance(until, datetime | date) and not isinstance(until, datetime):
            until = datetime(until.year, until.month, until.day)
        if isinstance(until, str):
            until = parse_timestamp(until, f"{where}: key '{key}.until'")
        if not isinstance(until, datetime):
            raise _fail(where, f"{key}.until", f"must be an ISO time, got {until!r}")
        if until.tzinfo is not None:
            until = until.astimezone(UTC).replace(tzinfo=None)
        reason = entry.get("reason", "")
        if not isinstance(reason, str):
            raise _fail(where, f"{key}.reason", f"must be a string, got {reason!r}")
        feature = entry.get("feature")
        out.append(
            Silence(
                metric=_string(where, f"{key}.metric", entry["metric"]),
                until=until,
                feature=None if feature is None else _string(where, f"{key}.feature", feature),
                reason=reason,
            )
        )
    return tuple(out)


def _port(where: str, key: str, value: Any) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise _fail(where, key, f"must be a port number, got {value!r}") from None
    if isinstance(value, bool) or not 0 < port < 65536:
        raise _fail(where, key, f"must be a port number between 1 and 65535, got {value!r}")
    return port


def config_path(explicit: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The config file to read, and whether the user named it (a named file must exist)."""
    if explicit:
        return Path(explicit), True
    env = os.environ.get("DRIFTDECK_CONFIG")
    if env:
        return Path(env), True
    return Path.cwd() / DEFAULT_CONFIG_NAME, False


def load_config(path: str | os.PathLike | None = None, **overrides: Any) -> Config:
    """Read the config with the README's precedence; CLI flags arrive as ``overrides``."""
    file, named = config_path(path)
    config = Config(base_dir=file.resolve().parent if named else Path.cwd())
    if file.is_file():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise DriftdeckError(f"{file}: not valid TOML ({exc})") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DriftdeckError(f"{file}: cannot be read ({exc})") from None
        config = _parse(raw, str(file), replace(config, base_dir=file.resolve().parent))
        config = replace(config, source_file=file.resolve())
    elif named:
        raise DriftdeckError(f"{file}: config file not found")

    env_changes: dict[str, Any] = {}
    if os.environ.get("MLFLOW_TRACKING_URI"):
        env_changes["mlflow"] = replace(
            config.mlflow, tracking_uri=os.environ["MLFLOW_TRACKING_URI"]
        )
    for key in ("basic_auth", "cookie_secret"):
        if os.environ.get(f"DRIFTDECK_{key.upper()}"):
            env_changes[key] = os.environ[f"DRIFTDECK_{key.upper()}"]
    if os.environ.get("DASHBOARD_PORT"):
        env_changes["port"] = _port("environment", "DASHBOARD_PORT", os.environ["DASHBOARD_PORT"])
    config = replace(config, **env_changes)
    if overrides.get("port") is not None:
        overrides["port"] = _port("command line", "--port", overrides["port"])
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})
