"""Exact two-sample Kolmogorov–Smirnov and Wasserstein distance, computed in DuckDB from buckets.

Only aggregates reach Python (docs/metrics.md, "Drift of one feature"), and at the end the distinct values of
the few cells that need them. Both samples go on one grid of equal-width buckets spanning the
reference's finite range, with a bucket below it, one above it and one each for -inf and +inf.
One GROUP BY per side keeps each bucket's count and the sum of its values' positions inside it:

* KS: the gap F_ref − F_prod between the ECDFs is exact at every bucket edge. Inside a bucket it
  cannot exceed what the bucket's counts allow, so only buckets whose bound reaches the largest
  edge gap need a closer look.
* Wasserstein = ∫|F_ref − F_prod| dx. Over a bucket, ∫F follows from its count and position sum, so
  the integral is exact wherever F_ref − F_prod keeps its sign; only buckets where the sign may
  change need a closer look.

A closer look splits the candidate buckets into sub-cells (one more query over both sides, one row
per sub-cell) and repeats the test on them, until the candidates hold few enough rows to fetch
their distinct values. Undrifted data crosses zero all the time, so this is the common case: on
the order of √n_ref buckets qualify whatever the grid's size, and each level cuts their rows by
``SUBDIVISIONS``.

The statistic is scipy's float formula ``count_ref / n_ref - count_prod / n_prod`` at the same
points, so it equals ``scipy.stats.ks_2samp``'s bit for bit; the p-value follows scipy's code path
from (n_ref, n_prod, D) (app/ks_pvalue.py). The grid and its buckets are app/exact_grid.py; exact
quantiles from the same buckets are app/order_statistics.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from app.exact_grid import (
    Buckets,
    Fetchall,
    Fetchnumpy,
    ReferenceProfile,
    Side,
    _bucket_sums,
    _grid_params,
    _merged_params,
    _values_sql,
)
from app.ks_pvalue import ks_2samp_result
from queries import ident, render

SUBDIVISIONS = 16
"""Sub-cells per cell at each refinement level; a power of two, so positions scale exactly."""

MAX_DEPTH = 4
"""Refinement levels at most; after that the candidates' distinct values are fetched regardless."""

EXACT_ROWS = 20_000
"""Candidate rows that are always fetched as distinct values rather than split further. Above it a
further level pays when the candidates hold more than 1/32 of all rows: one more scan of both
sides costs about as much as fetching a 32nd of their rows into Python."""

Points = Callable[[np.ndarray], list[np.ndarray] | None]
"""Given grid buckets (-2 for -inf ... buckets + 1 for +inf), every distinct value in them as
exact_points.sql returns it at depth 0: (bucket, value, position in the bucket, reference count,
production count), sorted by bucket and value; None when there is none."""

# Cell kinds on the number line, in order: -inf, below the grid, the grid, above the grid, +inf.
_GRID, _BELOW, _ABOVE, _POINT = 0, 1, 2, 3


@dataclass(frozen=True)
class ExactResult:
    """Exact KS and Wasserstein distance between a reference and a production sample.

    ``wasserstein`` is raw, in the column's units (the caller normalises it). A metric that cannot
    be computed is None, with the reason in ``reasons``.
    """

    n_ref: int
    n_prod: int
    ks_statistic: float | None
    ks_pvalue: float | None
    wasserstein: float | None
    reasons: tuple[str, ...] = ()
    refined_buckets: int = 0
    """Grid buckets whose aggregates could not settle the result."""
    passes: int = 0
    """Queries that read production: the bucket aggregate plus one per refinement level."""


def _rows_sql(ref: Side, prod: Side) -> str:
    return render("exact_rows", ref_values=_values_sql(ref), prod_values=_values_sql(prod))


