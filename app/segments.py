"""Segments: the drift metrics inside each value of a segment column, and each feature's drift
attributed to the segments it happened in (docs/metrics.md, "Segments").

Every side is read once per segment column: one GROUP BY on the segment gives every feature's
PSI bins in every segment (``queries/segment_bins.sql``), not one query per segment.
"""

from __future__ import annotations

from typing import Any

from app import drift, theme
from app.engine import Engine
from app.roles import Feature
from app.sql_expressions import nan_to_null, text
from app.window import SEGMENT_MISSING, Window
from queries import ident, render

MAX_SEGMENTS = 20
"""Values of a segment column shown one by one (most production rows first); the rest pooled."""
OTHER = "(other)"
MISSING = SEGMENT_MISSING
MIN_ROWS = 30
"""A segment with fewer rows on either side has no metrics (the reason says so)."""
DECILES = [i / 10 for i in range(1, 10)]


def segments(engine: Engine, window: Window) -> dict:
    """``segment_report``, computed once per data version and window (and kept in the store)."""
    return engine.cached(
        "segments", (engine.version, window), lambda: segment_report(engine, window)
    )


def segment_report(engine: Engine, window: Window) -> dict:
    """``segments``, ``mix_shift`` and ``drift_attribution`` of the report, with status lines."""
    roles = engine.roles()
    out: dict[str, Any] = {"segments": {}, "mix_shift": {}, "drift_attribution": {}, "status": []}
    by_name = {f.name: f for f in roles.features}
    for column in engine.config.columns.segments:
        feature = by_name.get(column)
        if feature is None or feature.kind != "categorical" or not feature.on_both_sides:
            out["status"].append(
                {
                    "component": f"segment {column}",
                    "ok": False,
                    "message": f"columns.segments: {column!r} is not a categorical column of both "
                    "the reference and the production inputs",
                }
            )
            continue
        if not (engine.sources.available("reference") and engine.sources.available("inputs")):
            continue
        segments, mix = _column(engine, window, feature, roles.features)
        out["segments"][column] = segments
        out["mix_shift"][column] = mix
        for value, entry in segments.items():
            share = entry["share"]["production"]
            for name, found in entry["features"].items():
                if found["psi"] is None:
                    continue
                out["drift_attribution"].setdefault(name, []).append(
                    {
                        "segment": column,
                        "value": value,
                        "contribution": share * found["psi"],
                        "psi": found["psi"],
                        "significant": found["significant"],
                        "production_share": share,
                    }
                )
    for entries in out["drift_attribution"].values():
        entries.sort(key=lambda e: (-e["contribution"], e["segment"], e["value"]))
    return out


