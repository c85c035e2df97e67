"""The engine: runs the metric queries in DuckDB and caches their small results by data version.

One ``Engine`` per process (see ``shared_engine``) serves every session: each result is computed
once per (data version, window) however many sessions ask for it at the same time.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from app import drift
from app.config import Config
from app.errors import DriftdeckError, again_if_files_change
from app.roles import NULL_TYPE, Feature, Roles, infer_roles, type_family
from app.sources import Sources
from app.store import MISSING, Store
from app.window import (
    BUCKET_WIDTHS,
    SEGMENT_MISSING,
    Window,
    bucket_width,
    trailing_window,
)
from queries import fragment, ident, render

EXACT_DISTINCT_ROWS = 100_000
"""Numerical columns with at most this many values get an exact distinct count; larger ones a
HyperLogLog estimate (a count of distinct floats is informational, not worth a hash table of
every value)."""

# The reference needs its deciles (PSI edges) and quartiles; production only its quartiles,
# and every extra quantile costs time on tens of millions of rows.
REFERENCE_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.25, 0.75)
PRODUCTION_QUANTILES = (0.25, 0.5, 0.75)
TOP_VALUES = 10


def finite(value: Any) -> Any:
    """A number JSON can hold: NaN and ±inf become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def numeric(column: str) -> str:
    return f"CAST({ident(column)} AS DOUBLE)"


def nan_to_null(column: str) -> str:
    """The column as DOUBLE with NaN as NULL: one test per value, then every aggregate skips it."""
    v = numeric(column)
    return f"CASE WHEN isnan({v}) THEN NULL ELSE {v} END"


def bins_from_cumulative(present: int, missing: int, at_least: tuple) -> dict[int, int]:
    """PSI bin counts (bin = number of edges <= x; -1 = missing) from counts at or over each edge."""
    # count_if over no rows is NULL in DuckDB.
    cumulative = [int(present), *(int(n or 0) for n in at_least), 0]
    bins = {-1: int(missing)}
    for i in range(len(cumulative) - 1):
        bins[i] = cumulative[i] - cumulative[i + 1]
    return bins


def text(column: str, duck_type: str | None = None, table: str | None = None) -> str:
    """The column as text, for counting its values as categories or classes. A float's NaN is
    missing, and a whole float or decimal reads as the integer it is: class 1.0 of a float column
    (pandas writes integers with gaps as floats) is class 1 of an integer column."""
    col = ident(column) if table is None else f"{table}.{ident(column)}"
    as_text = f"CAST({col} AS VARCHAR)"
    kind = (duck_type or "").upper()
    if kind in ("FLOAT", "DOUBLE", "REAL"):
        return (
            f"CASE WHEN isnan({col}) THEN NULL WHEN {col} = trunc({col}) AND abs({col}) < 1e15 "
            f"THEN CAST(CAST({col} AS BIGINT) AS VARCHAR) ELSE {as_text} END"
        )
    if kind.startswith("DECIMAL"):
        return (
            f"CASE WHEN {col} = trunc({col}) THEN CAST(CAST({col} AS HUGEINT) AS VARCHAR) "
            f"ELSE {as_text} END"
        )
    return as_text


