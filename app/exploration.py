"""What the pages explore beyond the metrics: a feature's distribution, and production rows.

Functions of an ``Engine``; every result is an aggregate or one page of rows.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from app.window import Window
from queries import ident, render

if TYPE_CHECKING:
    from app.engine import Engine


def distribution(engine: Engine, name: str, window: Window, bins: int) -> dict:
    """Reference vs production distribution of one feature, ready to plot (see
    ``Engine.distribution``)."""
    f = engine.roles().feature(name)
    reference, production = (
        engine.reference_profile(window.segment).get(name),
        engine.production_profile(window).get(name),
    )
    out: dict[str, Any] = {"feature": name, "kind": f.kind}
    if f.kind != "numerical":
        # The values listed are each side's most frequent; shares are of all its rows.
        out["present"] = {
            side: entry["present"]
            for side, entry in (("reference", reference), ("production", production))
            if entry
        }
        if f.kind == "high_cardinality":
            return {**out, **top_values(engine, name, window, reference, production)}
        for side, entry in (("reference", reference), ("production", production)):
            if not entry:
                out[side] = {}
            else:
                out[side] = dict(sorted(entry["counts"].items(), key=lambda kv: -kv[1])[:bins])
        return out
    where, params = engine.window_sql("inputs", window)
    ref_where, ref_params = engine.window_sql("reference", window)
    # The finite range of both sides (±inf stay out of an equal-width histogram).
    ranges = [
        finite_range(engine, name, role, clause, p, entry)
        for entry, role, clause, p in (
            (reference, "reference", ref_where, ref_params),
            (production, "inputs", where, params),
        )
        if entry
    ]
    lows = [lo for lo, _ in ranges if lo is not None]
    highs = [hi for _, hi in ranges if hi is not None]
    if not lows or not highs:
        return {**out, "edges": [], "reference": [], "production": []}
    lo, hi = min(lows), max(highs)
    width = (hi - lo) / bins if hi > lo else 1.0
    out["edges"] = [lo + i * width for i in range(bins + 1)]
    for side, entry, role, clause, p in (
        ("reference", reference, "reference", ref_where, ref_params),
        ("production", production, "inputs", where, params),
    ):
        counts = [0] * bins
        if entry:
            sql = render("histogram", column=ident(name), view=ident(role), where=clause)
            for b, n in engine.sources.fetchall(sql, {**p, "lo": lo, "width": width, "bins": bins}):
                counts[int(b)] = int(n)
        out[side] = counts
    return out


def top_values(
    engine: Engine, name: str, window: Window, reference: dict | None, production: dict | None
) -> dict:
    """A high-cardinality feature's most frequent values on either side (the union of both
    top lists, in the order listed) with their rows on both sides: a value outside one side's
    top list is counted there by one aggregate over the rows holding it."""
    sides = {"reference": ("reference", reference), "production": ("inputs", production)}
    tops = {side: dict(entry["top"]) if entry else {} for side, (_, entry) in sides.items()}
    values = list(dict.fromkeys([*tops["reference"], *tops["production"]]))
    # How many values each side's list holds (the top of each side, the chart's title).
    listed = max((len(t) for t in tops.values()), default=0)
    out: dict[str, Any] = {"values": values, "listed": listed}
    for side, (role, entry) in sides.items():
        counts = tops[side]
        absent = [v for v in values if v not in counts]
        if entry and absent:
            where, params = engine.window_sql(role, window)
            sql = render("value_counts", column=ident(name), view=ident(role), where=where)
            found = dict(engine.sources.fetchall(sql, {**params, "values": absent}))
            counts = {**counts, **{v: int(found.get(v, 0)) for v in absent}}
        out[side] = counts if entry else {}
    return out


def finite_range(
    engine: Engine, name: str, role: str, where: str, params: dict, entry: dict
) -> tuple[float | None, float | None]:
    """Smallest and largest finite value of a side: its summary's, unless that is ±inf."""
    lo, hi = entry.get("min"), entry.get("max")
    if lo is None or (math.isfinite(lo) and math.isfinite(hi)):
        return lo, hi
    sql = render("exact_stats", column=ident(name), view=ident(role), where=where)
    _, lo, hi, _, _ = engine.sources.fetchall(sql, params)[0]
    return lo, hi


def production_rows(engine: Engine, window: Window, offset: int = 0, limit: int = 50):
    """A page of the most recent production inputs (with predictions when joinable by id)."""
    roles = engine.roles()
    if not engine.sources.available("inputs"):
        return None
    ts = roles.timestamp.get("inputs")
    where, params = engine.window_sql("inputs", window)
    params.update({"limit": int(limit), "offset": int(offset)})
    view = ident("inputs")
    pred_schema = engine.sources.schema("predictions")
    if (
        roles.id
        and roles.prediction
        and roles.id in pred_schema
        and roles.id in engine.sources.schema("inputs")
    ):
        extra = ", ".join(
            f"p.{ident(c)}"
            for c in pred_schema
            if c not in (roles.id, ts) and c not in engine.sources.schema("inputs")
        )
        view = (
            f"(SELECT i.*{', ' + extra if extra else ''} FROM inputs i LEFT JOIN "  # noqa: S608
            f"(SELECT DISTINCT ON ({ident(roles.id)}) * FROM predictions) p USING ({ident(roles.id)}))"
        )
    # Newest first; rows logged at the same instant keep one order (by id) across pages.
    order = f"{ident(ts)} DESC NULLS LAST" if ts else "1"
    if roles.id and roles.id in engine.sources.schema("inputs"):
        order += f", {ident(roles.id)}"
    return engine.sources.fetchdf(
        render("production_rows", view=view, where=where, order=order), params
    )