def _column(
    engine: Engine, window: Window, segment: Feature, features: tuple[Feature, ...]
) -> tuple[dict, float | None]:
    """The segments of one column and its mix shift (PSI of the column over its segments)."""
    roles = engine.roles()
    ref_schema, inp_schema = engine.sources.schema("reference"), engine.sources.schema("inputs")
    ts = roles.timestamp.get("inputs")
    where, window_params = window.predicate(ts)
    base = {"missing": MISSING}

    def value(schema: dict, table: str | None = None) -> str:
        return f"coalesce({text(segment.name, schema[segment.name], table)}, $missing)"

    counted = engine.sources.fetchall(
        render("segment_values", value=value(inp_schema), view=ident("inputs"), where=where),
        {**base, **window_params},
    )
    top = [v for v, _ in counted[:MAX_SEGMENTS]]
    params = {**base, "top": top, "other": OTHER}

    def segment_sql(schema: dict, table: str | None = None) -> str:
        v = value(schema, table)
        return f"CASE WHEN list_contains($top, {v}) THEN {v} ELSE $other END"

    compared = [
        f
        for f in features
        if f.name != segment.name
        and f.on_both_sides
        and not f.type_changed
        and f.kind in ("numerical", "categorical")
    ]
    numerical = [f for f in compared if f.kind == "numerical"]
    categorical = [f for f in compared if f.kind == "categorical"]

    # The reference's deciles inside each segment: that segment's PSI edges.
    quantiles = "".join(
        f", quantile_cont({nan_to_null(f.name)}, $levels) AS q{j}" for j, f in enumerate(numerical)
    )
    edges: dict[str, list[list[float]]] = {}
    for row in engine.sources.fetchall(
        render("segment_edges", segment=segment_sql(ref_schema), quantiles=quantiles),
        {**params, "levels": DECILES},
    ):
        edges[row[0]] = [sorted({float(q) for q in (qs or []) if q is not None}) for qs in row[2:]]
    names = sorted(edges)
    if not names:  # no reference rows: nothing to compare inside any segment
        return {}, None

    class_column = roles.prediction if roles.prediction in ref_schema else roles.target
    sides = {}
    for side, view, schema, side_where, side_params in (
        ("reference", "reference", ref_schema, "TRUE", {}),
        ("production", "inputs", inp_schema, where, window_params),
    ):
        classes = side == "reference" and class_column in ref_schema
        sides[side] = _bins(
            engine,
            segment_sql(schema),
            view,
            side_where,
            {**params, **side_params},
            numerical,
            categorical,
            schema,
            names,
            edges,
            class_column if classes else None,
        )

    predicted = _predictions(engine, segment_sql(inp_schema, "i"), window, params)
    estimated = _estimated(engine, segment_sql(inp_schema, "i"), window, params)
    ref_rows = sum(s["n"] for s in sides["reference"].values())
    prod_rows = sum(s["n"] for s in sides["production"].values())
    values = [v for v in top if v in sides["reference"] or v in sides["production"]]
    if OTHER in sides["reference"] or OTHER in sides["production"]:
        values.append(OTHER)
    segments = {}
    for v in values:
        ref, prod = sides["reference"].get(v), sides["production"].get(v)
        n_ref, n_prod = (ref or {}).get("n", 0), (prod or {}).get("n", 0)
        entry: dict[str, Any] = {
            "rows": {"reference": n_ref, "production": n_prod},
            "share": {
                "reference": n_ref / ref_rows if ref_rows else None,
                "production": n_prod / prod_rows if prod_rows else 0.0,
            },
            "features": {},
            "prediction_kl": None,
            "accuracy": None,
            "estimated_accuracy": None,
        }
        short = [
            f"{side} ({n})"
            for side, n in (("reference", n_ref), ("production", n_prod))
            if n < MIN_ROWS
        ]
        if short:
            entry["reason"] = f"fewer than {MIN_ROWS} rows on the {' and '.join(short)} side"
            segments[v] = entry
            continue
        for f in compared:
            ref_bins, prod_bins = _aligned_bins(f, ref["bins"][f.name], prod["bins"][f.name])
            psi = drift.psi(ref_bins, prod_bins)
            floor = drift.psi_floor(ref_bins, prod_bins)
            entry["features"][f.name] = {
                "psi": psi,
                "psi_floor": floor,
                "significant": drift.significant(psi, floor),
            }
        found = predicted.get(v)
        if found and ref.get("classes"):
            keys, r, p = drift.aligned(ref["classes"], found["classes"])
            entry["prediction_kl"] = drift.kl(r, p) if sum(p) else None
            if found["labelled"]:
                entry["accuracy"] = found["correct"] / found["labelled"]
        if v in estimated:
            entry["estimated_accuracy"] = estimated[v]
        segments[v] = entry

    keys, r, p = drift.aligned(
        {v: s["n"] for v, s in sides["reference"].items()},
        {v: s["n"] for v, s in sides["production"].items()},
    )
    return segments, drift.psi(r, p)


def _bins(
    engine: Engine,
    segment: str,
    view: str,
    where: str,
    params: dict,
    numerical: list[Feature],
    categorical: list[Feature],
    schema: dict,
    names: list[str],
    edges: dict[str, list[list[float]]],
    class_column: str | None,
) -> dict[str, dict]:
    """Per segment of one side: rows and every feature's PSI bin counts (and classes)."""
    params = {**params, "segments": names}
    edge_columns, projection, aggregates = "", "", ""
    for j, f in enumerate(numerical):
        params[f"edges_{j}"] = [edges[n][j] for n in names]
        edge_columns += f", unnest(CAST($edges_{j} AS DOUBLE[][])) AS e{j}"
        projection += f", {nan_to_null(f.name)} AS f{j}"
        bin_of = " + ".join(
            f"coalesce(CAST(r.f{j} >= e.e{j}[{i}] AS INTEGER), 0)" for i in range(1, 10)
        )
        aggregates += (
            f", histogram(CASE WHEN r.f{j} IS NOT NULL THEN {bin_of} END) AS h{j}"
            f", count(*) - count(r.f{j}) AS m{j}"
        )
    for k, f in enumerate(categorical):
        projection += f", {text(f.name, schema[f.name])} AS c{k}"
        aggregates += f", histogram(r.c{k}) AS hc{k}, count(*) - count(r.c{k}) AS mc{k}"
    if class_column:
        projection += f", {text(class_column, schema[class_column])} AS target"
        aggregates += ", histogram(r.target) AS classes"
    sql = render(
        "segment_bins",
        edge_columns=edge_columns,
        segment=segment,
        projection=projection,
        aggregates=aggregates,
        view=ident(view),
        where=where,
    )
    out = {}
    for row in engine.sources.fetchall(sql, params):
        entry: dict[str, Any] = {"n": int(row[1]), "bins": {}}
        pos = 2
        for f in numerical:
            hist, missing = row[pos] or {}, int(row[pos + 1])
            entry["bins"][f.name] = {-1: missing, **{int(b): int(n) for b, n in hist.items()}}
            pos += 2
        for f in categorical:
            hist, missing = row[pos] or {}, int(row[pos + 1])
            entry["bins"][f.name] = {"\0": missing, **{str(b): int(n) for b, n in hist.items()}}
            pos += 2
        if class_column:
            entry["classes"] = {str(c): int(n) for c, n in (row[pos] or {}).items()}
        out[row[0]] = entry
    return out


