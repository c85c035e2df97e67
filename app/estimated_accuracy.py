"""Estimated accuracy without labels (CBPE): the queries that calibrate and apply it.

The calibrator is fitted on every labelled row (app/cbpe.py holds the isotonic fit and the
estimate's band); applying it to production rows happens inside one DuckDB query per window
(queries/cbpe_estimate.sql). See docs/metrics.md for the method. Functions of an ``Engine``,
which caches them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.cbpe import estimate, fit_calibrator
from app.sql_expressions import text
from app.window import BUCKET_WIDTHS, SEGMENT_MISSING, Window
from queries import ident, render

if TYPE_CHECKING:
    from app.engine import Engine


def confidence_sql(engine: Engine, schema: dict[str, str], table: str, params: dict) -> str | None:
    """The model's confidence in each row's predicted class as a DOUBLE expression on
    ``table``, or None when that side does not log it."""
    roles = engine.roles()
    if roles.probability and roles.probability in schema:
        return f"CAST({table}.{ident(roles.probability)} AS DOUBLE)"
    if roles.probabilities and all(c in schema for _, c in roles.probabilities):
        if roles.prediction not in schema:
            return None
        predicted = text(roles.prediction, schema[roles.prediction], table)
        cases = []
        for i, (cls, column) in enumerate(roles.probabilities):
            params[f"class_{i}"] = cls
            cases.append(f"WHEN $class_{i} THEN CAST({table}.{ident(column)} AS DOUBLE)")
        return f"CASE {predicted} {' '.join(cases)} END"
    return None


def version_sql(engine: Engine, table: str = "p") -> str:
    """The model version of each prediction as text (missing: '(missing)', as $missing)."""
    roles = engine.roles()
    pred = engine.sources.schema("predictions")
    column = text(roles.model_version, pred[roles.model_version], table)
    return f"coalesce({column}, $missing)"


def calibration(engine: Engine, model_version: str | None):
    """The CBPE calibrator fitted on every labelled row (see ``Engine.calibration``)."""
    roles = engine.roles()
    sets = []
    pred, lab = engine.sources.schema("predictions"), engine.sources.schema("labels")
    params: dict = {}
    confidence = confidence_sql(engine, pred, "p", params)
    only = "TRUE"
    if model_version is not None:
        only = f"{version_sql(engine)} = $model_version"
        params.update(missing=SEGMENT_MISSING, model_version=model_version)
    if confidence and engine.joins_labels():
        sets.append(
            (
                render(
                    "cbpe_calibration",
                    rows=f"predictions AS p JOIN labels AS l ON p.{ident(roles.id)} = l.{ident(roles.id)}",
                    confidence=confidence,
                    prediction=text(roles.prediction, pred[roles.prediction], "p"),
                    target=text(roles.target, lab[roles.target], "l"),
                    only=only,
                ),
                params,
            )
        )
    ref = engine.sources.schema("reference")
    ref_params: dict = {}
    ref_confidence = confidence_sql(engine, ref, "p", ref_params)
    if (
        model_version is None  # the reference was served by no version in particular
        and ref_confidence
        and roles.prediction in ref
        and roles.target in ref
    ):
        sets.append(
            (
                render(
                    "cbpe_calibration",
                    rows="reference AS p",
                    confidence=ref_confidence,
                    prediction=text(roles.prediction, ref[roles.prediction], "p"),
                    target=text(roles.target, ref[roles.target], "p"),
                    only="TRUE",
                ),
                ref_params,
            )
        )
    merged: dict[float, list[int]] = {}
    for sql, bound in sets:
        for value, n, correct in engine.sources.fetchall(sql, bound):
            entry = merged.setdefault(value, [0, 0])
            entry[0] += int(n)
            entry[1] += int(correct)
    if not merged:
        return None

    values = sorted(merged)
    return fit_calibrator(values, [merged[v][0] for v in values], [merged[v][1] for v in values])


def cbpe_sums(
    engine: Engine, calibrator, source: str, bucket: str, where: str, params: dict
) -> list:
    """Per bucket of the predictions p in ``source`` (``bucket``: an SQL expression, e.g. a
    time bucket or an input segment): scored rows, Σ calibrated confidence, Σ c(1 − c) and
    rows without a confidence. ``params`` binds what ``where`` and ``bucket`` use."""
    roles = engine.roles()
    pred = engine.sources.schema("predictions")
    params = dict(params)
    confidence = confidence_sql(engine, pred, "p", params)
    params.update(
        knot_x=list(calibrator.x),
        knot_y=list(calibrator.y),
        knot_slope=calibrator.slopes,
        low=calibrator.y[0],
    )
    sql = render(
        "cbpe_estimate",
        source=source,
        bucket=bucket,
        confidence=confidence,
        where=where,
        prediction=text(roles.prediction, pred[roles.prediction], "p"),
    )
    return engine.sources.fetchall(sql, params)


def estimated_accuracy(engine: Engine, window: Window) -> dict:
    """CBPE for the window and per time bucket (see ``Engine.estimated_accuracy``)."""
    realized = engine.accuracy_over_time(window)
    out = {
        "method": "cbpe",
        "calibration_rows": 0,
        "rows": 0,
        "accuracy": None,
        "lower": None,
        "upper": None,
        "realized": realized["accuracy"],
        "width": None,
        "over_time": [],
    }
    roles = engine.roles()
    pred = engine.sources.schema("predictions")
    params: dict = {}
    confidence = confidence_sql(engine, pred, "p", params)
    if roles.prediction not in pred or confidence is None:
        out["reason"] = (
            "the predictions log no confidence: add the probability of the predicted class "
            "(a column named probability, or [columns] probability / probabilities)"
        )
        return out
    calibrator = engine.calibration()
    if calibrator is None:
        out["reason"] = "no labelled predictions with a confidence to calibrate on"
        return out
    out["calibration_rows"] = calibrator.rows
    ts = roles.timestamp.get("predictions")
    buckets = engine.prediction_buckets(window) if ts else None
    bucket = "NULL"
    where, window_params = window.predicate(ts, table="p")
    params.update(window_params)
    if buckets is not None:
        out["width"], bucket_params = buckets
        params.update(bucket_params)
        bucket = f"time_bucket(CAST($width AS INTERVAL), p.{ident(ts)}, CAST($origin AS TIMESTAMP))"
    found = cbpe_sums(engine, calibrator, "predictions AS p", bucket, where, params)
    rows = sum(int(n) for _, n, *_ in found)
    out.update(
        estimate(
            rows, sum(t or 0.0 for _, _, t, _, _ in found), sum(v or 0.0 for *_, v, _ in found)
        )
    )
    out["unscored_rows"] = sum(int(u) for *_, u in found)
    if buckets is not None:
        width = BUCKET_WIDTHS[out["width"]]
        realized_by = {b["start"]: b for b in realized["buckets"]}
        for start, n, total, spread, _ in found:
            if start is None:
                continue
            point = {"start": start, "end": start + width}
            point.update(estimate(int(n), total or 0.0, spread or 0.0))
            labelled = realized_by.get(start)
            point["realized"] = labelled["accuracy"] if labelled else None
            out["over_time"].append(point)
    if not rows:
        out["reason"] = "no production predictions with a confidence in this window"
    return out