def compare(
    fetchall: Fetchall,
    profile: ReferenceProfile,
    ref: Side,
    prod: Side,
    buckets: Buckets | None = None,
    fetchnumpy: Fetchnumpy | None = None,
    points: Points | None = None,
) -> ExactResult:
    """Exact KS (statistic and scipy's p-value) and raw Wasserstein distance of prod against ref.

    One aggregate pass over production (or its ``production_buckets``, when already computed),
    then a refinement query per level, if any, over the rows of both sides in the few buckets
    whose aggregates cannot settle the result; or, given ``points`` (both sides' distinct values
    in given buckets, kept per file: app/bucket_values.py), no query at all.
    """
    if profile.side != ref:
        raise ValueError(f"the profile was computed for {profile.side}, not for {ref}")
    merged = _merged_params(ref, prod)
    grid = _grid_params(profile)
    prod_grid = buckets if buckets is not None else _bucket_sums(fetchall, prod, grid)
    p, p_sums = prod_grid.counts, prod_grid.position_sums
    n1, n2 = profile.n, int(p.sum())
    if np.isnan(profile.position_sums).any() or np.isnan(p_sums).any():
        # Only a NaN has a NaN position: one got past `NOT isnan(x)`, which DuckDB folds away when
        # it trusts parquet statistics that leave NaN out (duckdb/duckdb#25521).
        return _undefined(
            n1,
            n2,
            "NaN values were read as numbers: DuckDB assumed the parquet files hold no NaN "
            "(scan them with can_have_nan = true, or SET GLOBAL parquet_can_have_nan = true)",
        )
    if n1 == 0 or n2 == 0:
        return _undefined(
            n1, n2, f"no non-missing values in {'the reference' if n1 == 0 else 'production'}"
        )

    line = _Line.from_buckets(profile, prod_grid, n1, n2)
    reasons = []
    if not line.wasserstein_defined:
        reasons.append(_infinite_reason(profile, line))
    refinement = _Refinement(
        fetchall, _rows_sql(ref, prod), {**merged, **grid}, line, fetchnumpy, points
    )
    refinement.run()
    line = refinement.line

    # scipy: cddiffs at every value; minS = clip(-min, 0, 1), maxS = max; D = minS if minS > maxS else maxS
    gap = line.gaps_after()
    gap_max = max([float(gap.max()), *refinement.gap_max])
    gap_min = min([float(gap.min()), *refinement.gap_min])
    min_s = float(np.clip(-gap_min, 0, 1))
    ks_statistic, ks_pvalue = ks_2samp_result(n1, n2, min_s if min_s > gap_max else gap_max)
    wasserstein = (
        line.wasserstein(refinement.area_cells, refinement.areas) / profile.scale
        if line.wasserstein_defined
        else None
    )
    return ExactResult(
        n1,
        n2,
        ks_statistic,
        ks_pvalue,
        wasserstein,
        tuple(reasons),
        refinement.refined_buckets,
        1 + refinement.passes,
    )


def ks_on_values(fetchall: Fetchall, ref: Side, prod: Side) -> tuple[float, float] | None:
    """Exact KS (statistic, scipy's p-value) over the column's own values, not their doubles:
    for integers beyond 2^53, where the grid's doubles merge neighbours (a GROUP BY of each
    side's distinct values; None when a side has no value)."""
    sql = render(
        "exact_ks_values",
        column=ident(ref.column),
        ref_view=ident(ref.view),
        prod_view=ident(prod.view),
        ref_where=ref.where,
        prod_where=prod.where,
    )
    gap_min, gap_max, n1, n2 = fetchall(sql, _merged_params(ref, prod))[0]
    if not n1 or not n2:
        return None
    # scipy: minS = clip(-min, 0, 1), maxS = max; D = minS if minS > maxS else maxS
    min_s = float(np.clip(-gap_min, 0, 1))
    return ks_2samp_result(int(n1), int(n2), min_s if min_s > gap_max else float(gap_max))


def _undefined(n1: int, n2: int, reason: str) -> ExactResult:
    return ExactResult(n1, n2, None, None, None, (f"ks: {reason}", f"wasserstein: {reason}"), 0, 1)


