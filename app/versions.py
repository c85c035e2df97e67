"""Model versions side by side, and A/B tests between them (docs/metrics.md, "Model versions").

The predictions name the version that served each row (``[columns] model_version``). Per
version: traffic, class shares and prediction KL against the reference, realized accuracy,
estimated accuracy calibrated on that version's own labelled rows, and the PSI of the inputs it
served against the inputs every other version served (a split that is not random shows here).
Each pair of versions with labels gets the difference of accuracy, its 95 % interval and the
chi-square p-value of its 2 × 2 table; a verdict in words only when p < 0.05.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from app import drift
from app.engine import Engine
from app.roles import Feature
from app.sql_expressions import text
from app.window import BUCKET_WIDTHS, SEGMENT_MISSING, Window
from queries import ident, render

MAX_VERSIONS = 10
"""Versions compared one by one (most rows first); a long tail of versions is left out."""
DECILES = [i / 10 for i in range(1, 10)]
Z_95 = 1.96
SIGNIFICANCE = 0.05


def model_versions(engine: Engine, window: Window) -> dict:
    """``version_report``, computed once per data version and window (and kept in the store)."""
    return engine.cached(
        "model_versions", (engine.version, window), lambda: version_report(engine, window)
    )


def version_report(engine: Engine, window: Window) -> dict:
    """``versions``, ``ab_tests`` and ``version_traffic`` of the report; empty without versions."""
    roles = engine.roles()
    pred = engine.sources.schema("predictions")
    out: dict[str, Any] = {"versions": {}, "ab_tests": [], "version_traffic": None}
    if not (roles.model_version and roles.prediction in pred):
        return out
    ts = roles.timestamp.get("predictions")
    where, window_params = window.predicate(ts, table="p")
    params = {**window_params, "missing": SEGMENT_MISSING}
    version = engine.version_sql()
    labelled = engine.joins_labels()
    lab = engine.sources.schema("labels")
    found = engine.sources.fetchall(
        render(
            "version_classes",
            version=version,
            prediction=text(roles.prediction, pred[roles.prediction], "p"),
            target=text(roles.target, lab[roles.target], "l") if labelled else "NULL",
            labels=f"LEFT JOIN labels AS l ON p.{ident(roles.id)} = l.{ident(roles.id)}"
            if labelled
            else "",
            where=where,
        ),
        params,
    )[:MAX_VERSIONS]
    total = sum(int(n) for _, n, *_ in found)
    reference = engine.class_counts(Window())["reference"] or {}
    for name, n, predicted, n_labelled, correct in found:
        classes = {str(k): int(v) for k, v in (predicted or {}).items()}
        entry: dict[str, Any] = {
            "rows": int(n),
            "share": int(n) / total if total else None,
            "classes": {k: v / int(n) for k, v in classes.items()} if n else {},
            "prediction_kl": None,
            "labelled": int(n_labelled or 0),
            "correct": int(correct or 0),
            "accuracy": int(correct or 0) / int(n_labelled or 0) if n_labelled else None,
            "estimated_accuracy": None,
            "input_psi": {},
        }
        if reference and classes:
            _, r, p = drift.aligned(reference, classes)
            entry["prediction_kl"] = drift.kl(r, p)
        entry["estimated_accuracy"] = _estimated(engine, name, where, params)
        out["versions"][name] = entry
    if len(out["versions"]) > 1:
        for name, entry in out["versions"].items():
            entry["input_psi"] = _input_psi(engine, name, where, params)
        out["ab_tests"] = ab_tests(out["versions"])
    if ts:
        out["version_traffic"] = _traffic(engine, window, ts, version, where, params)
    return out


def _estimated(engine: Engine, name: str, where: str, params: dict) -> float | None:
    """CBPE of one version's predictions, calibrated on that version's labelled rows."""
    from app.cbpe import estimate

    calibrator = engine.calibration(model_version=name)
    if calibrator is None:
        return None
    only = f"({where}) AND {engine.version_sql()} = $model_version"
    sums = engine.cbpe_sums(
        calibrator, "predictions AS p", "NULL", only, {**params, "model_version": name}
    )
    rows = sum(int(n) for _, n, *_ in sums)
    total = sum(t or 0.0 for _, _, t, _, _ in sums)
    spread = sum(s or 0.0 for _, _, _, s, _ in sums)
    return estimate(rows, total, spread)["accuracy"]


def _input(f: Feature) -> str:
    """An input column of i as DOUBLE with NaN as NULL."""
    column = f"CAST(i.{ident(f.name)} AS DOUBLE)"
    return f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END"


def _input_psi(engine: Engine, name: str, where: str, params: dict) -> dict[str, dict]:
    """PSI of each input served by version ``name`` against the inputs the others served (their
    deciles are the edges), with its sample-size floor."""
    roles = engine.roles()
    inp, pred = engine.sources.schema("inputs"), engine.sources.schema("predictions")
    if not (roles.id and roles.id in inp and roles.id in pred):
        return {}
    features = [
        f
        for f in roles.features
        if f.production_type is not None and f.kind in ("numerical", "categorical")
    ]
    numerical = [f for f in features if f.kind == "numerical"]
    categorical = [f for f in features if f.kind == "categorical"]
    params = {**params, "model_version": name}
    version = engine.version_sql()
    projection = "".join(f", {_input(f)} AS f{j}" for j, f in enumerate(numerical))
    edges: list[list[float]] = [[] for _ in numerical]
    if numerical:
        quantiles = "".join(
            f", quantile_cont(f{j}, $levels) AS q{j}" for j in range(len(numerical))
        )
        row = engine.sources.fetchall(
            render(
                "version_edges",
                quantiles=quantiles,
                version=version,
                projection=projection,
                id=ident(roles.id),
                where=where,
            ),
            {**params, "levels": DECILES},
        )[0]
        edges = [sorted({float(q) for q in (qs or []) if q is not None}) for qs in row[1:]]
    aggregates = ""
    for j, cut in enumerate(edges):
        terms = [f"CAST(f{j} >= $e{j}_{i} AS INTEGER)" for i in range(len(cut))]
        params.update({f"e{j}_{i}": value for i, value in enumerate(cut)})
        aggregates += (
            f", histogram(CASE WHEN f{j} IS NOT NULL THEN {' + '.join(terms) or '0'} END)"
            f", count(*) - count(f{j})"
        )
    for k, f in enumerate(categorical):
        projection += f", {text(f.name, inp[f.name], 'i')} AS c{k}"
        aggregates += f", histogram(c{k}), count(*) - count(c{k})"
    sides: dict[bool, list] = {}
    for row in engine.sources.fetchall(
        render(
            "version_bins",
            aggregates=aggregates,
            version=version,
            projection=projection,
            id=ident(roles.id),
            where=where,
        ),
        params,
    ):
        sides[bool(row[0])] = list(row[2:])
    mine, others = sides.get(True), sides.get(False)
    if mine is None or others is None:
        return {}
    out = {}
    for pos, f in enumerate([*numerical, *categorical]):
        ref = {"\0": int(others[2 * pos + 1]), **dict(others[2 * pos] or {})}
        prod = {"\0": int(mine[2 * pos + 1]), **dict(mine[2 * pos] or {})}
        keys = sorted(set(ref) | set(prod), key=str)
        r, p = [ref.get(key, 0) for key in keys], [prod.get(key, 0) for key in keys]
        psi = drift.psi(r, p)
        floor = drift.psi_floor(r, p)
        out[f.name] = {"psi": psi, "psi_floor": floor, "significant": drift.significant(psi, floor)}
    return out


def _traffic(
    engine: Engine, window: Window, ts: str, version: str, where: str, params: dict
) -> dict | None:
    """Rows per version per time bucket (the buckets of accuracy over time)."""
    buckets = engine.prediction_buckets(window)
    if buckets is None:
        return None
    width, bucket_params = buckets
    rows: dict[datetime, dict[str, int]] = {}
    for start, name, n in engine.sources.fetchall(
        render("version_traffic", timestamp=ident(ts), version=version, where=where),
        {**params, **bucket_params},
    ):
        rows.setdefault(start, {})[name] = int(n)
    step = BUCKET_WIDTHS[width]
    return {
        "width": width,
        "buckets": [
            {"start": start, "end": start + step, "rows": counts}
            for start, counts in sorted(rows.items())
        ],
    }


def ab_tests(versions: dict[str, dict]) -> list[dict]:
    """Every pair (A, B) of versions with labelled rows, A the one with more traffic: the
    difference of accuracy d = acc_B − acc_A, its 95 % interval, the chi-square p-value of the
    2 × 2 table of right / wrong counts (no continuity correction), and a verdict."""
    labelled = [(name, v) for name, v in versions.items() if v["labelled"]]
    labelled.sort(key=lambda item: (-item[1]["rows"], item[0]))
    out = []
    for i, (a, va) in enumerate(labelled):
        for b, vb in labelled[i + 1 :]:
            out.append(_ab(a, va, b, vb))
    return out


def _ab(a: str, va: dict, b: str, vb: dict) -> dict:
    n_a, n_b = va["labelled"], vb["labelled"]
    acc_a, acc_b = va["correct"] / n_a, vb["correct"] / n_b
    difference = acc_b - acc_a
    half = Z_95 * math.sqrt(acc_a * (1 - acc_a) / n_a + acc_b * (1 - acc_b) / n_b)
    pvalue = _pvalue(va["correct"], n_a, vb["correct"], n_b)
    test = {
        "a": a,
        "b": b,
        "n_a": n_a,
        "n_b": n_b,
        "accuracy_a": acc_a,
        "accuracy_b": acc_b,
        "difference": difference,
        "lower": difference - half,
        "upper": difference + half,
        "pvalue": pvalue,
    }
    test["verdict"] = verdict(test)
    return test


def _pvalue(right_a: int, n_a: int, right_b: int, n_b: int) -> float | None:
    from scipy.stats import chi2_contingency

    table = [[right_a, n_a - right_a], [right_b, n_b - right_b]]
    if any(sum(col) == 0 for col in zip(*table, strict=True)):
        return None  # all right or all wrong on both sides: nothing to test
    return float(chi2_contingency(table, correction=False).pvalue)


def verdict(test: dict) -> str:
    """ "v2 is more accurate than v1 by 3.1 points, 95 % interval 1.2–5.0, p = 0.001" only when
    p < 0.05; else "no difference shown yet, n = …"."""
    p = test["pvalue"]
    if p is None or p >= SIGNIFICANCE:
        return f"no difference shown yet, n = {test['n_a']:,} and {test['n_b']:,}"
    d, lo, hi = test["difference"], test["lower"], test["upper"]
    a, b = (f"version {v}" if str(v).isdigit() else str(v) for v in (test["a"], test["b"]))
    better, worse = (b, a) if d > 0 else (a, b)
    lo, hi = (lo, hi) if d > 0 else (-hi, -lo)
    return (
        f"{better} is more accurate than {worse} by {abs(d) * 100:.1f} points, "
        f"95 % interval {lo * 100:.1f}–{hi * 100:.1f}, p = {p:.2g}"
    )
