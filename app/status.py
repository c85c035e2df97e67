"""The MLflow part of the system status: the server or store, and the last monitor run."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from app.config import Config
from app.mlflow_calls import probe_http
from app.mlflow_location import store_location
from app.mlflow_reader import MLflowReader, MLflowUnavailable, shared_reader

# A monitor job normally runs at least daily; older than this, its results are stale.
MONITOR_RUN_MAX_AGE_SECONDS = 2 * 24 * 3600


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h ago"
    return f"{seconds / 86400:.1f} days ago"


def reachability(config: Config) -> dict:
    """The "mlflow" status entry from a check that needs no MLflow import."""
    location = store_location(config)
    entry = {"component": "mlflow", "ok": True, "uri": location.display, "latency_seconds": None}
    if location.kind in ("sqlite", "file"):
        if location.path is None or not location.path.exists():
            entry.update(
                ok=False,
                message=f"MLflow unreachable at {location.display}: no MLflow store at {location.path}",
            )
        else:
            entry["message"] = f"store present at {location.path} (not queried)"
    elif location.kind == "http":
        started = time.perf_counter()
        reason = probe_http(location, config.mlflow.timeout_seconds)
        if reason:
            entry.update(ok=False, message=f"MLflow unreachable at {location.display}: {reason}")
        else:
            entry["latency_seconds"] = round(time.perf_counter() - started, 4)
            entry["message"] = f"answers at {location.display} (not queried)"
    else:
        entry["message"] = f"{location.display} not checked (needs MLflow)"
    return entry


def mlflow_status(
    config: Config,
    *,
    reader: MLflowReader | None = None,
    now: datetime | None = None,
    max_age_seconds: float | None = MONITOR_RUN_MAX_AGE_SECONDS,
    deep: bool = True,
) -> list[dict]:
    """Status entries ``{component, ok, message, ...}`` for "mlflow" and "last monitor run".

    With ``deep=False`` only whether the store exists or the server answers ``/health`` is
    checked, without importing MLflow (for runs that must not pay for it, e.g. ``--no-log``).
    """
    if not deep:
        return [reachability(config)]
    now = now or datetime.now(UTC)
    reader = reader or shared_reader(config)
    started = time.perf_counter()
    ping = reader.ping()
    entry = {
        "component": "mlflow",
        "ok": ping["ok"],
        "message": ping["message"],
        "uri": ping["uri"],
        "latency_seconds": ping["latency_seconds"],
        "experiments": ping["experiments"],
        "registered_model": ping["registered_model"],
        "checked_in_seconds": round(time.perf_counter() - started, 3),
    }
    if not ping["ok"]:
        return [
            entry,
            {
                "component": "last monitor run",
                "ok": False,
                "message": "unknown: MLflow is unreachable",
            },
        ]
    return [entry, last_monitor_run(reader, now=now, max_age_seconds=max_age_seconds)]


def last_monitor_run(
    reader: MLflowReader,
    *,
    now: datetime | None = None,
    max_age_seconds: float | None = MONITOR_RUN_MAX_AGE_SECONDS,
) -> dict:
    """The newest run of the monitoring experiment: when, how long ago, and whether that is recent enough."""
    now = now or datetime.now(UTC)
    name = reader.config.mlflow.monitoring_experiment
    entry = {
        "component": "last monitor run",
        "ok": False,
        "time": None,
        "age_seconds": None,
        "run_id": None,
    }
    try:
        experiment_id = reader.experiment_id(name)
        runs = []
        if experiment_id is not None:
            runs = reader.call(
                "newest monitor run",
                lambda c: c.search_runs(
                    [experiment_id], max_results=1, order_by=["attributes.start_time DESC"]
                ),
            )
    except MLflowUnavailable as exc:
        entry["message"] = str(exc)
        return entry
    if not runs:
        where = "no runs in" if experiment_id is not None else "no"
        entry["message"] = f"{where} experiment '{name}': run `driftdeck monitor` to log one"
        return entry
    run = runs[0].info
    moment = datetime.fromtimestamp(run.start_time / 1000, UTC)
    age = (now - moment).total_seconds()
    entry.update(
        time=moment.isoformat(timespec="seconds"), age_seconds=round(age, 1), run_id=run.run_id
    )
    stale = max_age_seconds is not None and age > max_age_seconds
    entry["ok"] = not stale and run.status != "FAILED"
    entry["message"] = (
        f"{moment:%Y-%m-%d %H:%M} UTC ({_age(max(age, 0))})"
        + (" — stale, is the monitor job still scheduled?" if stale else "")
        + (" — the run failed" if run.status == "FAILED" else "")
    )
    return entry
