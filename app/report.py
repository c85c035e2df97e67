"""The monitor report: every metric of docs/metrics.md for one window, as the JSON of
``driftdeck monitor --json`` (README); ``shared_report`` gives it typed and judged
(``app.report_types.Report``), once per data version and window."""

from __future__ import annotations

import copy
import math
from datetime import datetime
from typing import Any

from app import drift
from app.config import Config
from app.engine import Engine
from app.errors import again_if_files_change
from app.report_types import Report
from app.single_flight import SingleFlight
from app.sql_expressions import finite
from app.window import Window

DATASET_DRIFT_SHARE = 0.5
"""The dataset drifted when at least this share of the judged features drifted."""


def _share(part: int | None, whole: int | None) -> float | None:
    if part is None or not whole:
        return None
    return part / whole


def side_summary(entry: dict | None) -> dict | None:
    """The user-facing summary statistics of one feature on one side."""
    if not entry:
        return None
    rows = entry["rows"]
    out: dict[str, Any] = {
        "rows": rows,
        "missing": entry["missing"],
        "missing_share": _share(entry["missing"], rows),
        "distinct": entry["distinct"],
    }
    if entry["kind"] == "numerical":
        out["distinct_approx"] = bool(entry.get("distinct_approx"))
        for key in ("mean", "std", "min", "p25", "median", "p75", "max"):
            out[key] = finite(entry.get(key))
    elif entry["kind"] == "categorical":
        present = entry["present"]
        top = sorted(entry["counts"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        out["top"] = [{"value": v, "share": _share(n, present)} for v, n in top]
    else:
        out["top"] = [{"value": v, "share": _share(n, entry["present"])} for v, n in entry["top"]]
    return out


def _numerical(name: str, ref: dict, prod: dict, status: list) -> dict:
    nbins = len(ref["edges"]) + 1
    keys = [-1, *range(nbins)]
    ref_bins = [ref["bins"].get(k, 0) for k in keys]
    prod_bins = [prod["bins"].get(k, 0) for k in keys]
    out: dict[str, Any] = {
        "psi": drift.psi(ref_bins, prod_bins),
        "js": drift.js(ref_bins, prod_bins),
        **_significance(ref_bins, prod_bins),
    }
    exact = prod.get("exact")
    if exact is None:
        out["ks"] = {"statistic": None, "pvalue": None}
        out["wasserstein"] = None
        return out
    out["ks"] = {"statistic": finite(exact.ks_statistic), "pvalue": finite(exact.ks_pvalue)}
    if exact.wasserstein is None:
        out["wasserstein"] = None
    else:
        std = ref.get("std_pop")
        out["wasserstein"] = finite(exact.wasserstein / max(std if std is not None else 0.0, 0.001))
    reasons = list(getattr(exact, "reasons", ()) or ())
    for reason in reasons:
        status.append({"component": f"feature {name}", "ok": False, "message": reason})
    if reasons:
        out["reason"] = "; ".join(reasons)
    return out


def _significance(ref_bins: list, prod_bins: list) -> dict:
    """The PSI's sample-size floor and whether the PSI clears it (docs/metrics.md)."""
    floor = drift.psi_floor(ref_bins, prod_bins)
    return {
        "psi_floor": floor,
        "significant": drift.significant(drift.psi(ref_bins, prod_bins), floor),
    }


def _categorical(ref: dict, prod: dict) -> dict:
    ref_counts = dict(ref["counts"])
    prod_counts = dict(prod["counts"])
    keys, r, p = drift.aligned(ref_counts, prod_counts)
    # PSI and JS bins: every category plus the missing bin.
    r_bins, p_bins = [*r, ref["missing"]], [*p, prod["missing"]]
    chi2 = drift.chi2(r, p)
    return {
        "psi": drift.psi(r_bins, p_bins),
        "js": drift.js(r_bins, p_bins),
        **_significance(r_bins, p_bins),
        "chi2": {"statistic": chi2[0], "pvalue": chi2[1]}
        if chi2
        else {"statistic": None, "pvalue": None},
    }


def _unseen(ref: dict, prod: dict) -> tuple[list[dict], float | None]:
    unseen = {v: n for v, n in prod["counts"].items() if v not in ref["counts"]}
    present = prod["present"]
    values = [
        {"value": v, "share": _share(n, present)}
        for v, n in sorted(unseen.items(), key=lambda kv: -kv[1])
    ]
    return values[:50], _share(sum(unseen.values()), present)


def build_report(engine: Engine, window: Window, config: Config) -> dict:
    """Everything `driftdeck monitor --json` prints (alerts and status are added by the caller).

    Kept like the engine's results (in memory and in the store): a warm run reads it back instead
    of recomputing the drift measures, and needs no scipy import. The caller gets its own copy.
    """
    key = (engine.version, window, config.thresholds["psi"].critical)
    report = copy.deepcopy(engine.cached("report", key, lambda: _build(engine, window, config)))
    report["generated_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    return report


def _build(engine: Engine, window: Window, config: Config) -> dict:
    roles = engine.roles()
    status: list[dict] = []
    rows = engine.window_rows(window)
    reference = engine.reference_profile(window.segment)
    production = engine.production_profile(window)
    features: dict[str, dict] = {}
    quality: dict[str, dict] = {}
    psi_threshold = config.thresholds["psi"].critical
    judged, drifted = 0, 0
    for f in roles.features:
        ref, prod = reference.get(f.name), production.get(f.name)
        entry: dict[str, Any] = {"kind": f.kind, "psi": None, "js": None}
        if f.kind == "numerical":
            entry.update({"ks": {"statistic": None, "pvalue": None}, "wasserstein": None})
        elif f.kind == "categorical":
            entry["chi2"] = {"statistic": None, "pvalue": None}
        else:
            entry["cardinality"] = {
                "reference": None,
                "production": None,
                "ratio": None,
                "new_value_share": None,
            }
        reason = None
        if f.type_changed:
            reason = f"type changed from {f.reference_type} to {f.production_type}"
        elif not engine.sources.available("reference"):
            reason = f"no reference data ({engine.sources.state('reference').problem})"
        elif not engine.sources.available("inputs"):
            reason = f"no production inputs ({engine.sources.state('inputs').problem})"
        elif f.reference_type is None:
            reason = "only in production (not in the reference)"
        elif f.production_type is None:
            reason = "only in the reference (not in production inputs)"
        elif not ref or not prod:
            reason = "no rows to compare"
        compared = reason is None
        if compared:
            if f.kind == "numerical":
                entry.update(_numerical(f.name, ref, prod, status))
            elif f.kind == "categorical":
                entry.update(_categorical(ref, prod))
            else:
                ratio = prod["distinct"] / ref["distinct"] if ref["distinct"] else None
                entry["cardinality"] = {
                    "reference": ref["distinct"],
                    "production": prod["distinct"],
                    "ratio": ratio,
                    "new_value_share": _share(prod["new_rows"], prod["present"]),
                }
            # Missing values still compare (PSI's missing bin, the missing share); the
            # metrics over values are null, and why is said.
            reason = _without_values(ref, prod)
        if reason:
            entry["reason"] = reason
            status.append({"component": f"feature {f.name}", "ok": False, "message": reason})
        entry["summary"] = {"reference": side_summary(ref), "production": side_summary(prod)}
        for side, values in (("reference", ref), ("production", prod)):
            infinite = _not_finite(values)
            if infinite:
                message = f"{side} {infinite} not finite (the column holds ±inf): shown as null"
                status.append({"component": f"feature {f.name}", "ok": False, "message": message})
        q = _quality(f.kind, ref, prod) if compared else {}
        if f.kind == "categorical" and q:
            entry["summary"]["production"]["unseen"] = q.pop("unseen_values")
        if q:
            quality[f.name] = q
        if f.kind in ("numerical", "categorical") and entry["psi"] is not None:
            judged += 1
            # Drifted: over the critical PSI and over what noise reaches at these sample sizes.
            drifted += entry["psi"] >= psi_threshold and bool(entry.get("significant"))
        features[f.name] = entry

    predictions = _prediction_drift(engine, window, status)
    share = drifted / judged if judged else None
    return {
        "window": window.as_dict(),
        "generated_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "rows": rows,
        "columns": {
            "timestamp": roles.timestamp.get("inputs"),
            "id": roles.id,
            "target": roles.target,
            "prediction": roles.prediction,
            "ignored": list(roles.ignored),
        },
        "features": features,
        "prediction_drift": predictions,
        "dataset_drift": {
            "share": share,
            "drifted": None if share is None else share >= DATASET_DRIFT_SHARE,
            "drifted_features": drifted,
            "judged_features": judged,
            # A feature drifted at a significant PSI at or over psi_threshold; the dataset
            # drifted when the share of drifted features is at or over share_threshold.
            "psi_threshold": psi_threshold,
            "share_threshold": DATASET_DRIFT_SHARE,
        },
        "data_quality": {"schema": engine.schema_differences(), "features": quality},
        "status": status,
    }


def _not_finite(entry: dict | None) -> str | None:
    """Which summary statistics of a numerical side are ±inf or NaN, said as a phrase."""
    if not entry or entry["kind"] != "numerical":
        return None
    keys = ("mean", "std", "min", "p25", "median", "p75", "max")
    bad = [k for k in keys if isinstance(entry.get(k), float) and not math.isfinite(entry[k])]
    if not bad:
        return None
    return (", ".join(bad[:-1]) + " and " + bad[-1] if len(bad) > 1 else bad[0]) + (
        " are" if len(bad) > 1 else " is"
    )


def _without_values(ref: dict, prod: dict) -> str | None:
    """Why the metrics over values are null, when a side has none."""
    if not prod["rows"]:
        return "no production rows in this window"
    if not ref["present"]:
        return "no non-missing values in the reference"
    if not prod["present"]:
        return "no non-missing values in production"
    return None


def _quality(kind: str, ref: dict, prod: dict) -> dict:
    ref_missing = _share(ref["missing"], ref["rows"])
    prod_missing = _share(prod["missing"], prod["rows"])
    out: dict[str, Any] = {
        "missing_share_reference": ref_missing,
        "missing_share_production": prod_missing,
        "missing_share_increase": None
        if ref_missing is None or prod_missing is None
        else prod_missing - ref_missing,
    }
    if kind == "numerical":
        out["out_of_range_share"] = _share(prod.get("out_of_range"), prod["present"])
    elif kind == "categorical":
        out["unseen_values"], out["unseen_share"] = _unseen(ref, prod)
    else:
        out["unseen_share"] = _share(prod.get("new_rows"), prod["present"])
    return out


def _prediction_drift(engine: Engine, window: Window, status: list) -> dict:
    counts = engine.class_counts(window)
    ref, prod = counts["reference"], counts["production"]
    out: dict[str, Any] = {"kl": None, "js": None, "reference": None, "production": None}
    if ref:  # the reference's class shares do not depend on the window
        out["reference"] = {k: n / sum(ref.values()) for k, n in ref.items()}
    if not ref or not prod:
        missing = "reference target/prediction" if not ref else "production predictions"
        status.append(
            {"component": "prediction drift", "ok": False, "message": f"no {missing} to compare"}
        )
        return out
    keys, r, p = drift.aligned(ref, prod)
    out.update(
        {
            "kl": drift.kl(r, p),
            "js": drift.js(r, p),
            "reference": {k: n / sum(r) for k, n in zip(keys, r, strict=True)},
            "production": {k: n / sum(p) for k, n in zip(keys, p, strict=True)},
            "reference_column": counts["reference_column"],
        }
    )
    return out


def _segments(engine: Engine, window: Window, config: Config, report: dict) -> dict:
    """Segments, mix shift and drift attribution with a one-sentence verdict per feature."""
    from app.segments import attribution_verdict, segments

    found = segments(engine, window)
    report["status"].extend(found["status"])
    warning = config.thresholds["psi"].warning
    return {
        "segments": found["segments"],
        "mix_shift": found["mix_shift"],
        "drift_attribution": found["drift_attribution"],
        "attribution_verdicts": {
            name: attribution_verdict(
                name,
                entries,
                found["mix_shift"],
                warning,
                (report["features"].get(name) or {}).get("psi"),
            )
            for name, entries in found["drift_attribution"].items()
        },
    }


def full_report(
    engine: Engine,
    window: Window,
    config: Config,
    *,
    mlflow: bool = True,
    mlflow_baseline: bool | None = None,
) -> dict:
    """The report with system status and alerts (docs/metrics.md), over the files as they are once a
    computation gets through them whole (a file that changes or proves unreadable meanwhile is
    read again or skipped, see ``Sources``).

    With ``mlflow=False`` (``--no-log``) MLflow is only checked for reachability, without
    importing mlflow, so a headless check stays fast and still reports MLflow's state; the
    accuracy baseline is then read from MLflow only when ``mlflow_baseline`` says so (pages do:
    their alerts must be those of a logged ``monitor`` run).
    """
    from app.accuracy import accuracy_report
    from app.alerts import apply_silences, evaluate_alerts, retraining_recommended
    from app.data_status import columns_status, data_status
    from app.status import mlflow_status
    from app.versions import model_versions

    def with_data_status() -> dict:
        report = build_report(engine, window, config)
        report.update(_segments(engine, window, config, report))
        report.update(model_versions(engine, window))
        report["estimated_performance"] = engine.estimated_accuracy(window)
        if report["estimated_performance"].get("reason"):
            report["status"].append(
                {
                    "component": "estimated accuracy",
                    "ok": False,
                    "message": report["estimated_performance"]["reason"],
                }
            )
        report["accuracy"] = accuracy_report(
            engine, window, config, mlflow=mlflow if mlflow_baseline is None else mlflow_baseline
        )
        report["status"] = data_status(engine) + columns_status(engine) + report["status"]
        if report["accuracy"].get("reason"):
            report["status"].append(
                {"component": "accuracy", "ok": False, "message": report["accuracy"]["reason"]}
            )
        return report

    report = again_if_files_change(with_data_status)
    if engine.store is not None:
        report["status"] += [*engine.store.status, engine.store.summary()]
    report["status"] += mlflow_status(config, deep=mlflow)
    report["alerts"], report["silenced"] = apply_silences(
        evaluate_alerts(report, config), config.silences
    )
    report["retraining_recommended"] = retraining_recommended(report["alerts"])
    return report


REPORT_SECONDS = 30.0
"""How long a shared report is kept: every section of a page (and every session) drawing the same
data version and window reads one report, while the parts that change without new data (MLflow's
state, a silence that ends) are at most this old."""

_reports = SingleFlight()
"""Typed reports by (engine, data version, window, MLflow checks, config)."""


def shared_report(
    engine: Engine,
    window: Window,
    config: Config,
    *,
    mlflow: bool = True,
    mlflow_baseline: bool | None = None,
) -> Report:
    """The typed report (``full_report``, judged): one per (data version, window, config) that
    every page section and session shares. Read it, never change it."""
    version = engine.version
    # An older data version's reports go (this engine's only: others may serve other configs).
    _reports.forget(keep=lambda kept: kept[0] is not engine or kept[1] == version)
    key = (engine, version, window, mlflow, mlflow_baseline, repr(config))
    return _reports.get(
        key,
        lambda: Report.from_dict(
            full_report(engine, window, config, mlflow=mlflow, mlflow_baseline=mlflow_baseline),
            config,
        ),
        ttl=REPORT_SECONDS,
    )