class Engine:
    """Owns the ``Sources`` and every cached result; safe to call from many threads."""

    def __init__(self, config: Config):
        self.config = config
        self.sources = Sources(config)
        store = config.store_path
        self.store = Store(Path(store)) if store else None
        """Results kept on disk across runs and processes (None when ``[engine] store = false``)."""
        self._results: dict[Hashable, Any] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()
        self.computations: Counter[str] = Counter()
        """How many times each result was computed (the load benchmark checks: once per version)."""

    # -- caching -------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Look at the files again; drop cached results of a data version that is gone."""
        changed = self.sources.refresh()
        if changed:
            reference = self.reference_version
            with self._guard:
                # Results of the old version go; the reference profile stays while the reference
                # files are unchanged (new production files do not make it stale).
                for key in list(self._results):
                    name, part = key
                    if not (name == "reference_profile" and part[0] == reference):
                        del self._results[key]
                        self._locks.pop(key, None)
        return changed

    def cached(self, name: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per (name, key) in this process and in the store: for results
        computed outside the engine (segments, model versions) on the engine's terms. ``key``
        must name the data version (``self.version``) and whatever else the result depends on."""
        return self._once(name, key, compute)

    def _once(self, name: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The result ``name`` for ``key``: from memory, else from the store (another process or
        an earlier run computed it), else computed once however many threads ask."""
        full_key = (name, key)
        with self._guard:
            if full_key in self._results:
                return self._results[full_key]
            lock = self._locks.setdefault(full_key, threading.Lock())
        with lock:
            if full_key in self._results:
                return self._results[full_key]
            # The column settings shape every result (roles, features); the key has the rest.
            stored_key = (key, self.config.columns)
            value = self.store.get(name, stored_key) if self.store else MISSING
            if value is MISSING:
                value = compute()
                self.computations[name] += 1
                if self.store:
                    self.store.put(name, stored_key, value)
            with self._guard:
                self._results[full_key] = value
            return value

    @property
    def version(self) -> tuple:
        return self.sources.version

    @property
    def reference_version(self) -> tuple:
        return self.sources.state("reference").files

    # -- schema --------------------------------------------------------------------------
    def roles(self) -> Roles:
        """Column roles for the current data version."""
        return self._once("roles", self.version, lambda: infer_roles(self.sources, self.config))

    def schema_differences(self) -> dict:
        """Columns on one side only and type changes between reference and production inputs."""
        roles = self.roles()
        ref, inp = self.sources.schema("reference"), self.sources.schema("inputs")
        reserved = {roles.id, roles.target, roles.prediction, *roles.timestamp.values()}
        if not ref or not inp:
            return {"only_in_reference": [], "only_in_production": [], "type_changes": []}
        return {
            "only_in_reference": [c for c in ref if c not in inp and c not in reserved],
            "only_in_production": [c for c in inp if c not in ref and c not in reserved],
            "type_changes": [
                {"column": c, "reference": ref[c], "production": inp[c]}
                for c in ref
                if c in inp and ref[c] != inp[c] and c not in reserved
            ],
        }

    def time_range(self, role: str = "inputs") -> tuple[int, datetime | None, datetime | None]:
        """Rows, oldest and newest timestamp of a production role (all rows)."""

        def compute():
            ts = self.roles().timestamp.get(role)
            if not self.sources.available(role):
                return 0, None, None
            if ts is None:
                rows = self.sources.fetchall(f"SELECT count(*) FROM {ident(role)}")[0][0]  # noqa: S608
                return rows, None, None
            return tuple(
                self.sources.fetchall(render("time_range", timestamp=ident(ts), view=ident(role)))[
                    0
                ]
            )

        return self._once(f"time_range:{role}", self.version, compute)

    def monitoring_window(self) -> Window:
        """The default window (``[monitoring] window``): its span up to the newest production
        input (every row when the inputs have no timestamps)."""
        # A file that changes or proves unreadable under the scan is read again or skipped.
        newest = again_if_files_change(lambda: self.time_range("inputs")[2])
        return trailing_window(newest, self.config.monitoring_window)

    def _window_sql(self, role: str, window: Window) -> tuple[str, dict]:
        """The rows of a role in the window: production roles by time, the reference whole; and
        when the window names a segment, only its rows (in the roles that have its column)."""
        if role == "reference":
            where, params = "TRUE", {}
        else:
            where, params = window.predicate(self.roles().timestamp.get(role))
        if window.segment is not None:
            column, value = window.segment
            schema = self.sources.schema(role)
            if column in schema:
                where = (
                    f"({where}) AND coalesce({text(column, schema[column])}, $segment_missing) "
                    "= $segment_value"
                )
                params = {**params, "segment_missing": SEGMENT_MISSING, "segment_value": value}
        return where, params

    # -- reference side (cached while the reference files are unchanged) -----------------
    def reference_profile(self, segment: tuple[str, str] | None = None) -> dict[str, dict]:
        """Per feature: summary, PSI edges and bin counts, categories, exact-distance profile
        (of one segment's reference rows when ``segment`` names one)."""
        roles = self.roles()
        key = (self.reference_version, roles.features, segment)
        return self._once(
            "reference_profile",
            key,
            lambda: self._profile("reference", Window(segment=segment), None),
        )

    def production_profile(self, window: Window) -> dict[str, dict]:
        """The same per-feature aggregates over production inputs in the window."""
        reference = self.reference_profile(window.segment)
        return self._once(
            "production_profile",
            (self.version, window),
            lambda: self._profile("inputs", window, reference),
        )

    def _features_on(self, role: str) -> list[Feature]:
        side = "reference_type" if role == "reference" else "production_type"
        return [f for f in self.roles().features if getattr(f, side) is not None]

    def _profile(self, role: str, window: Window, reference: dict | None) -> dict[str, dict]:
        if not self.sources.available(role):
            return {}
        features = self._features_on(role)
        where, window_params = self._window_sql(role, window)
        params = dict(window_params)
        is_ref = reference is None

        def comparable(f: Feature) -> bool:
            return is_ref or (f.on_both_sides and not f.type_changed and f.name in reference)

        numerical = [
            f
            for f in features
            if f.kind == "numerical"
            and (type_family(self._type(f, role)) == "numeric" or self._type(f, role) == NULL_TYPE)
        ]
        categorical = [f for f in features if f.kind == "categorical"]
        high = [f for f in features if f.kind == "high_cardinality"]
        # One scan for every feature's moments, ranges, PSI bins and category counts; then one
        # query per numerical feature for what needs the whole column in memory (the exact distinct
        # count, and the reference's quantiles), so peak memory stays flat with the features.
        levels = REFERENCE_QUANTILES if is_ref else PRODUCTION_QUANTILES
        quantiles = "[" + ", ".join(str(q) for q in levels) + "]"
        parts, layout, projection = [], [], []
        groups: list[tuple[list, list, list]] = []
        # By feature: production's sum and sum of squares about the reference mean.
        sums: dict[str, tuple] = {}
        for i, f in enumerate(numerical):
            v = ident(f"n{i}")
            projection.append(f"{nan_to_null(f.name)} AS {v}")
            shift = None if is_ref else self._moments_shift(f, reference)
            if shift is not None:
                # On the grid the rest of the summary comes with production's buckets.
                params[f"c{i}"] = shift
                parts.append(fragment("numerical_moments", v=v, shift=f"$c{i}"))
                layout.append((f, "numerical_moments", 3))
                continue
            # The population std is only needed of the reference (it scales Wasserstein).
            std_pop = f"stddev_pop({v})" if is_ref else "NULL"
            parts.append(fragment("numerical_summary", v=v, std_pop=std_pop))
            layout.append((f, "numerical_summary", 6))
            if not is_ref and comparable(f):
                edges = reference[f.name]["edges"]
                params[f"lo{i}"] = reference[f.name]["min"]
                params[f"hi{i}"] = reference[f.name]["max"]
                # On the exact-distance grid the PSI bins need no comparison per row and edge.
                on_grid = self._on_grid(f, reference)
                at_least = "" if on_grid else self._at_least(v, edges, f"e{i}", params)
                parts.append(
                    fragment("numerical_bins", v=v, at_least=at_least, lo=f"$lo{i}", hi=f"$hi{i}")
                )
                layout.append((f, "numerical_bins", 1 if on_grid else len(edges) + 1))
            # Quantiles and distinct counts come from the exact-distance grid where there is one.
            if not is_ref and not self._on_grid(f, reference):
                order = fragment("numerical_order", v=v, quantiles=quantiles)
                groups.append(
                    ([order], [(f, "numerical_order", 2)], [f"{nan_to_null(f.name)} AS {v}"])
                )
        groups.insert(0, (parts, layout, projection))
        # Categories in a scan of their own: their histograms next to the numerical aggregates
        # made DuckDB hold several times the memory of both scans.
        parts, layout, projection = [], [], []
        for j, f in enumerate(categorical):
            v = ident(f"c{j}")
            projection.append(f"{text(f.name, self._type(f, role))} AS {v}")
            parts.append(fragment("categorical_summary", v=v))
            layout.append((f, "categorical_summary", 2))
        if categorical:
            groups.insert(1, (parts, layout, projection))
        result: dict[str, dict] = {}
        summarised: list[Feature] = []  # mean and std from DuckDB's avg and stddev_samp
        for parts, layout, projection in groups:
            row = self._scan(parts, projection, role, where, params)
            rows = row[0]
            pos = 1
            for f, part, width in layout:
                values = row[pos : pos + width]
                pos += width
                entry = result.setdefault(f.name, {"kind": f.kind, "rows": rows})
                if part == "numerical_summary":
                    entry.update(self._numerical_summary(values, rows))
                    summarised.append(f)
                elif part == "numerical_moments":
                    present, total, squares = values
                    entry.update(self._numerical_summary((present, *[None] * 5), rows))
                    sums[f.name] = (total, squares)
                elif part == "numerical_order":
                    entry.update(self._numerical_order(values, levels))
                elif part == "numerical_bins":
                    if width > 1:
                        entry["bins"] = bins_from_cumulative(
                            entry["present"], entry["missing"], values[:-1]
                        )
                    entry["out_of_range"] = int(values[-1] or 0)
                else:
                    counts = {str(k): int(v) for k, v in (values[1] or {}).items()}
                    entry.update(self._categorical_summary(int(values[0]), counts, rows))
        self._second_pass(result, summarised, role, where, window_params)
        for f in high:
            result[f.name] = self._high_cardinality(
                f, role, where, window_params, rows, comparable(f)
            )
        self._exact(result, numerical, role, where, window_params, reference, sums)
        return result

    def _scan(
        self, aggregates: list[str], projection: list[str], role: str, where: str, params: dict
    ) -> tuple:
        """One row of ``aggregates`` (queries/profile.sql) over the projected columns of a view."""
        sql = render(
            "profile",
            aggregates="".join(",\n" + a for a in aggregates),
            projection=", ".join(projection) or "1 AS one",
            view=ident(role),
            where=where,
        )
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}
        return self.sources.fetchall(sql, used)[0]

    def _second_pass(
        self, result: dict, summarised: list[Feature], role: str, where: str, params: dict
    ) -> None:
        """Mean and std again, from sums about DuckDB's mean (one scan of those columns).

        DuckDB's avg and stddev_samp lose digits when the mean is large against the spread
        (epoch nanoseconds as numbers, values near 1e8 varying in the fourth decimal: a relative
        error of 1e-7 in the std); sums of distances from a mean that close keep every digit
        (the corrected two-pass algorithm).
        """
        from app import grid_summary

        parts, projection, shifted, bound = [], [], [], {}
        for i, f in enumerate(summarised):
            entry = result[f.name]
            mean = entry["mean"]
            if entry["present"] < 2 or not (isinstance(mean, float) and math.isfinite(mean)):
                continue
            v = ident(f"n{i}")
            projection.append(f"{nan_to_null(f.name)} AS {v}")
            bound[f"m{i}"] = mean
            parts.append(fragment("numerical_moments", v=v, shift=f"$m{i}"))
            shifted.append(entry)
        if not parts:
            return
        row = self._scan(parts, projection, role, where, {**params, **bound})
        for j, entry in enumerate(shifted):
            present, total, squares = row[1 + 3 * j : 4 + 3 * j]
            moments = grid_summary.moments(int(present), total, squares, entry["mean"])
            if moments is None:
                continue  # an overflow: DuckDB's own figures stand
            mean, deviations = moments
            entry["mean"] = mean
            entry["std"] = math.sqrt(deviations / (present - 1))
            if entry["std_pop"] is not None:
                entry["std_pop"] = math.sqrt(deviations / present)

    def _moments_shift(self, f: Feature, reference: dict) -> float | None:
        """The reference mean, about which production's sums give its mean and std (on the grid)."""
        mean = reference.get(f.name, {}).get("mean")
        if self._on_grid(f, reference) and isinstance(mean, float) and math.isfinite(mean):
            return mean
        return None

    @staticmethod
    def _on_grid(f: Feature, reference: dict) -> bool:
        """Whether production's exact distances (and quantiles) use the reference's grid."""
        return (
            f.on_both_sides and not f.type_changed and "exact_profile" in reference.get(f.name, {})
        )

    def _type(self, feature: Feature, role: str) -> str | None:
        return feature.reference_type if role == "reference" else feature.production_type

    @staticmethod
    def _at_least(v: str, edges: list[float], prefix: str, params: dict) -> str:
        """``count_if(v >= edge)`` for every PSI edge, each followed by a comma."""
        terms = []
        for j, edge in enumerate(edges):
            params[f"{prefix}_{j}"] = edge
            terms.append(f"count_if({v} >= ${prefix}_{j}), ")
        return "".join(terms)

    @staticmethod
    def _numerical_summary(values: tuple, rows: int) -> dict:
        present, mean, std, std_pop, lo, hi = values
        return {
            "edges": [],
            "missing": int(rows - present),
            "present": int(present),
            "mean": mean,
            "std": std,
            "std_pop": std_pop,
            "min": lo,
            "max": hi,
        }

    @staticmethod
    def _numerical_order(values: tuple, levels: tuple[float, ...]) -> dict:
        """Quartiles, PSI edges (deduplicated deciles) and, when given, the distinct count."""
        quantiles, distinct = values
        at = dict(zip(levels, quantiles, strict=True)) if quantiles else {}
        deciles = [at.get(q / 10) for q in range(1, 10)] if 0.1 in at else []
        out = {
            "p25": at.get(0.25),
            "median": at.get(0.5),
            "p75": at.get(0.75),
            "edges": sorted({q for q in deciles if q is not None and not math.isnan(q)}),
        }
        if distinct is not None:
            out["distinct"] = int(distinct)
        return out

    @staticmethod
    def _categorical_summary(missing: int, counts: dict[str, int], rows: int) -> dict:
        return {
            "missing": missing,
            "present": rows - missing,
            "counts": counts,
            "distinct": len(counts),
        }

    def _high_cardinality(
        self, f: Feature, role: str, where: str, params: dict, rows: int, compare: bool
    ) -> dict:
        col = ident(f.name)
        entry: dict[str, Any] = {"kind": f.kind, "rows": rows}
        params = {**params, "limit": TOP_VALUES}
        if role == "reference" or not compare:
            sql = render("high_cardinality_reference", column=col, view=ident(role), where=where)
            total, missing, present, distinct, top = self.sources.fetchall(sql, params)[0]
            new_rows = None
        else:
            sql = render(
                "high_cardinality",
                column=col,
                reference=ident("reference"),
                view=ident(role),
                where=where,
            )
            total, missing, present, distinct, new_rows, top = self.sources.fetchall(sql, params)[0]
        entry.update(
            {
                "missing": int(missing),
                "present": int(present),
                "distinct": int(distinct),
                "top": [(str(t["value"]), int(t["n"])) for t in top or []],
                "new_rows": None if new_rows is None else int(new_rows),
            }
        )
        return entry

    def _exact(
        self,
        result: dict,
        numerical: list[Feature],
        role: str,
        where: str,
        params: dict,
        reference,
        sums: dict | None = None,
    ) -> None:
        """Exact KS and Wasserstein per numerical feature (reference side: its cacheable profile)."""
        from app import exact_distance

        for f in numerical:
            entry = result.get(f.name)
            if entry is None:
                continue
            if reference is None:
                side = exact_distance.Side("reference", f.name, where, dict(params))
                entry["rows_where"] = (where, dict(params))  # the segment's rows, or all
                profile = exact_distance.reference_profile(
                    self.sources.fetchall, side, fetchnumpy=self.sources.fetchnumpy
                )
                entry["exact_profile"] = profile
                quantiles, _ = exact_distance.order_statistics(
                    self.sources.fetchall, profile, side, profile.grid, REFERENCE_QUANTILES, ()
                )
                entry.update(self._numerical_order((quantiles, None), REFERENCE_QUANTILES))
                entry["distinct"] = self._distinct(profile.grid, f, role, where, params, entry)
                _, at_least = exact_distance.order_statistics(
                    self.sources.fetchall, profile, side, profile.grid, (), entry["edges"]
                )
                entry["bins"] = bins_from_cumulative(entry["present"], entry["missing"], at_least)
            elif self._on_grid(f, reference):
                profile = reference[f.name]["exact_profile"]
                ref_side = exact_distance.Side(
                    "reference", f.name, *reference[f.name]["rows_where"]
                )
                prod_side = exact_distance.Side(role, f.name, where, dict(params))
                buckets = exact_distance.production_buckets(
                    self.sources.fetchall, profile, prod_side, self.sources.fetchnumpy
                )
                if sums and f.name in sums:
                    self._summary_on_grid(
                        entry, buckets, sums[f.name], reference[f.name], f, role, where, params
                    )
                quartiles, at_least = exact_distance.order_statistics(
                    self.sources.fetchall,
                    profile,
                    prod_side,
                    buckets,
                    PRODUCTION_QUANTILES,
                    reference[f.name]["edges"],
                )
                entry["p25"], entry["median"], entry["p75"] = quartiles
                entry["bins"] = bins_from_cumulative(entry["present"], entry["missing"], at_least)
                entry["distinct"] = self._distinct(buckets, f, role, where, params, entry)
                if entry["present"] and reference[f.name]["present"]:
                    exact = exact_distance.compare(
                        self.sources.fetchall,
                        profile,
                        ref_side,
                        prod_side,
                        buckets,
                        self.sources.fetchnumpy,
                    )
                    merged = self._merged_as_double(f, "reference", reference[f.name])
                    if merged or self._merged_as_double(f, role, entry):
                        # KS on the values themselves (Wasserstein is scipy's on doubles too).
                        ks = exact_distance.ks_on_values(self.sources.fetchall, ref_side, prod_side)
                        if ks is not None:
                            exact = replace(exact, ks_statistic=ks[0], ks_pvalue=ks[1])
                    entry["exact"] = exact

    def _summary_on_grid(
        self,
        entry: dict,
        buckets: Any,
        sums: tuple,
        reference: dict,
        f: Feature,
        role: str,
        where: str,
        params: dict,
    ) -> None:
        """Production's min, max, out-of-range count, mean and std from its buckets and sums;
        what they cannot settle exactly is asked of DuckDB (one scan of the column)."""
        from app import grid_summary

        present = entry["present"]
        lowest, highest = grid_summary.value_range(buckets)
        mean_std = grid_summary.mean_std(present, *sums, reference["mean"], lowest, highest)
        profile = reference["exact_profile"]
        out_of_range = grid_summary.out_of_range(
            buckets, profile, reference["min"], reference["max"]
        )
        if mean_std is None or out_of_range is None:
            v = ident("n0")
            aggregates = [
                fragment("numerical_summary", v=v, std_pop="NULL"),
                fragment("numerical_bins", v=v, at_least="", lo="$lo0", hi="$hi0"),
            ]
            bounds = {"lo0": reference["min"], "hi0": reference["max"]}
            row = self._scan(
                aggregates, [f"{nan_to_null(f.name)} AS {v}"], role, where, {**params, **bounds}
            )
            _, _, mean, std, _, lowest, highest, outside = row
            out_of_range = int(outside or 0)
            if mean_std is None:
                entry.update(mean=mean, std=std, std_pop=None)
                self._second_pass({f.name: entry}, [f], role, where, params)
                mean_std = entry["mean"], entry["std"]
        entry["mean"], entry["std"] = mean_std
        entry["min"], entry["max"] = lowest, highest
        entry["out_of_range"] = out_of_range

    def _distinct(self, grid, f: Feature, role: str, where: str, params: dict, entry: dict) -> int:
        """Distinct values of a numerical column: exact when free (every grid bucket holds one
        value, and the values are their doubles) or cheap (a small column), else estimated from
        a HyperLogLog sketch, and then ``entry["distinct_approx"]`` says so."""
        merged = self._merged_as_double(f, role, entry)
        distinct = None if merged else grid.distinct_if_known()
        if distinct is not None:
            return int(distinct)
        column = ident(f.name) if merged else nan_to_null(f.name)
        if entry.get("present", 0) <= EXACT_DISTINCT_ROWS:
            sql = render("distinct_count", column=column, view=ident(role), where=where)
            return int(self.sources.fetchall(sql, params)[0][0])
        from app import hyperloglog

        sql = render("distinct_sketch", column=column, view=ident(role), where=where)
        entry["distinct_approx"] = True
        return hyperloglog.estimate(self.sources.fetchall(sql, params))

    def _merged_as_double(self, f: Feature, role: str, entry: dict) -> bool:
        """Whether casting this side's column to DOUBLE may merge distinct values: integers from
        2^53 on, decimals with more than 15 significant digits (the engine's grid, quantiles
        and sums work on doubles, as numpy and scipy would; distinct counts and KS must not)."""
        kind = (self._type(f, role) or "").upper()
        decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", kind)
        if kind in ("FLOAT", "DOUBLE", "REAL", NULL_TYPE) or (decimal and int(decimal[1]) <= 15):
            return False
        limit = 10.0 ** (15 - int(decimal[2])) if decimal else 2.0**53
        return any(
            isinstance(v, int | float) and abs(v) >= limit
            for v in (entry.get("min"), entry.get("max"))
        )

    # -- predictions -----------------------------------------------------------------------
    def class_counts(self, window: Window) -> dict:
        """Reference target (or reference prediction) classes vs production predicted classes."""

        def compute():
            roles = self.roles()
            out: dict[str, Any] = {"reference": None, "production": None, "reference_column": None}
            ref_schema = self.sources.schema("reference")
            ref_col = roles.prediction if roles.prediction in ref_schema else roles.target
            if ref_col and ref_col in ref_schema:
                rows, hist = self.sources.fetchall(
                    render(
                        "class_counts",
                        column=text(ref_col, ref_schema[ref_col]),
                        view=ident("reference"),
                        where="TRUE",
                    )
                )[0]
                out["reference"] = {str(k): int(v) for k, v in (hist or {}).items()}
                out["reference_column"] = ref_col
            pred_schema = self.sources.schema("predictions")
            if roles.prediction and roles.prediction in pred_schema:
                where, params = self._window_sql("predictions", window)
                rows, hist = self.sources.fetchall(
                    render(
                        "class_counts",
                        column=text(roles.prediction, pred_schema[roles.prediction]),
                        view=ident("predictions"),
                        where=where,
                    ),
                    params,
                )[0]
                out["production"] = {str(k): int(v) for k, v in (hist or {}).items()}
                out["production_rows"] = int(rows)
            return out

        return self._once("class_counts", (self.version, window), compute)

    def window_rows_all(self) -> dict[str, int | None]:
        return self.window_rows(Window())

    def window_rows(self, window: Window) -> dict[str, int | None]:
        """Rows of reference, inputs and predictions in the window."""

        def compute():
            counts: dict[str, int | None] = {}
            for role in ("reference", "inputs", "predictions"):
                if not self.sources.available(role):
                    counts[role] = None
                    continue
                where, params = self._window_sql(role, window)
                sql = render(
                    "profile", aggregates="", projection="1 AS one", view=ident(role), where=where
                )
                counts[role] = int(self.sources.fetchall(sql, params)[0][0])
            return counts

        return self._once("window_rows", (self.version, window), compute)

    # -- over time ------------------------------------------------------------------------
    def drift_over_time(self, window: Window, bucket: str = "auto") -> dict:
        """Per time bucket: rows, per-feature PSI, prediction class counts and KL."""
        return self._once(
            "drift_over_time",
            (self.version, window, bucket),
            lambda: self._over_time(window, bucket),
        )

    def _over_time(self, window: Window, bucket: str) -> dict:
        roles = self.roles()
        rows, first, last = self.time_range("inputs")
        start = window.start or first
        end = window.end or last
        ts = roles.timestamp.get("inputs")
        if start is None or end is None or ts is None:
            return {"width": None, "buckets": [], "features": {}, "predictions": []}
        name, width = bucket_width(start, end, bucket)
        # A Monday at midnight: day and week buckets align to the calendar.
        origin = datetime(2000, 1, 3)
        reference = self.reference_profile(window.segment)
        where, params = self._window_sql("inputs", window)
        params.update({"width": f"{int(width.total_seconds())} seconds", "origin": origin})
        parts, layout, projection = [], [], []
        for i, f in enumerate(roles.features):
            if f.name not in reference or not f.on_both_sides or f.type_changed:
                continue
            v = ident(f"f{i}")
            if f.kind == "numerical" and "bins" in reference[f.name]:
                projection.append(f", {nan_to_null(f.name)} AS {v}")
                edges = reference[f.name]["edges"]
                parts.append(f"count({v}), " + self._at_least(v, edges, f"e{i}", params) + "0")
                layout.append((f, len(edges) + 2))
            elif f.kind == "categorical":
                projection.append(f", {text(f.name, self._type(f, 'inputs'))} AS {v}")
                parts.append(f"histogram(coalesce({v}, chr(0)))")
                layout.append((f, 1))
        sql = render(
            "drift_over_time",
            timestamp=ident(ts),
            aggregates="".join(",\n" + p for p in parts),
            projection="".join(projection),
            view=ident("inputs"),
            where=where,
        )
        buckets, features = [], {f.name: [] for f, _ in layout}
        floors: dict[str, list] = {f.name: [] for f, _ in layout}
        for row in self.sources.fetchall(sql, params):
            rows_in_bucket = int(row[1])
            buckets.append({"start": row[0], "rows": rows_in_bucket})
            pos = 2
            for f, width in layout:
                values = row[pos : pos + width]
                pos += width
                if f.kind == "numerical":
                    present = int(values[0])
                    counts = bins_from_cumulative(present, rows_in_bucket - present, values[1:-1])
                else:
                    counts = {k: int(v) for k, v in (values[0] or {}).items()}
                ref_bins, prod_bins = self._psi_bins(f, reference[f.name], counts)
                features[f.name].append(drift.psi(ref_bins, prod_bins))
                floors[f.name].append(drift.psi_floor(ref_bins, prod_bins))
        predictions = self._predictions_over_time(window, params["width"], origin)
        return {
            "width": name,
            "buckets": buckets,
            "features": features,
            # Each bucket's PSI floor and whether the PSI clears it (few rows: noise).
            "psi_floor": floors,
            "significant": {
                n: [drift.significant(v, f) for v, f in zip(features[n], floors[n], strict=True)]
                for n in features
            },
            "predictions": predictions,
        }

    def _predictions_over_time(self, window: Window, width: str, origin: datetime) -> list[dict]:
        roles = self.roles()
        ts = roles.timestamp.get("predictions")
        prediction_type = self.sources.schema("predictions").get(roles.prediction)
        if not (roles.prediction and ts and prediction_type):
            return []
        where, params = self._window_sql("predictions", window)
        params.update({"width": width, "origin": origin})
        sql = render(
            "drift_over_time",
            timestamp=ident(ts),
            aggregates=",\nhistogram(p)",
            projection=f", {text(roles.prediction, prediction_type)} AS p",
            view=ident("predictions"),
            where=where,
        )
        reference = self.class_counts(Window())["reference"] or {}
        out = []
        for start, rows, hist in self.sources.fetchall(sql, params):
            counts = {str(k): int(v) for k, v in (hist or {}).items()}
            keys, ref, prod = drift.aligned(reference, counts)
            out.append(
                {
                    "start": start,
                    "rows": int(rows),
                    "counts": counts,
                    "kl": drift.kl(ref, prod) if reference else None,
                }
            )
        return out

    @staticmethod
    def _psi_bins(f: Feature, reference: dict, production_counts: dict) -> tuple[list, list]:
        """The aligned PSI bins of one feature, reference and production, from production bin
        counts ('\\0' marks a missing category)."""
        if f.kind == "numerical":
            nbins = len(reference["edges"]) + 1
            keys = [-1, *range(nbins)]
            return (
                [reference["bins"].get(k, 0) for k in keys],
                [production_counts.get(k, 0) for k in keys],
            )
        ref_counts = dict(reference["counts"])
        ref_counts["\0"] = reference["missing"]
        _, ref, prod = drift.aligned(ref_counts, production_counts)
        return ref, prod

    # -- distributions for plots --------------------------------------------------------
    def distribution(self, feature: str, window: Window, bins: int = 30) -> dict:
        """Reference vs production distribution of one feature, ready to plot.

        Numerical: equal-width bins over the finite range of both sides (counts per side).
        Categorical and high-cardinality: counts of the most frequent values per side.
        """
        key = (self.version, window, feature, bins)
        return self._once("distribution", key, lambda: self._distribution(feature, window, bins))

    def _distribution(self, name: str, window: Window, bins: int) -> dict:
        f = self.roles().feature(name)
        reference, production = (
            self.reference_profile(window.segment).get(name),
            self.production_profile(window).get(name),
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
                return {**out, **self._top_values(name, window, reference, production)}
            for side, entry in (("reference", reference), ("production", production)):
                if not entry:
                    out[side] = {}
                else:
                    out[side] = dict(sorted(entry["counts"].items(), key=lambda kv: -kv[1])[:bins])
            return out
        where, params = self._window_sql("inputs", window)
        ref_where, ref_params = self._window_sql("reference", window)
        # The finite range of both sides (±inf stay out of an equal-width histogram).
        ranges = [
            self._finite_range(name, role, clause, p, entry)
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
                for b, n in self.sources.fetchall(
                    sql, {**p, "lo": lo, "width": width, "bins": bins}
                ):
                    counts[int(b)] = int(n)
            out[side] = counts
        return out

    def _top_values(
        self, name: str, window: Window, reference: dict | None, production: dict | None
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
                where, params = self._window_sql(role, window)
                sql = render("value_counts", column=ident(name), view=ident(role), where=where)
                found = dict(self.sources.fetchall(sql, {**params, "values": absent}))
                counts = {**counts, **{v: int(found.get(v, 0)) for v in absent}}
            out[side] = counts if entry else {}
        return out

    def _finite_range(
        self, name: str, role: str, where: str, params: dict, entry: dict
    ) -> tuple[float | None, float | None]:
        """Smallest and largest finite value of a side: its summary's, unless that is ±inf."""
        lo, hi = entry.get("min"), entry.get("max")
        if lo is None or (math.isfinite(lo) and math.isfinite(hi)):
            return lo, hi
        sql = render("exact_stats", column=ident(name), view=ident(role), where=where)
        _, lo, hi, _, _ = self.sources.fetchall(sql, params)[0]
        return lo, hi

    def accuracy_over_time(self, window: Window) -> dict:
        """Production accuracy per time bucket where delayed labels exist (joined by id)."""
        return self._once(
            "accuracy_over_time", (self.version, window), lambda: self._accuracy(window)
        )

    def joins_labels(self) -> bool:
        """Whether predictions and labels join by id, with a prediction and a label to compare."""
        roles = self.roles()
        lab, pred = self.sources.schema("labels"), self.sources.schema("predictions")
        return bool(
            roles.id
            and roles.target in lab
            and roles.prediction in pred
            and roles.id in lab
            and roles.id in pred
        )

    def prediction_buckets(self, window: Window) -> tuple[str, dict] | None:
        """The bucket width name and the bound parameters (``$width``, ``$origin``) splitting the
        predictions of a window in time, as accuracy over time splits them; None without times."""
        rows, first, last = self.time_range("predictions")
        start, end = window.start or first, window.end or last
        if start is None or end is None:
            return None
        name, width = bucket_width(start, end)
        return name, {
            "width": f"{int(width.total_seconds())} seconds",
            "origin": datetime(2000, 1, 3),
        }

    def _accuracy(self, window: Window) -> dict:
        roles = self.roles()
        empty = {"width": None, "buckets": [], "labelled": 0, "accuracy": None}
        lab, pred = self.sources.schema("labels"), self.sources.schema("predictions")
        ts = roles.timestamp.get("predictions")
        buckets = self.prediction_buckets(window) if ts and self.joins_labels() else None
        if buckets is None:
            return empty
        name, bucket_params = buckets
        where, params = window.predicate(ts, table="p")
        params.update(bucket_params)
        label_col = roles.target
        sql = render(
            "accuracy_over_time",
            timestamp=ident(ts),
            prediction=text(roles.prediction, pred[roles.prediction], "p"),
            target=text(label_col, lab[label_col], "l"),
            id=ident(roles.id),
            where=where,
        )
        buckets = [
            {"start": b, "labelled": int(n), "accuracy": acc}
            for b, n, acc in self.sources.fetchall(sql, params)
        ]
        labelled = sum(b["labelled"] for b in buckets)
        correct = sum(b["labelled"] * b["accuracy"] for b in buckets if b["labelled"])
        return {
            "width": name,
            "buckets": buckets,
            "labelled": labelled,
            "accuracy": correct / labelled if labelled else None,
        }

    # -- estimated accuracy (CBPE) ---------------------------------------------------------
    def _confidence(self, schema: dict[str, str], table: str, params: dict) -> str | None:
        """The model's confidence in each row's predicted class as a DOUBLE expression on
        ``table``, or None when that side does not log it."""
        roles = self.roles()
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

    def calibration(self, model_version: str | None = None):
        """The CBPE calibrator fitted on every labelled row (production rows joined to labels,
        and reference rows that carry a prediction and its confidence), or on the labelled rows
        one model version served; None without any."""
        return self._once(
            "calibration", (self.version, model_version), lambda: self._calibration(model_version)
        )

    def version_sql(self, table: str = "p") -> str:
        """The model version of each prediction as text (missing: '(missing)', as $missing)."""
        roles = self.roles()
        pred = self.sources.schema("predictions")
        column = text(roles.model_version, pred[roles.model_version], table)
        return f"coalesce({column}, $missing)"

    def _calibration(self, model_version: str | None):
        roles = self.roles()
        sets = []
        pred, lab = self.sources.schema("predictions"), self.sources.schema("labels")
        params: dict = {}
        confidence = self._confidence(pred, "p", params)
        only = "TRUE"
        if model_version is not None:
            only = f"{self.version_sql()} = $model_version"
            params.update(missing=SEGMENT_MISSING, model_version=model_version)
        if confidence and self.joins_labels():
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
        ref = self.sources.schema("reference")
        ref_params: dict = {}
        ref_confidence = self._confidence(ref, "p", ref_params)
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
            for value, n, correct in self.sources.fetchall(sql, bound):
                entry = merged.setdefault(value, [0, 0])
                entry[0] += int(n)
                entry[1] += int(correct)
        if not merged:
            return None
        from app.cbpe import fit_calibrator

        values = sorted(merged)
        return fit_calibrator(
            values, [merged[v][0] for v in values], [merged[v][1] for v in values]
        )

    def cbpe_sums(self, calibrator, source: str, bucket: str, where: str, params: dict) -> list:
        """Per bucket of the predictions p in ``source`` (``bucket``: an SQL expression, e.g. a
        time bucket or an input segment): scored rows, Σ calibrated confidence, Σ c(1 − c) and
        rows without a confidence. ``params`` binds what ``where`` and ``bucket`` use."""
        roles = self.roles()
        pred = self.sources.schema("predictions")
        params = dict(params)
        confidence = self._confidence(pred, "p", params)
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
        return self.sources.fetchall(sql, params)

    def estimated_accuracy(self, window: Window) -> dict:
        """CBPE for the window and per time bucket (the buckets of accuracy over time), beside
        the realized accuracy where labels exist; ``reason`` says why it is null."""
        return self._once(
            "estimated_accuracy", (self.version, window), lambda: self._estimated(window)
        )

    def _estimated(self, window: Window) -> dict:
        from app.cbpe import estimate

        realized = self.accuracy_over_time(window)
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
        roles = self.roles()
        pred = self.sources.schema("predictions")
        params: dict = {}
        confidence = self._confidence(pred, "p", params)
        if roles.prediction not in pred or confidence is None:
            out["reason"] = (
                "the predictions log no confidence: add the probability of the predicted class "
                "(a column named probability, or [columns] probability / probabilities)"
            )
            return out
        calibrator = self.calibration()
        if calibrator is None:
            out["reason"] = "no labelled predictions with a confidence to calibrate on"
            return out
        out["calibration_rows"] = calibrator.rows
        ts = roles.timestamp.get("predictions")
        buckets = self.prediction_buckets(window) if ts else None
        bucket = "NULL"
        where, window_params = window.predicate(ts, table="p")
        params.update(window_params)
        if buckets is not None:
            out["width"], bucket_params = buckets
            params.update(bucket_params)
            bucket = (
                f"time_bucket(CAST($width AS INTERVAL), p.{ident(ts)}, CAST($origin AS TIMESTAMP))"
            )
        found = self.cbpe_sums(calibrator, "predictions AS p", bucket, where, params)
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

    # -- raw rows, paged ------------------------------------------------------------------
    def production_rows(self, window: Window, offset: int = 0, limit: int = 50):
        """A page of the most recent production inputs (with predictions when joinable by id)."""
        roles = self.roles()
        if not self.sources.available("inputs"):
            return None
        ts = roles.timestamp.get("inputs")
        where, params = self._window_sql("inputs", window)
        params.update({"limit": int(limit), "offset": int(offset)})
        view = ident("inputs")
        pred_schema = self.sources.schema("predictions")
        if (
            roles.id
            and roles.prediction
            and roles.id in pred_schema
            and roles.id in self.sources.schema("inputs")
        ):
            extra = ", ".join(
                f"p.{ident(c)}"
                for c in pred_schema
                if c not in (roles.id, ts) and c not in self.sources.schema("inputs")
            )
            view = (
                f"(SELECT i.*{', ' + extra if extra else ''} FROM inputs i LEFT JOIN "  # noqa: S608
                f"(SELECT DISTINCT ON ({ident(roles.id)}) * FROM predictions) p USING ({ident(roles.id)}))"
            )
        # Newest first; rows logged at the same instant keep one order (by id) across pages.
        order = f"{ident(ts)} DESC NULLS LAST" if ts else "1"
        if roles.id and roles.id in self.sources.schema("inputs"):
            order += f", {ident(roles.id)}"
        return self.sources.fetchdf(
            render("production_rows", view=view, where=where, order=order), params
        )


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def shared_engine(config: Config) -> Engine:
    """The process-wide engine for a config (every session of the server shares it)."""
    key = repr(config)
    with _engines_lock:
        if key not in _engines:
            try:
                _engines[key] = Engine(config)
            except duckdb.Error as exc:
                raise DriftdeckError(f"DuckDB could not start: {exc}") from None
        return _engines[key]
