"""The values inside chosen grid buckets, from each file's values kept sorted in the store.

Exact KS, Wasserstein and quantiles settle most of the number line from bucket aggregates; the
few buckets they cannot settle need the values inside (app/exact_distance.py,
app/order_statistics.py). Which buckets those are depends on every file at once, so it changes
when a file lands. Rather than reading every file's rows in those buckets again, each file's
values of the column are kept once, sorted (a numpy file in the store, mapped into memory): the
values of bucket b are one slice of it, whose bounds follow from the file's bucket counts (the
grid is monotone in the value). A file whose every bucket holds one distinct value keeps nothing:
its bucket aggregates (smallest value, count) are its values.

The grid's arithmetic is DuckDB's (queries/exact_values.sql); a kept file is checked against the
file's bucket counts from DuckDB when written: the first and last value of every slice must land
in that bucket by the same arithmetic, else nothing is kept and the rows are read as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

MAX_VALUES = 25_000_000
"""Largest number of values of one file kept sorted (its sort and the kept file stay within
memory); a larger file's buckets are refined from its rows."""


class NotKept(ValueError):
    """A file's values are not kept sorted: too many, or they do not land in the buckets DuckDB
    counted (its rows are then read as before)."""


@dataclass(frozen=True, eq=False)
class Part:
    """One file's (or the reference's) values: counts and smallest value per bucket (indexed by
    bucket + 2, as ``exact_grid.Buckets``), and its values sorted (empty when every non-empty
    bucket holds one distinct value)."""

    counts: np.ndarray
    lows: np.ndarray
    values: np.ndarray

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)])


def buckets_of(x: np.ndarray, origin: float, scale: float, buckets: int) -> np.ndarray:
    """Each value's bucket, by queries/exact_values.sql's arithmetic (IEEE doubles both)."""
    with np.errstate(over="ignore", invalid="ignore"):
        # A finite value far beyond the grid overflows to ±inf, as it does in the SQL.
        t = (x - origin) * scale
        inside = np.floor(np.where((t >= 0) & (t < buckets), t, 0)).astype(np.int64)
    infinite = np.isinf(x).astype(np.int64)
    return np.where(t < 0, -1 - infinite, np.where(t >= buckets, buckets + infinite, inside))


MAGIC = b"DDSORT01"
"""The kept file: this, the number of values (little-endian uint64), then the values as
little-endian doubles. Not numpy's ``.npy``: its header is parsed by ``ast``, which CPython 3.11
does not allow from two threads at once."""
HEADER = len(MAGIC) + 8
SUFFIX = ".f64"
"""The kept files' kind among the store's file entries."""


def save(values: np.ndarray, handle: BinaryIO) -> None:
    """Keep values already sorted and known to land in their buckets (empty when every bucket
    holds one value)."""
    x = np.ascontiguousarray(values, dtype="<f8")
    handle.write(MAGIC + np.uint64(len(x)).astype("<u8").tobytes())
    handle.write(x.tobytes() if len(x) < 1 << 20 else memoryview(x).cast("B"))


