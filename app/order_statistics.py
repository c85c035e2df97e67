"""Exact quantiles and counts at edges of one side, located by its grid buckets."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from app.exact_grid import (
    Buckets,
    Fetchall,
    ReferenceProfile,
    Side,
    _bucket_of,
    _grid_params,
    _values_sql,
)
from queries import fragment, render


def order_statistics(
    fetchall: Fetchall,
    profile: ReferenceProfile,
    side: Side,
    grid: Buckets,
    levels: tuple[float, ...],
    edges: tuple[float, ...] | list[float],
    values: Callable[[np.ndarray], tuple[np.ndarray, ...]] | None = None,
) -> tuple[list[float | None], list[int]]:
    """A side's ``quantile_cont`` at each level and its count of values at or over each edge.

    The grid's counts locate the bucket of every order statistic and edge: a bucket holding one
    distinct value settles them at once; the rest take one query that groups the rows of those
    few buckets only (no sort of the whole column, no comparison per row and edge). RN =
    (n - 1) * q as DuckDB computes it, and DuckDB itself interpolates between the two order
    statistics (queries/interpolate.sql), so the quantiles are ``quantile_cont``'s bit for bit.
    ``values(buckets)``, when given, answers those few buckets' (bucket, value, count) from
    values kept per file (app/bucket_values.py) instead of the query.
    """
    counts = grid.counts
    n = int(counts.sum())
    through = np.cumsum(counts)
    ranks: set[int] = set()
    for q in levels if n else ():
        rn = (n - 1) * q
        ranks.update({math.floor(rn), math.ceil(rn)})
    value, wanted = {}, {}
    for rank in sorted(ranks):
        index = int(np.searchsorted(through, rank, side="right"))
        if grid.lows[index] == grid.highs[index]:
            value[rank] = float(grid.lows[index])
        else:
            wanted[rank] = (index - 2, rank - int(through[index] - counts[index]))
    at_least, open_edges = [], {}
    for i, edge in enumerate(edges):
        index = _bucket_of(profile, edge) + 2
        above = int(counts[index + 1 :].sum())
        if not counts[index] or grid.highs[index] < edge:
            at_least.append(above)
        elif grid.lows[index] >= edge:
            at_least.append(above + int(counts[index]))
        else:
            at_least.append(above)
            open_edges[i] = (index - 2, edge)
    if (wanted or open_edges) and values is not None:
        detail = np.array(sorted({k for k, _ in [*wanted.values(), *open_edges.values()]}))
        k, x, counts_at = values(detail)
        for rank, (bucket, offset) in wanted.items():
            inside = k == bucket
            through_here = np.cumsum(counts_at[inside])
            value[rank] = float(x[inside][np.searchsorted(through_here, offset, side="right")])
        for i, (bucket, edge) in open_edges.items():
            at_least[i] += int(counts_at[(k == bucket) & (x >= edge)].sum())
    elif wanted or open_edges:
        sql = render("exact_details", values=_values_sql(side))
        params = {
            **side.params,
            **_grid_params(profile),
            "detail_buckets": sorted({k for k, _ in [*wanted.values(), *open_edges.values()]}),
            "want_buckets": [k for k, _ in wanted.values()],
            "want_offsets": [o for _, o in wanted.values()],
            "edge_buckets": [k for k, _ in open_edges.values()],
            "edge_values": [e for _, e in open_edges.values()],
            "edge_index": list(open_edges),
        }
        found = {}
        for what, k, at, x in fetchall(sql, params):
            if what == 0:
                found[(int(k), int(at))] = float(x)
            else:
                at_least[int(at)] += int(x)
        value.update({rank: found[at] for rank, at in wanted.items()})
    out: list[float | None] = []
    pairs: list[tuple[int, float, float, float]] = []  # (level index, lo, hi, fraction)
    for j, q in enumerate(levels):
        if not n:
            out.append(None)
            continue
        rn = (n - 1) * q
        lo, hi = math.floor(rn), math.ceil(rn)
        out.append(value[lo])
        if lo != hi:
            pairs.append((j, value[lo], value[hi], rn - lo))
    for (j, *_), x in zip(pairs, _interpolate(fetchall, [p[1:] for p in pairs]), strict=True):
        out[j] = x
    return out, at_least


def _interpolate(fetchall: Fetchall, pairs: list[tuple[float, float, float]]) -> list[float]:
    """``quantile_cont`` between each pair (lo, hi) at fraction d, as DuckDB rounds it."""
    if not pairs:
        return []
    params: dict[str, Any] = {
        "pair": [i for i in range(len(pairs)) for _ in range(2)],
        "x": [x for lo, hi, _ in pairs for x in (lo, hi)],
    }
    aggregates = []
    for i, (_, _, d) in enumerate(pairs):
        params[f"d{i}"] = d
        aggregates.append(fragment("interpolate_pair", i=str(i)))
    row = fetchall(render("interpolate", aggregates=", ".join(aggregates)), params)[0]
    return [float(x) for x in row]
