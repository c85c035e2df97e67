"""What one production file contributes to the production profile, and how contributions merge.

A file's *partial* holds the aggregates of its rows in a window that merge exactly: row counts,
per numerical feature its present count, the sums of distances from the reference mean and of
their squares, and its buckets on the reference's exact-distance grid (count, sum of positions,
smallest and largest value, smallest position); per categorical feature its missing count and the
count of every value. HyperLogLog registers of a numerical column are a partial of their own,
computed only when a distinct count needs them. Partials are computed for many files in one scan
grouped by file (``Sources.by_file``) and kept in the store under each file's fingerprint
(app/engine.py), so a new file is scanned alone and a removed one simply drops out.

Merging is exact for counts, smallest/largest values and registers; float sums are added in file
order (``math.fsum`` for the moments), so means, standard deviations and Wasserstein distances
agree with a single scan to rounding. What a merged profile cannot settle from aggregates (the
KS/Wasserstein/quantile refinement inside a few buckets) reads those rows from the files.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from app import bucket_values
from app.exact_grid import Buckets, Side, production_buckets
from app.sources import FILE_COLUMN
from app.sql_expressions import nan_to_null, text
from queries import fragment, ident, render

if TYPE_CHECKING:
    from app.roles import Feature
    from app.sources import Sources

FILE = ident(FILE_COLUMN)


@dataclass(frozen=True)
class NumericalPart:
    """One numerical feature in one file: present values, sums about the reference mean, and the
    non-empty buckets of the reference grid (bucket index + 2 and each bucket's aggregates)."""

    present: int
    total: float | None
    squares: float | None
    index: np.ndarray
    counts: np.ndarray
    position_sums: np.ndarray
    lows: np.ndarray
    highs: np.ndarray
    first_positions: np.ndarray
    registers: np.ndarray | None = None
    """HyperLogLog registers of its values (``bucket_values.registers``) when they were read
    whole; else None, and a distinct count merges DuckDB's sketches (``file_sketches``)."""


@dataclass(frozen=True)
class CategoricalPart:
    """One categorical feature in one file: missing rows and the count of every value."""

    missing: int
    counts: dict[str, int]


@dataclass(frozen=True)
class FilePartial:
    """Everything one file contributes to the production profile of a window."""

    rows: int
    numerical: dict[str, NumericalPart] = field(default_factory=dict)
    categorical: dict[str, CategoricalPart] = field(default_factory=dict)


@dataclass
class Merged:
    """The partials of every file in a window, merged."""

    rows: int
    present: dict[str, int]
    sums: dict[str, tuple[float | None, float | None]]
    buckets: dict[str, Buckets]
    categorical: dict[str, CategoricalPart]


def _used(sql: str, params: dict) -> dict:
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}


def scan_files(
    sources: Sources,
    role: str,
    paths: list[str],
    numerical: list[tuple[Feature, float]],
    categorical: list[tuple[Feature, str | None]],
    reference: dict,
    where: str,
    params: dict,
    keep: Callable[[str, Feature, np.ndarray], None] | None = None,
) -> dict[str, FilePartial]:
    """The partials of ``paths`` (files of ``role``), file by file: one scan of the moments, one
    of the categories and one bucket pass per numerical feature, each reading that file only.
    ``numerical``: (feature, the reference mean as the shift); ``categorical``: (feature, its
    production type). A GROUP BY file would cost more than the scans: the groups multiply.

    A feature whose reference holds several values in a bucket (a continuous one) is read as its
    values instead, sorted: its buckets and HyperLogLog registers follow from them in numpy, and
    ``keep(path, feature, sorted values)`` keeps them for the exact refinements
    (app/bucket_values.py), so that they are read once."""
    return {
        path: _scan_file(
            sources,
            role,
            numerical,
            categorical,
            reference,
            *_one_file(path, where, params),
            (lambda f, x, path=path: keep(path, f, x)) if keep else None,
        )
        for path in paths
    }


def _one_file(path: str, where: str, params: dict) -> tuple[str, dict]:
    """A window predicate narrowed to one file of the by-file view (DuckDB reads only it)."""
    return f"({where}) AND {FILE} = $partial_file", {**params, "partial_file": path}


