"""Production's summary statistics of a numerical feature from its buckets on the reference grid.

The exact distances already count production's values per bucket of the reference's grid (with
each bucket's smallest and largest value), so the min, max and out-of-range count need no pass of
their own; the mean and std come from sums about the reference mean taken in the profile scan.
Each function answers None where it cannot be sure of every digit: the engine then asks DuckDB.
"""

from __future__ import annotations

import math

import numpy as np

from app.exact_grid import Buckets, ReferenceProfile

CONDITION = 16.0
"""Largest ratio of the sum of squares about the shift to the sum of squares about the mean for
which the shifted sums are trusted: the rounding error of the sum grows by this factor in the
variance. It is reached when production's mean sits about four of its standard deviations away
from the reference mean; further drifted columns are asked of DuckDB (its mean, then sums about it)."""


def value_range(buckets: Buckets) -> tuple[float | None, float | None]:
    """The smallest and largest value (±inf included): buckets are in value order."""
    filled = np.flatnonzero(buckets.counts)
    if not len(filled):
        return None, None
    return float(buckets.lows[filled[0]]), float(buckets.highs[filled[-1]])


def mean_std(
    present: int,
    total: float | None,
    squares: float | None,
    shift: float,
    lowest: float | None,
    highest: float | None,
) -> tuple[float | None, float | None] | None:
    """(mean, std with ddof=1) of ``present`` values from the sum of their distances from
    ``shift`` and the sum of their squares; None when those cannot give every digit."""
    if not present:
        return None, None
    if lowest == highest and lowest is not None and math.isfinite(lowest):
        return lowest, (0.0 if present > 1 else None)  # one value, however often
    if present < 2:
        return None
    summed = moments(present, total, squares, shift)
    if summed is None:
        return None
    mean, deviations = summed
    if not deviations > 0 or squares > CONDITION * deviations:
        return None
    return mean, math.sqrt(deviations / (present - 1))


def moments(
    present: int, total: float | None, squares: float | None, shift: float
) -> tuple[float, float] | None:
    """(mean, sum of squares about the mean) of ``present`` values from the sum of their
    distances from ``shift`` and the sum of their squares; None when a sum is not finite (an
    infinite value, or an overflow). Exact to rounding when ``shift`` is close to the mean."""
    if not present or total is None or squares is None:
        return None
    if not (math.isfinite(total) and math.isfinite(squares)):
        return None
    offset = total / present
    return shift + offset, max(squares - total * offset, 0.0)


def out_of_range(
    buckets: Buckets, profile: ReferenceProfile, minimum: float | None, maximum: float | None
) -> int | None:
    """How many values lie outside the reference [minimum, maximum], from the buckets beside
    the grid; None when the reference range is not the grid's or an edge bucket is ambiguous."""
    if profile.minimum is None or minimum != profile.minimum or maximum != profile.maximum:
        return None  # the reference holds ±inf (its min or max is not the grid's edge)
    counts, first, last = buckets.counts, 2, 1 + profile.buckets
    if counts[first] and buckets.lows[first] < minimum:
        return None
    if counts[last] and buckets.highs[last] > maximum:
        return None
    # -inf, below the grid, above it, +inf (see Buckets).
    return int(counts[0] + counts[1] + counts[-2] + counts[-1])
