"""Production accuracy against its baseline (docs/metrics.md, "Accuracy drop").

The baseline is the ``accuracy`` metric MLflow holds for the registered model version with the
production alias; else the realized accuracy of the labelled rows before the window; else there
is none, and no accuracy alert (the reason goes to the status).
"""

from __future__ import annotations

from typing import Any

from app.config import Config
from app.engine import Engine
from app.mlflow_registry import PRODUCTION_ALIASES
from app.mlflow_runs import recognised_metrics
from app.numbers import finite_number
from app.single_flight import SingleFlight
from app.window import Window

BASELINE_TTL_SECONDS = 60.0
"""How long an MLflow baseline (or the reason there is none) is reused before it is read again."""

_BASELINES = SingleFlight()
"""MLflow baselines by (MLflow location, settings), shared by every session and report."""


def production_version(registry: Any) -> Any:
    """The registered version serving production (a row of ``MLflowReader.registry()``): by alias,
    else by (legacy) stage; None when there is none."""
    if registry is None or isinstance(registry, Exception) or len(registry) == 0:
        return None
    aliases = {str(k).lower(): v for k, v in (registry.attrs.get("aliases") or {}).items()}
    for alias in PRODUCTION_ALIASES:
        if alias in aliases:
            match = registry[registry["version"] == int(aliases[alias])]
            if len(match):
                return match.iloc[0]
    if "stage" in registry:
        staged = registry[registry["stage"].astype(str).str.lower() == "production"]
        if len(staged):
            return staged.iloc[-1]
    return None


def logged_accuracy(row: Any) -> tuple[float | None, str | None]:
    """The accuracy a registry version (or run) row logged, and its metric name: ``accuracy``,
    else a spelling MLflow users log it under (``test_accuracy``, ``val_acc`` ...; see
    ``recognised_metrics``). The one reading of "the model's accuracy" for every page and the
    baseline, so that they cannot disagree."""
    if row is None:
        return None, None
    logged = [k for k in row.index if finite_number(row.get(k)) is not None]
    column = recognised_metrics(logged)["headline"].get("accuracy")
    return (finite_number(row.get(column)), column) if column else (None, None)


def mlflow_baseline(config: Config) -> tuple[float | None, str]:
    """The production version's logged ``accuracy`` and where it comes from, or None and why
    not; read at most once a minute per MLflow location (MLflow calls are bounded)."""
    from app.mlflow_location import store_location

    key = (store_location(config).uri, config.mlflow)
    return _BASELINES.get(key, lambda: _read_baseline(config), ttl=BASELINE_TTL_SECONDS)


def _read_baseline(config: Config) -> tuple[float | None, str]:
    from app.mlflow_reader import MLflowUnavailable, shared_reader
    from app.status import reachability

    if not reachability(config)["ok"]:  # no store, or no answer: not worth importing MLflow
        value, source = None, "MLflow is unreachable"
    else:
        try:
            version = production_version(shared_reader(config).registry())
        except MLflowUnavailable as exc:
            version, source = None, str(exc)
        else:
            source = f"no production version of '{config.mlflow.registered_model}' in MLflow"
        value = None
        if version is not None:
            accuracy, metric = logged_accuracy(version)
            if accuracy is not None:
                value = accuracy
                source = f"MLflow: {version['name']} version {version['version']} (production)"
                if metric != "accuracy":
                    source += f", metric {metric}"
            else:
                source = (
                    f"MLflow: {version['name']} version {version['version']} logged no accuracy"
                )
    return value, source


def accuracy_report(engine: Engine, window: Window, config: Config, *, mlflow: bool) -> dict:
    """Realized and estimated (CBPE) accuracy in the window, their baseline and the drops
    (baseline − accuracy).

    ``mlflow=False`` (``monitor --no-log``) keeps MLflow out: the baseline then comes from the
    labelled rows before the window.
    """
    realized = engine.accuracy_over_time(window)
    out: dict[str, Any] = {
        "realized": realized["accuracy"],
        "labelled_rows": realized["labelled"],
        "baseline": None,
        "baseline_source": None,
        "drop": None,
    }
    reasons = []
    if mlflow:
        out["baseline"], why = mlflow_baseline(config)
        if out["baseline"] is not None:
            out["baseline_source"] = why
        else:
            reasons.append(why)
    else:
        reasons.append("MLflow not read (--no-log)")
    if out["baseline"] is None:
        if window.start is None:
            reasons.append("no labelled rows before the window (it starts at the first row)")
        else:
            before = engine.accuracy_over_time(Window(None, window.start))
            if before["labelled"]:
                out["baseline"] = before["accuracy"]
                out["baseline_source"] = (
                    f"{before['labelled']:,} labelled production rows before the window"
                )
            else:
                reasons.append("no labelled production rows before the window")
    estimated = engine.estimated_accuracy(window)
    out["estimated"] = estimated["accuracy"]
    out["estimated_drop"] = None
    if out["baseline"] is None:
        out["reason"] = "no accuracy baseline: " + "; ".join(reasons)
        return out
    if out["realized"] is not None:
        out["drop"] = out["baseline"] - out["realized"]
    if out["estimated"] is not None:
        out["estimated_drop"] = out["baseline"] - out["estimated"]
    if out["realized"] is None and out["estimated"] is None:
        out["reason"] = (
            "no labelled production rows in the window, and no estimate ("
            + estimated.get("reason", "")
            + ")"
        )
    return out
