"""Both samples on one grid of equal-width buckets over the reference's finite range.

A bucket below the grid, one above it and one each for -inf and +inf complete the number line.
One GROUP BY per side keeps each bucket's count, the sum of its values' positions inside it, its
smallest and largest value: what app/exact_distance.py refines into exact KS and Wasserstein,
app/order_statistics.py into exact quantiles and app/grid_summary.py into production summaries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from queries import ident, render

Fetchall = Callable[[str, dict], list[tuple]]
Fetchnumpy = Callable[[str, dict], dict[str, np.ndarray]]
"""Runs a query and returns its columns as numpy arrays (DuckDB's ``fetchnumpy``): the bucket
aggregates are tens of thousands of rows, several times faster to fetch as columns than as tuples."""

BUCKETS = 65536
"""Grid buckets over the reference range. Fewer aggregate faster but leave more rows in the
buckets that need a closer look (DuckDB's GROUP BY slows down as the groups outgrow the caches)."""

_OWN_PARAMS = frozenset(
    {"bucket_lo", "bucket_scale", "bucket_count", "buckets", "cells", "cell_scale", "sub_scale"}
)


@dataclass(frozen=True)
class Side:
    """One sample: the non-missing values of a column of a view, optionally filtered."""

    view: str
    column: str
    where: str = "TRUE"
    """A SQL predicate built from quoted identifiers and ``$params`` only."""
    params: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Buckets:
    """One side on the grid, indexed by bucket + 2 (-inf, below the grid, the grid's buckets,
    above it, +inf): per bucket the count, the sum of positions, the smallest and largest value
    and the smallest position (a bucket whose smallest and largest value are equal holds one
    distinct value, sitting at that position)."""

    counts: np.ndarray
    position_sums: np.ndarray
    lows: np.ndarray
    highs: np.ndarray
    first_positions: np.ndarray

    @property
    def single(self) -> np.ndarray:
        """Buckets holding one distinct value (or none)."""
        return (self.counts == 0) | (self.lows == self.highs)

    def distinct_if_known(self) -> int | None:
        """Distinct values when every non-empty bucket holds one; else None (ask DuckDB)."""
        if not self.single.all():
            return None
        return int((self.counts > 0).sum())


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """What the exact distances need from the reference; it changes only with the reference data.

    ``counts`` and ``position_sums`` are indexed by bucket + 2: -inf, below the grid, the grid's
    ``buckets`` buckets, above the grid, +inf.
    """

    side: Side
    n: int
    """Non-missing values (±inf included)."""
    minimum: float | None
    """Smallest finite value (None when there is none)."""
    maximum: float | None
    """Largest finite value (None when there is none)."""
    std: float | None
    """Population standard deviation (ddof=0); None when there is no value or one is infinite."""
    infinite: int
    """How many values are +inf or -inf."""
    origin: float
    """Where the grid starts (the smallest finite value)."""
    scale: float
    """Grid buckets per unit of value."""
    buckets: int
    grid: Buckets

    @property
    def counts(self) -> np.ndarray:
        return self.grid.counts

    @property
    def position_sums(self) -> np.ndarray:
        return self.grid.position_sums

    @property
    def has_inf(self) -> bool:
        return self.infinite > 0


def _values_sql(side: Side) -> str:
    return render(
        "exact_values", column=ident(side.column), view=ident(side.view), where=side.where
    )


def _grid_params(profile: ReferenceProfile) -> dict[str, Any]:
    return {
        "bucket_lo": profile.origin,
        "bucket_scale": profile.scale,
        "bucket_count": profile.buckets,
    }


def _merged_params(*sides: Side) -> dict:
    merged: dict = {}
    for side in sides:
        for key, value in side.params.items():
            if key in _OWN_PARAMS:
                raise ValueError(
                    f"parameter ${key} of {side.view}.{side.column} is reserved for exact distances"
                )
            if key in merged and merged[key] != value:
                raise ValueError(f"parameter ${key} has different values on the two sides")
            merged[key] = value
    return merged


def _bucket_sums(
    fetchall: Fetchall, side: Side, grid: dict, fetchnumpy: Fetchnumpy | None = None
) -> Buckets:
    """One side's aggregates per bucket of the grid (one GROUP BY)."""
    sql, params = render("exact_buckets", values=_values_sql(side)), {**side.params, **grid}
    if fetchnumpy is not None:
        columns = fetchnumpy(sql, params)
        k, n, f, lo, hi, first = (
            columns[name] for name in ("k", "n", "f_sum", "lo", "hi", "first_f")
        )
    else:
        rows = fetchall(sql, params)
        k, n, f, lo, hi, first = zip(*rows, strict=True) if rows else ((),) * 6
    size = grid["bucket_count"] + 4
    counts = np.zeros(size, dtype=np.int64)
    sums, lows, highs, firsts = (np.zeros(size, dtype=np.float64) for _ in range(4))
    if len(k):
        index = np.asarray(k, dtype=np.int64) + 2
        counts[index] = np.asarray(n, dtype=np.int64)
        sums[index] = np.asarray(f, dtype=np.float64)
        lows[index] = np.asarray(lo, dtype=np.float64)
        highs[index] = np.asarray(hi, dtype=np.float64)
        firsts[index] = np.asarray(first, dtype=np.float64)
    for array in (counts, sums, lows, highs, firsts):
        array.setflags(write=False)
    return Buckets(counts, sums, lows, highs, firsts)


def _grid(minimum: float | None, maximum: float | None, buckets: int) -> tuple[float, float, int]:
    """(origin, scale, buckets) such that every finite reference value has 0 <= t < buckets."""
    if minimum is None or maximum is None:
        return 0.0, 1.0, 1
    width = maximum - minimum
    if width == 0:
        return minimum, 1.0, 1
    if math.isinf(width):
        # A range beyond the largest float: the far values overflow to the bucket above the grid,
        # where the KS refinement still orders them exactly; Wasserstein reports the overflow.
        return minimum, buckets / (maximum / 2 - minimum / 2) / 2, buckets
    scale = buckets / width
    if not math.isfinite(scale):  # so narrow a range that buckets / width overflows
        return minimum, 1.0, 1
    # DuckDB computes t = (x - lo) * scale in IEEE doubles as Python does: keep the maximum below
    # the grid's end, so that no reference value lands above the grid.
    while width * scale >= buckets:
        scale = math.nextafter(scale, 0.0)
    return minimum, scale, buckets


# -- public API --------------------------------------------------------------------------------------
def reference_profile(
    fetchall: Fetchall,
    ref: Side,
    buckets: int = BUCKETS,
    fetchnumpy: Fetchnumpy | None = None,
) -> ReferenceProfile:
    """The reference's size, finite range, spread, infinities and per-bucket sums (two queries)."""
    if buckets < 1:
        raise ValueError("buckets must be at least 1")
    _merged_params(ref)
    stats_sql = render(
        "exact_stats", column=ident(ref.column), view=ident(ref.view), where=ref.where
    )
    n, minimum, maximum, std, infinite = fetchall(stats_sql, dict(ref.params))[0]
    origin, scale, size = _grid(minimum, maximum, buckets)
    grid = {"bucket_lo": origin, "bucket_scale": scale, "bucket_count": size}
    return ReferenceProfile(
        side=ref,
        n=int(n),
        minimum=minimum,
        maximum=maximum,
        std=None if infinite or std is None or not math.isfinite(std) else float(std),
        infinite=int(infinite),
        origin=origin,
        scale=scale,
        buckets=size,
        grid=_bucket_sums(fetchall, ref, grid, fetchnumpy),
    )


def production_buckets(
    fetchall: Fetchall,
    profile: ReferenceProfile,
    prod: Side,
    fetchnumpy: Fetchnumpy | None = None,
) -> Buckets:
    """Production's aggregates on the reference's grid (one aggregate pass)."""
    _merged_params(prod)
    return _bucket_sums(fetchall, prod, _grid_params(profile), fetchnumpy)


def _bucket_of(profile: ReferenceProfile, x: float) -> int:
    """The bucket queries/exact_values.sql puts a value in (the same float arithmetic)."""
    t = (x - profile.origin) * profile.scale
    if t < 0:
        return -1 - int(math.isinf(x))
    if t >= profile.buckets:
        return profile.buckets + int(math.isinf(x))
    return math.floor(t)