def write_sorted(
    values: Callable[[], np.ndarray],
    counts: np.ndarray,
    single: bool,
    grid: tuple[float, float, int],
    handle: BinaryIO,
) -> None:
    """Keep one file's ``values()`` sorted (nothing when ``single``: every bucket holds one
    value), after checking they land in the buckets DuckDB counted (``counts``, by bucket + 2)."""
    if int(counts.sum()) > MAX_VALUES:
        raise NotKept(f"{int(counts.sum())} values: more than kept sorted")
    if single:
        save(np.zeros(0), handle)
        return
    x = np.asarray(values(), dtype=np.float64)
    x = x[~np.isnan(x)]
    if len(x) != int(counts.sum()):
        raise NotKept(f"{len(x)} values, {int(counts.sum())} counted")
    x.sort()
    filled = np.flatnonzero(counts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    ends = np.concatenate([x[offsets[filled]], x[offsets[filled + 1] - 1]])
    if not np.array_equal(buckets_of(ends, *grid), np.concatenate([filled, filled]) - 2):
        raise NotKept("values land in other buckets than DuckDB counted")
    save(x, handle)


def read_sorted(path: Path) -> np.ndarray:
    """One kept file of sorted values, mapped into memory (raises on a damaged file)."""
    with open(path, "rb") as handle:
        header = handle.read(HEADER)
    if len(header) != HEADER or header[: len(MAGIC)] != MAGIC:
        raise ValueError(f"{path.name}: not a file of sorted values")
    count = int(np.frombuffer(header[len(MAGIC) :], dtype="<u8")[0])
    if path.stat().st_size != HEADER + 8 * count:
        raise ValueError(f"{path.name}: {count} values announced, not all there")
    if not count:
        return np.zeros(0)
    return np.memmap(path, dtype="<f8", mode="r", offset=HEADER, shape=(count,))


def take(parts: list[Part], buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bucket, value, count) of every distinct value in ``buckets`` (bucket numbers, -2 for
    -inf ... buckets + 1 for +inf) over all ``parts``, sorted by bucket and value."""
    buckets = np.asarray(buckets, dtype=np.int64)
    ks, xs, ns = [], [], []
    for part in parts:
        if len(part.values) != int(part.counts.sum()) and len(part.values):
            raise NotKept("kept values do not match the file's counts")
        c = part.counts[buckets + 2].astype(np.int64)
        if not len(part.values):
            keep = c > 0
            ks.append(buckets[keep])
            xs.append(part.lows[buckets[keep] + 2].astype(np.float64))
            ns.append(c[keep])
            continue
        start = part.offsets[buckets + 2]
        total = int(c.sum())
        # Every index of every bucket's slice, in bucket order.
        index = np.repeat(start - (np.cumsum(c) - c), c) + np.arange(total)
        ks.append(np.repeat(buckets, c))
        xs.append(np.asarray(part.values[index], dtype=np.float64))
        ns.append(np.ones(total, dtype=np.int64))
    k, x, n = (np.concatenate(a) if a else np.zeros(0) for a in (ks, xs, ns))
    return grouped(k.astype(np.int64), x.astype(np.float64), n.astype(np.int64))


def grouped(k: np.ndarray, x: np.ndarray, *counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Equal (bucket, value) pairs as one, their ``counts`` summed; sorted by bucket, value.

    The bucket grows with the value (the grid is monotone), so sorting by value sorts by both;
    the parts come as runs already sorted, which a stable sort (timsort) merges in about one pass.
    """
    order = np.argsort(x, kind="stable")
    k, x = k[order], x[order]
    first = np.ones(len(k), dtype=bool)
    first[1:] = (k[1:] != k[:-1]) | (x[1:] != x[:-1])
    starts = np.flatnonzero(first)
    summed = [np.add.reduceat(c[order], starts) if len(starts) else c[:0] for c in counts]
    return (k[first], x[first], *summed)


@dataclass(frozen=True, eq=False)
class Kept:
    """Both sides' kept values of one feature on the reference grid (origin, scale, buckets)."""

    reference: list[Part]
    production: list[Part]
    grid: tuple[float, float, int]

    def production_values(self, buckets: np.ndarray) -> tuple[np.ndarray, ...]:
        """(bucket, value, count) of production's distinct values in ``buckets``."""
        return take(self.production, buckets)

    def production_distinct(self) -> int:
        """How many distinct values production holds (its kept values, or each single bucket's)."""
        values = [
            part.values if len(part.values) else part.lows[part.counts > 0]
            for part in self.production
        ]
        return len(np.unique(np.concatenate(values))) if values else 0

    def points(self, buckets: np.ndarray) -> list[np.ndarray] | None:
        """Both sides' distinct values in ``buckets`` as queries/exact_points.sql gives them at
        the first level (``exact_distance.Points``)."""
        rk, rx, rn = take(self.reference, buckets)
        pk, px, pn = take(self.production, buckets)
        k, x, r, p = grouped(
            np.concatenate([rk, pk]),
            np.concatenate([rx, px]),
            np.concatenate([rn, np.zeros_like(pn)]),
            np.concatenate([np.zeros_like(rn), pn]),
        )
        if not len(k):
            return None
        origin, scale, size = self.grid
        on_grid = (k >= 0) & (k < size)
        with np.errstate(over="ignore", invalid="ignore"):
            position = np.where(on_grid, (x - origin) * scale - k, 0.0)
        return [k, x, position, r, p]


CHUNK = 1 << 20
"""Values worked on at once: the temporaries of 10M values would take hundreds of MB a thread."""


def summarise(x: np.ndarray, origin: float, scale: float, size: int):
    """One side's ``exact_grid.Buckets`` from its values sorted (what queries/exact_buckets.sql
    computes, by the same arithmetic): counts, position sums (added in value order, a chunk at a
    time), smallest and largest value and smallest position of each bucket."""
    from app.exact_grid import Buckets

    counts = np.zeros(size + 4, dtype=np.int64)
    sums = np.zeros(size + 4)
    for start in range(0, len(x), CHUNK):
        part = x[start : start + CHUNK]
        k = buckets_of(part, origin, scale, size)
        counts += np.bincount(k + 2, minlength=size + 4)
        with np.errstate(over="ignore", invalid="ignore"):
            position = (part - origin) * scale - (k + (k < 0))
        finite = np.isfinite(position)
        sums += np.bincount(k[finite] + 2, weights=position[finite], minlength=size + 4)
        np.add.at(sums, k[~finite] + 2, position[~finite])  # ±inf, or beyond the float range
    filled = np.flatnonzero(counts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    lows, highs, firsts = (np.zeros(size + 4) for _ in range(3))
    lows[filled] = x[offsets[filled]]
    highs[filled] = x[offsets[filled + 1] - 1]
    k = filled - 2
    with np.errstate(over="ignore", invalid="ignore"):
        # Positions grow with the value inside a bucket: the first value's is the smallest.
        firsts[filled] = (lows[filled] - origin) * scale - (k + (k < 0))
    for array in (counts, sums, lows, highs, firsts):
        array.setflags(write=False)
    return Buckets(counts, sums, lows, highs, firsts)


def registers(x: np.ndarray) -> np.ndarray:
    """HyperLogLog registers (app/hyperloglog.py: 2^16, rank of the 48 low bits) of values, by a
    64-bit mix of their doubles (-0.0 as 0.0), a chunk at a time. Not DuckDB's ``hash``:
    registers of both kinds never meet in one sketch."""
    from app.hyperloglog import PRECISION, REGISTERS

    low_bits = 64 - PRECISION
    seen = np.zeros(REGISTERS * 64, dtype=bool)
    for start in range(0, len(x), CHUNK):
        z = (np.asarray(x[start : start + CHUNK], dtype=np.float64) + 0.0).view(np.uint64)
        with np.errstate(over="ignore"):
            z = z + np.uint64(0x9E3779B97F4A7C15)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        register = (z >> np.uint64(low_bits)).astype(np.int64)
        rest = (z & np.uint64((1 << low_bits) - 1)).astype(np.float64)  # exact: 48 bits
        with np.errstate(divide="ignore"):
            rank = np.where(rest == 0, low_bits + 1, low_bits - np.floor(np.log2(rest)))
        seen[register * 64 + rank.astype(np.int64)] = True
    return (seen.reshape(REGISTERS, 64) * np.arange(64)).max(axis=1).astype(np.uint8)