def _scan_file(
    sources: Sources,
    role: str,
    numerical: list[tuple[Feature, float]],
    categorical: list[tuple[Feature, str | None]],
    reference: dict,
    where: str,
    params: dict,
    keep: Callable[[Feature, np.ndarray], None] | None = None,
) -> FilePartial:
    view = ident(sources.by_file(role))
    # Moments of the numerical columns, then the categories in a scan of their own (as the
    # whole-window profile does: their histograms beside the numerical sums cost memory).
    parts, projection, bound = [], [], {}
    for i, (f, shift) in enumerate(numerical):
        name = f"n{i}"
        projection.append(f"{nan_to_null(f.name)} AS {ident(name)}")
        bound[f"c{i}"] = shift
        parts.append(fragment("numerical_moments", v=ident(name), column=name, shift=f"$c{i}"))
    scans = [(parts, projection, bound)] if parts else []
    parts, projection = [], []
    for j, (f, kind) in enumerate(categorical):
        name = f"c{j}"
        projection.append(f"{text(f.name, kind)} AS {ident(name)}")
        parts.append(fragment("categorical_summary", v=ident(name), column=name))
    if parts or not scans:
        scans.append((parts, projection, {}))
    row: dict = {}
    for parts, projection, bound in scans:
        sql = render(
            "profile",
            aggregates="".join(",\n" + a for a in parts),
            projection=", ".join(projection) or "1 AS one",
            view=view,
            where=where,
        )
        row.update(sources.fetchrecords(sql, _used(sql, {**params, **bound}))[0])

    def numerical_part(i: int, f: Feature) -> NumericalPart:
        name = f"n{i}"
        present = int(row[f"{name}:present"])
        profile = reference[f.name]["exact_profile"]
        registers = None
        if not profile.grid.single.all() and present <= bucket_values.MAX_VALUES:
            sql = render("column_values", column=ident(f.name), view=view, where=where)
            x = np.asarray(sources.fetchnumpy(sql, _used(sql, params))["x"], np.float64)
            if not x.flags.writeable:
                x = x.copy()
            x.sort()  # in place; a NaN DuckDB let through sorts last and is left out
            x = x[: np.searchsorted(x, np.nan)]
            grid = bucket_values.summarise(x, profile.origin, profile.scale, profile.buckets)
            registers = bucket_values.registers(x)
            if keep is not None:
                keep(f, x if not grid.single.all() else x[:0])
        else:
            side = Side(sources.by_file(role), f.name, where, params)
            grid = production_buckets(sources.fetchall, profile, side, sources.fetchnumpy)
        filled = np.flatnonzero(grid.counts)
        return NumericalPart(
            present,
            row[f"{name}:total"],
            row[f"{name}:squares"],
            filled,
            grid.counts[filled],
            grid.position_sums[filled],
            grid.lows[filled],
            grid.highs[filled],
            grid.first_positions[filled],
            registers,
        )

    # Two features at a time: numpy's sort of one leaves the other core to the next's query.
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.map(lambda pair: numerical_part(*pair), enumerate(f for f, _ in numerical))
        numbers = {f.name: part for (f, _shift), part in zip(numerical, found, strict=True)}
    categories = {}
    for j, (f, _kind) in enumerate(categorical):
        name = f"c{j}"
        counts = {str(k): int(v) for k, v in (row[f"{name}:counts"] or {}).items()}
        categories[f.name] = CategoricalPart(int(row[f"{name}:missing"]), counts)
    return FilePartial(int(row["rows"]), numbers, categories)


def merge(
    partials: list[FilePartial], reference: dict, numerical: list[str], categorical: list[str]
) -> Merged:
    """The window's aggregates from its files' partials (in the given order)."""
    rows = sum(p.rows for p in partials)
    present, sums, buckets, cats = {}, {}, {}, {}
    for name in numerical:
        size = reference[name]["exact_profile"].buckets + 4
        counts = np.zeros(size, dtype=np.int64)
        position_sums, lows, highs, firsts = (np.zeros(size) for _ in range(4))
        totals, squares, n = [], [], 0
        for partial in partials:
            part = partial.numerical[name]
            n += part.present
            if part.present:
                totals.append(part.total)
                squares.append(part.squares)
            i = part.index
            if not len(i):
                continue
            fresh = counts[i] == 0
            counts[i] += part.counts
            position_sums[i] += part.position_sums
            lows[i] = np.where(fresh, part.lows, np.minimum(lows[i], part.lows))
            highs[i] = np.where(fresh, part.highs, np.maximum(highs[i], part.highs))
            firsts[i] = np.where(
                fresh, part.first_positions, np.minimum(firsts[i], part.first_positions)
            )
        for array in (counts, position_sums, lows, highs, firsts):
            array.setflags(write=False)
        present[name] = n
        buckets[name] = Buckets(counts, position_sums, lows, highs, firsts)
        sums[name] = (_fsum(totals), _fsum(squares)) if n else (None, None)
    for name in categorical:
        missing, counts = 0, Counter()
        for partial in partials:
            part = partial.categorical[name]
            missing += part.missing
            counts.update(part.counts)
        cats[name] = CategoricalPart(missing, sorted_counts(counts))
    return Merged(rows, present, sums, buckets, cats)


def sorted_counts(counts: Counter) -> dict[str, int]:
    """Merged counts in the order DuckDB's ``histogram`` gives one scan's (by value, bytewise)."""
    return {k: counts[k] for k in sorted(counts, key=lambda k: k.encode()) if counts[k]}


def _fsum(values: list) -> float | None:
    """The correctly rounded sum of finite floats (None when one is missing or not finite: the
    caller then asks DuckDB, as for a single scan)."""
    if any(v is None for v in values):
        return None
    values = [float(v) for v in values]
    if not all(math.isfinite(v) for v in values):
        return sum(values)  # inf or nan, as a single sum would be
    return math.fsum(values)


def file_sketches(
    sources: Sources, role: str, column_sql: str, paths: list[str], where: str, params: dict
) -> dict[str, np.ndarray]:
    """Per file: the HyperLogLog registers (queries/distinct_sketch.sql) of a column expression."""
    from app.hyperloglog import REGISTERS

    out = {}
    for path in paths:
        narrowed, bound = _one_file(path, where, params)
        sql = render(
            "distinct_sketch", column=column_sql, view=ident(sources.by_file(role)), where=narrowed
        )
        registers = np.zeros(REGISTERS, dtype=np.uint8)
        for register, rank in sources.fetchall(sql, _used(sql, bound)):
            registers[int(register)] = rank
        out[path] = registers
    return out


def merge_sketches(sketches: list[np.ndarray]) -> list[tuple[int, int]]:
    """(register, rank) pairs of the merged sketch: the largest rank of each register."""
    from app.hyperloglog import REGISTERS

    merged = np.zeros(REGISTERS, dtype=np.uint8)
    for sketch in sketches:
        np.maximum(merged, sketch, out=merged)
    filled = np.flatnonzero(merged)
    return list(zip(filled.tolist(), merged[filled].tolist(), strict=True))
