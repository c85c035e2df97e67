"""Metrics per time bucket: rows, each feature's PSI, predicted classes and KL, accuracy.

Buckets are calendar-aligned (days and weeks start on a Monday at midnight) and as wide as
``app.window.bucket_width`` chooses for the span. Functions of an ``Engine``, which caches them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from app import drift
from app.roles import Feature
from app.sql_expressions import at_least, bins_from_cumulative, edge_counts, nan_to_null, text
from app.window import Window, bucket_width
from queries import ident, render

if TYPE_CHECKING:
    from app.engine import Engine

ORIGIN = datetime(2000, 1, 3)
"""A Monday at midnight: day and week buckets align to the calendar."""


def drift_over_time(engine: Engine, window: Window, bucket: str) -> dict:
    """Per time bucket of the inputs in ``window``: rows and each feature's PSI (with its floor
    and significance), and the predicted classes with their KL."""
    roles = engine.roles()
    rows, first, last = engine.time_range("inputs")
    start = window.start or first
    end = window.end or last
    ts = roles.timestamp.get("inputs")
    if start is None or end is None or ts is None:
        return {"width": None, "buckets": [], "features": {}, "predictions": []}
    name, width = bucket_width(start, end, bucket)
    origin = ORIGIN
    reference = engine.reference_profile(window.segment)
    where, params = engine.window_sql("inputs", window)
    params.update({"width": f"{int(width.total_seconds())} seconds", "origin": origin})
    parts, layout, projection = [], [], []
    for i, f in enumerate(roles.features):
        if f.name not in reference or not f.on_both_sides or f.type_changed:
            continue
        column = f"f{i}"
        v = ident(column)
        if f.kind == "numerical" and "bins" in reference[f.name]:
            projection.append(f", {nan_to_null(f.name)} AS {v}")
            edges = reference[f.name]["edges"]
            counted = at_least(v, edges, f"e{i}", params, column)
            parts.append(f"{counted}count({v}) AS {ident(column + ':present')}")
            layout.append((f, column, len(edges)))
        elif f.kind == "categorical":
            projection.append(f", {text(f.name, f.production_type)} AS {v}")
            parts.append(f"histogram(coalesce({v}, chr(0))) AS {ident(column + ':counts')}")
            layout.append((f, column, 0))
    sql = render(
        "drift_over_time",
        timestamp=ident(ts),
        aggregates="".join(",\n" + p for p in parts),
        projection="".join(projection),
        view=ident("inputs"),
        where=where,
    )
    buckets, features = [], {f.name: [] for f, _, _ in layout}
    floors: dict[str, list] = {f.name: [] for f, _, _ in layout}
    for row in engine.sources.fetchrecords(sql, params):
        rows_in_bucket = int(row["rows"])
        buckets.append({"start": row["bucket"], "rows": rows_in_bucket})
        for f, column, edges in layout:
            if f.kind == "numerical":
                present = int(row[f"{column}:present"])
                counts = bins_from_cumulative(
                    present, rows_in_bucket - present, edge_counts(row, column, edges)
                )
            else:
                counts = {k: int(v) for k, v in (row[f"{column}:counts"] or {}).items()}
            ref_bins, prod_bins = psi_bins(f, reference[f.name], counts)
            features[f.name].append(drift.psi(ref_bins, prod_bins))
            floors[f.name].append(drift.psi_floor(ref_bins, prod_bins))
    predictions = predictions_over_time(engine, window, params["width"], origin)
    return {
        "width": name,
        "buckets": buckets,
        "features": features,
        # Each bucket's PSI floor and whether the PSI clears it (few rows: noise).
        "psi_floor": floors,
        "significant": {
            n: [drift.significant(v, f) for v, f in zip(features[n], floors[n], strict=True)]
            for n in features
        },
        "predictions": predictions,
    }


def predictions_over_time(
    engine: Engine, window: Window, width: str, origin: datetime
) -> list[dict]:
    """Per time bucket of the predictions: rows, class counts and KL against the reference."""
    roles = engine.roles()
    ts = roles.timestamp.get("predictions")
    prediction_type = engine.sources.schema("predictions").get(roles.prediction)
    if not (roles.prediction and ts and prediction_type):
        return []
    where, params = engine.window_sql("predictions", window)
    params.update({"width": width, "origin": origin})
    sql = render(
        "drift_over_time",
        timestamp=ident(ts),
        aggregates=",\nhistogram(p) AS counts",
        projection=f", {text(roles.prediction, prediction_type)} AS p",
        view=ident("predictions"),
        where=where,
    )
    reference = engine.class_counts(Window())["reference"] or {}
    out = []
    for row in engine.sources.fetchrecords(sql, params):
        start, rows = row["bucket"], row["rows"]
        counts = {str(k): int(v) for k, v in (row["counts"] or {}).items()}
        keys, ref, prod = drift.aligned(reference, counts)
        out.append(
            {
                "start": start,
                "rows": int(rows),
                "counts": counts,
                "kl": drift.kl(ref, prod) if reference else None,
            }
        )
    return out


def psi_bins(f: Feature, reference: dict, production_counts: dict) -> tuple[list, list]:
    """The aligned PSI bins of one feature, reference and production, from production bin
    counts ('\\0' marks a missing category)."""
    if f.kind == "numerical":
        nbins = len(reference["edges"]) + 1
        keys = [-1, *range(nbins)]
        return (
            [reference["bins"].get(k, 0) for k in keys],
            [production_counts.get(k, 0) for k in keys],
        )
    ref_counts = dict(reference["counts"])
    ref_counts["\0"] = reference["missing"]
    _, ref, prod = drift.aligned(ref_counts, production_counts)
    return ref, prod


def prediction_buckets(engine: Engine, window: Window) -> tuple[str, dict] | None:
    """The bucket width name and the bound parameters (``$width``, ``$origin``) splitting the
    predictions of a window in time, as accuracy over time splits them; None without times."""
    rows, first, last = engine.time_range("predictions")
    start, end = window.start or first, window.end or last
    if start is None or end is None:
        return None
    name, width = bucket_width(start, end)
    return name, {
        "width": f"{int(width.total_seconds())} seconds",
        "origin": ORIGIN,
    }


def accuracy_over_time(engine: Engine, window: Window) -> dict:
    """Production accuracy per time bucket where delayed labels exist (joined by id)."""
    roles = engine.roles()
    empty = {"width": None, "buckets": [], "labelled": 0, "accuracy": None}
    lab, pred = engine.sources.schema("labels"), engine.sources.schema("predictions")
    ts = roles.timestamp.get("predictions")
    buckets = prediction_buckets(engine, window) if ts and engine.joins_labels() else None
    if buckets is None:
        return empty
    name, bucket_params = buckets
    where, params = window.predicate(ts, table="p")
    params.update(bucket_params)
    label_col = roles.target
    sql = render(
        "accuracy_over_time",
        timestamp=ident(ts),
        prediction=text(roles.prediction, pred[roles.prediction], "p"),
        target=text(label_col, lab[label_col], "l"),
        id=ident(roles.id),
        where=where,
    )
    buckets = [
        {"start": b, "labelled": int(n), "accuracy": acc}
        for b, n, acc in engine.sources.fetchall(sql, params)
    ]
    labelled = sum(b["labelled"] for b in buckets)
    correct = sum(b["labelled"] * b["accuracy"] for b in buckets if b["labelled"])
    return {
        "width": name,
        "buckets": buckets,
        "labelled": labelled,
        "accuracy": correct / labelled if labelled else None,
    }