def _infinite_reason(profile: ReferenceProfile, line: _Line) -> str:
    if profile.has_inf:
        what = "the reference has infinite values"
    elif line.p[0] or line.p[-1]:
        what = "production has infinite values"
    else:
        what = "the values span more than the float range"
    return f"wasserstein: {what} (scipy.stats.wasserstein_distance returns inf or nan)"


# -- the number line in cells ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Line:
    """The number line cut into ordered cells, each with both sides' counts and position sums.

    Grid cells have a width (in grid buckets) and positions in units of that width; ``key`` names a
    grid cell at its depth as in queries/exact_cells.sql. A cell known to hold a single distinct
    value (±inf, or found so while refining) is exact from its aggregates, the value sitting at
    ``first_pos``.
    """

    n1: int
    n2: int
    kind: np.ndarray
    key: np.ndarray
    width: np.ndarray
    r: np.ndarray
    p: np.ndarray
    r_pos: np.ndarray
    p_pos: np.ndarray
    single: np.ndarray
    first_pos: np.ndarray
    wasserstein_defined: bool

    @classmethod
    def from_buckets(cls, profile: ReferenceProfile, prod: Buckets, n1: int, n2: int) -> _Line:
        size = profile.buckets + 4
        p, p_sums = prod.counts, prod.position_sums
        kind = np.full(size, _GRID, dtype=np.int8)
        kind[[0, -1]] = _POINT
        kind[1], kind[-2] = _BELOW, _ABOVE
        r, r_sums = profile.counts, profile.position_sums
        defined = (
            not r[[0, 1, -2, -1]].any()
            and not p[[0, -1]].any()
            and bool(np.isfinite(r_sums).all() and np.isfinite(p_sums).all())
        )
        # A grid bucket where each side holds at most one distinct value, the same on both, is
        # exact from its aggregates: no refinement (integer and rounded columns never need one).
        ref = profile.grid
        single = (kind == _POINT) | (
            (kind == _GRID)
            & ref.single
            & prod.single
            & ((r == 0) | (p == 0) | (ref.lows == prod.lows))
        )
        first_pos = np.where(r > 0, ref.first_positions, prod.first_positions)
        # Exact integer arithmetic on gaps scaled by n1 * n2; Python ints if int64 could overflow.
        dtype = np.int64 if n1 * n2 < 2**62 else object
        return cls(
            n1=n1,
            n2=n2,
            kind=kind,
            key=np.arange(-2, profile.buckets + 2, dtype=np.int64),
            width=(kind == _GRID).astype(np.float64),
            r=r.astype(dtype),
            p=p.astype(dtype),
            r_pos=r_sums,
            p_pos=p_sums,
            single=single,
            first_pos=np.where(kind == _GRID, first_pos, 0.0),
            wasserstein_defined=defined,
        )

    @cached_property
    def scaled(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Gaps scaled by n1·n2, exact: after each cell, before it, and the bounds inside it."""
        r_cum, p_cum = np.cumsum(self.r), np.cumsum(self.p)
        r_before, p_before = r_cum - self.r, p_cum - self.p
        after = r_cum * self.n2 - p_cum * self.n1
        before = r_before * self.n2 - p_before * self.n1
        upper = r_cum * self.n2 - p_before * self.n1  # every reference value first
        lower = r_before * self.n2 - p_cum * self.n1  # every production value first
        return after, before, upper, lower

    def gaps_after(self) -> np.ndarray:
        """scipy's float gap at each cell's end (at the last value at or before it)."""
        return np.cumsum(self.r) / self.n1 - np.cumsum(self.p) / self.n2

    def candidates(self) -> np.ndarray:
        """Cells whose aggregates cannot settle the KS statistic or the Wasserstein integral."""
        after, _before, upper, lower = self.scaled
        best = max(after.max(), -after.min())
        # Rational gaps a few float ulps apart may round in either order: look at those too.
        slack = int(self.n1 * self.n2 * 2.0**-50)
        # A cell holding one side only is monotone inside, so its edges settle the KS statistic.
        ks = (self.r > 0) & (self.p > 0) & ((upper >= best - slack) | (-lower >= best - slack))
        if self.wasserstein_defined:
            ks |= (self.kind == _GRID) & (lower < 0) & (upper > 0)
        return ks & ~self.single

    def subdivide(self, cells: np.ndarray, rows: list[np.ndarray] | None) -> _Line:
        """This line with the given grid cells (all at one depth) replaced by their sub-cells."""
        parts = np.where(cells, SUBDIVISIONS, 1)
        start = np.cumsum(parts) - parts
        parent = np.flatnonzero(cells)
        new = {name: np.repeat(getattr(self, name), parts) for name in _ARRAYS}
        subs = (start[parent][:, None] + np.arange(SUBDIVISIONS)).ravel()
        new["key"][subs] = (
            self.key[parent][:, None] * SUBDIVISIONS + np.arange(SUBDIVISIONS)
        ).ravel()
        new["width"][subs] /= SUBDIVISIONS
        for name in ("r", "p", "r_pos", "p_pos", "first_pos"):
            new[name][subs] = 0
        new["single"][subs] = False
        if rows is not None:
            sub, r, p, r_pos, p_pos, single, first_pos = rows
            sub = sub.astype(np.int64)
            owner = np.searchsorted(self.key[parent], sub // SUBDIVISIONS)
            at = start[parent][owner] + sub % SUBDIVISIONS
            new["r"][at], new["p"][at] = r, p
            new["r_pos"][at], new["p_pos"][at] = r_pos, p_pos
            new["single"][at] = single.astype(bool)
            new["first_pos"][at] = first_pos
        return replace(self, **new)

    def wasserstein(self, cells: np.ndarray, areas: np.ndarray) -> float:
        """∫|F_ref − F_prod| in grid buckets, with the exact ``areas`` of the refined ``cells``.

        Over a grid cell ∫F = width · (count before + count − position sum) / n, so
        ∫(F_ref − F_prod) = width · (after / (n1 n2) − S_ref / n1 + S_prod / n2) whenever the sign
        holds. Below the grid F_ref = 0 and ∫F_prod = −S_prod / n2 (positions there are t < 0); above
        it F_ref = 1 and ∫(1 − F_prod) = S_prod / n2 (positions t − buckets).
        """
        after, before, _upper, _lower = self.scaled
        nn = float(self.n1 * self.n2)
        g_after, g_before = after.astype(np.float64) / nn, before.astype(np.float64) / nn
        grid = self.kind == _GRID
        area = np.where(
            grid, np.abs(g_after - self.r_pos / self.n1 + self.p_pos / self.n2) * self.width, 0.0
        )
        single = grid & self.single
        f0 = self.first_pos[single]
        area[single] = (
            np.abs(g_before[single]) * f0 + np.abs(g_after[single]) * (1 - f0)
        ) * self.width[single]
        area[cells] = areas
        area[self.kind == _BELOW] = -self.p_pos[self.kind == _BELOW] / self.n2
        area[self.kind == _ABOVE] = self.p_pos[self.kind == _ABOVE] / self.n2
        return float(area.sum())  # non-negative terms: numpy's pairwise sum is accurate enough


_ARRAYS = ("kind", "key", "width", "r", "p", "r_pos", "p_pos", "single", "first_pos")


class _Refinement:
    """Looks closer at the candidate cells, level by level, until the exact values settle them."""

    def __init__(
        self,
        fetchall: Fetchall,
        rows_sql: str,
        params: dict,
        line: _Line,
        fetchnumpy: Fetchnumpy | None = None,
        points: Points | None = None,
    ):
        self.fetchall, self.rows_sql, self.params, self.line = fetchall, rows_sql, params, line
        self.fetchnumpy, self.points = fetchnumpy, points
        self.passes = 0
        self.refined_buckets = 0
        self.gap_max: list[float] = []
        self.gap_min: list[float] = []
        self.area_cells = np.zeros(0, dtype=np.int64)
        self.areas = np.zeros(0)

    def run(self) -> None:
        line = self.line
        candidates = line.candidates()
        self.refined_buckets = int(candidates.sum())
        if self.points is not None:
            # Every candidate's values are at hand: settle them all at once, no query.
            if candidates.any():
                self._settle(np.flatnonzero(candidates), self.points(line.key[candidates]))
            return
        off_grid = candidates & (line.kind != _GRID)
        if off_grid.any():  # only when finite values overflow the grid: order them exactly
            self._exact(off_grid, depth=0)
        candidates &= line.kind == _GRID
        depth = 0
        while candidates.any():
            rows = int((line.r[candidates] + line.p[candidates]).sum())
            if depth == MAX_DEPTH or rows <= EXACT_ROWS + (line.n1 + line.n2) // 32:
                self._exact(candidates, depth)
                return
            sql = render("exact_cells", rows=self.rows_sql)
            params = self._params(line.key[candidates], depth)
            params["sub_scale"] = SUBDIVISIONS ** (depth + 1)
            line = self.line = line.subdivide(candidates, self._fetch(sql, params))
            depth += 1
            candidates = line.candidates()

    def _params(self, keys: np.ndarray, depth: int) -> dict:
        scale = SUBDIVISIONS**depth
        buckets = np.unique(keys // scale) if depth else keys
        return {
            **self.params,
            "buckets": buckets.tolist(),
            "cells": keys.tolist(),
            "cell_scale": scale,
        }

    def _fetch(self, sql: str, params: dict) -> list[np.ndarray] | None:
        """The query's columns as arrays, or None when it returns no row."""
        self.passes += 1
        if self.fetchnumpy is not None:
            columns = [np.asarray(c) for c in self.fetchnumpy(sql, params).values()]
            return columns if len(columns[0]) else None
        rows = self.fetchall(sql, params)
        return [np.asarray(c) for c in zip(*rows, strict=True)] if rows else None

    def _exact(self, cells: np.ndarray, depth: int) -> None:
        """Settle cells from their distinct values: scipy's float gap at each, and the area."""
        index = np.flatnonzero(cells)
        sql = render("exact_points", rows=self.rows_sql)
        self._settle(index, self._fetch(sql, self._params(self.line.key[index], depth)))

    def _settle(self, index: np.ndarray, rows: list[np.ndarray] | None) -> None:
        """Settle the cells ``index`` from their distinct values ``rows`` (exact_points.sql)."""
        if rows is None:
            return
        line = self.line
        key, x, pos, r, p = rows
        cell = index[np.searchsorted(line.key[index], key.astype(np.int64))]
        order = np.lexsort((x.astype(np.float64), cell))
        cell, pos = cell[order], pos.astype(np.float64)[order]
        r, p = r.astype(line.r.dtype)[order], p.astype(line.p.dtype)[order]
        first = np.r_[True, cell[1:] != cell[:-1]]
        group = np.cumsum(first) - 1
        starts = np.flatnonzero(first)
        r_cum, p_cum = np.cumsum(r), np.cumsum(p)
        _after, before, _upper, _lower = line.scaled
        r_before = np.cumsum(line.r) - line.r
        p_before = np.cumsum(line.p) - line.p
        c_ref = r_before[cell] + r_cum - (r_cum - r)[starts][group]
        c_prod = p_before[cell] + p_cum - (p_cum - p)[starts][group]
        gap = c_ref / line.n1 - c_prod / line.n2  # scipy's float formula
        self.gap_max.append(float(gap.max()))
        self.gap_min.append(float(gap.min()))
        if not line.wasserstein_defined:
            return
        # Each value's gap holds up to the next value of its cell; the last one's up to the cell's end.
        following = np.where(np.r_[~first[1:], False], np.r_[pos[1:], 1.0], 1.0)
        scaled_gap = np.abs(c_ref * line.n2 - c_prod * line.n1).astype(np.float64)
        inside = np.bincount(group, weights=scaled_gap * (following - pos))
        lead = np.abs(before[cell[starts]].astype(np.float64)) * pos[starts]
        self.area_cells = cell[starts]
        self.areas = (lead + inside) / float(line.n1 * line.n2) * line.width[self.area_cells]