def _aligned_bins(f: Feature, ref: dict, prod: dict) -> tuple[list, list]:
    if f.kind == "numerical":
        keys = sorted(set(ref) | set(prod))
        return [ref.get(k, 0) for k in keys], [prod.get(k, 0) for k in keys]
    _, r, p = drift.aligned(ref, prod)
    return r, p


def _predictions(engine: Engine, segment: str, window: Window, params: dict) -> dict[str, dict]:
    """Predicted classes and labelled accuracy per segment (inputs joined to predictions by id)."""
    roles = engine.roles()
    pred, inp, lab = (engine.sources.schema(r) for r in ("predictions", "inputs", "labels"))
    if not (roles.id and roles.id in inp and roles.id in pred and roles.prediction in pred):
        return {}
    where, window_params = window.predicate(roles.timestamp.get("inputs"), table="i")
    labelled = engine.joins_labels()
    sql = render(
        "segment_predictions",
        segment=segment,
        prediction=text(roles.prediction, pred[roles.prediction], "p"),
        target=text(roles.target, lab[roles.target], "l") if labelled else "NULL",
        labels=f"LEFT JOIN labels AS l ON p.{ident(roles.id)} = l.{ident(roles.id)}"
        if labelled
        else "",
        id=ident(roles.id),
        where=where,
    )
    return {
        value: {
            "classes": {str(c): int(n) for c, n in (hist or {}).items()},
            "labelled": int(n_labelled or 0),
            "correct": int(correct or 0),
        }
        for value, hist, n_labelled, correct in engine.sources.fetchall(
            sql, {**params, **window_params}
        )
    }


def _estimated(engine: Engine, segment: str, window: Window, params: dict) -> dict[str, float]:
    """Estimated accuracy (CBPE) per segment, where the predictions log a confidence."""
    from app.cbpe import estimate

    roles = engine.roles()
    pred, inp = engine.sources.schema("predictions"), engine.sources.schema("inputs")
    if not (roles.id and roles.id in inp and roles.id in pred):
        return {}
    if engine.estimated_accuracy(window).get("accuracy") is None:
        return {}
    calibrator = engine.calibration()
    where, window_params = window.predicate(roles.timestamp.get("inputs"), table="i")
    source = f"predictions AS p JOIN inputs AS i ON p.{ident(roles.id)} = i.{ident(roles.id)}"
    found = engine.cbpe_sums(calibrator, source, segment, where, {**params, **window_params})
    return {
        value: estimate(int(n), total or 0.0, spread or 0.0)["accuracy"]
        for value, n, total, spread, _ in found
        if n
    }


def attribution_verdict(
    feature: str,
    entries: list[dict],
    mix_shift: dict[str, float | None],
    warning: float,
    overall: float | None = None,
) -> str | None:
    """One sentence saying where a feature drifted: mostly inside one segment (it drifted there
    and hardly anywhere else), across a column's segments, or not inside any segment while the
    mix of segments changed; None when no segment was compared.

    A segment drifted when its PSI is significant and at or over ``warning``; ``entries`` are
    the feature's ``drift_attribution``, largest contribution first; ``overall`` its PSI over
    all rows (a mix shift explains only a feature that drifted overall)."""
    if not entries:
        return None
    columns = list(dict.fromkeys(e["segment"] for e in entries))
    across = None
    for column in columns:  # the column whose top segment contributes most comes first
        same = [e for e in entries if e["segment"] == column]
        drifted = [e for e in same if e["significant"] and e["psi"] >= warning]
        if not drifted:
            continue
        top, rest = same[0], same[1:]
        rest_share = sum(e["production_share"] for e in rest)
        rest_psi = sum(e["contribution"] for e in rest) / rest_share if rest_share else 0.0
        if top in drifted and rest_psi < warning:
            return (
                f"{feature} drifted mostly inside {column} = {top['value']}: PSI "
                f"{theme.format_metric(top['psi'], 2)} on "
                f"{theme.format_share(top['production_share'], 0)} of rows."
            )
        across = across or (
            f"{feature} drifted across {column}: in {len(drifted)} of {len(same)} segments, "
            f"most inside {column} = {top['value']} (PSI {theme.format_metric(top['psi'], 2)})."
        )
    if across:
        return across
    for column in columns if overall is not None and overall >= warning else ():
        mix = mix_shift.get(column)
        if mix is not None and mix >= warning:
            return (
                f"{feature} changed little inside each {column}; the mix of {column} changed "
                f"(PSI {theme.format_metric(mix, 2)})."
            )
    return f"{feature} did not drift inside any segment."
