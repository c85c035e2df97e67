"""Per-feature profiles: the summary, PSI bins, categories and exact-distance profile of one side.

The reference's profile is computed once per reference version; production's is computed on the
reference's terms (its PSI edges, its exact-distance grid). Every aggregate of a scan is read back
by its name (``"<column>:<aggregate>"``), never by its position in the row. See docs/metrics.md for
the definitions and docs/architecture.md for where this sits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app.roles import NULL_TYPE, Feature, type_family
from app.sources import FILE_COLUMN, PER_FILE_ROLES
from app.sql_expressions import at_least, bins_from_cumulative, edge_counts, nan_to_null, text
from app.window import Window
from queries import fragment, ident, render

if TYPE_CHECKING:
    from app.engine import Engine

EXACT_DISTINCT_ROWS = 100_000
"""Numerical columns with at most this many values get an exact distinct count; larger ones a
HyperLogLog estimate (a count of distinct floats is informational, not worth a hash table of
every value)."""

# The reference needs its deciles (PSI edges) and quartiles; production only its quartiles,
# and every extra quantile costs time on tens of millions of rows.
REFERENCE_QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.25, 0.75)
PRODUCTION_QUANTILES = (0.25, 0.5, 0.75)
TOP_VALUES = 10

SUMMARY = ("present", "mean", "std", "std_pop", "min", "max")

KEEPING_THREADS = 2
"""Features whose values are fetched and sorted at once (``Profiler._kept_values``)."""


def _grid_key(profile) -> tuple:
    """What production's buckets depend on in the reference's exact-distance grid."""
    return (profile.origin, profile.scale, profile.buckets)


class Profiler:
    """Computes the profile of one side of the data for an ``Engine`` (which caches it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sources = engine.sources

    def _features_on(self, role: str) -> list[Feature]:
        side = "reference_type" if role == "reference" else "production_type"
        return [f for f in self.engine.roles().features if getattr(f, side) is not None]

    def profile(self, role: str, window: Window, reference: dict | None) -> dict[str, dict]:
        """Per feature of ``role`` in ``window``; ``reference`` is None for the reference itself."""
        if not self.sources.available(role):
            return {}
        features = self._features_on(role)
        where, window_params = self.engine.window_sql(role, window)
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
        merged = None
        if not is_ref and role in PER_FILE_ROLES:
            # Numerical features on the reference grid and every categorical one merge from
            # per-file partials (app/partials.py); the rest are computed over the window.
            on_grid = [f for f in numerical if self._moments_shift(f, reference) is not None]
            merged = self._from_partials(role, window, reference, on_grid, categorical)
            numerical = [f for f in numerical if f not in on_grid]
            categorical = []
        # One scan for every feature's moments, ranges, PSI bins and category counts; then one
        # query per numerical feature for what needs the whole column in memory (the exact distinct
        # count, and the reference's quantiles), so peak memory stays flat with the features.
        levels = REFERENCE_QUANTILES if is_ref else PRODUCTION_QUANTILES
        quantiles = "[" + ", ".join(str(q) for q in levels) + "]"
        # Each scan: its aggregate fragments, what to read back (feature, fragment, column name,
        # PSI edges) and the projected columns.
        parts, layout, projection = [], [], []
        groups: list[tuple[list, list, list]] = []
        # By feature: production's sum and sum of squares about the reference mean.
        sums: dict[str, tuple] = {}
        for i, f in enumerate(numerical):
            name = f"n{i}"
            v = ident(name)
            projection.append(f"{nan_to_null(f.name)} AS {v}")
            shift = None if is_ref else self._moments_shift(f, reference)
            if shift is not None:
                # On the grid the rest of the summary comes with production's buckets.
                params[f"c{i}"] = shift
                parts.append(fragment("numerical_moments", v=v, column=name, shift=f"$c{i}"))
                layout.append((f, "numerical_moments", name, 0))
                continue
            # The population std is only needed of the reference (it scales Wasserstein).
            std_pop = f"stddev_pop({v})" if is_ref else "NULL"
            parts.append(fragment("numerical_summary", v=v, column=name, std_pop=std_pop))
            layout.append((f, "numerical_summary", name, 0))
            if not is_ref and comparable(f):
                edges = reference[f.name]["edges"]
                params[f"lo{i}"] = reference[f.name]["min"]
                params[f"hi{i}"] = reference[f.name]["max"]
                # On the exact-distance grid the PSI bins need no comparison per row and edge.
                on_grid = self._on_grid(f, reference)
                counted = "" if on_grid else at_least(v, edges, f"e{i}", params, name)
                parts.append(
                    fragment(
                        "numerical_bins",
                        v=v,
                        column=name,
                        at_least=counted,
                        lo=f"$lo{i}",
                        hi=f"$hi{i}",
                    )
                )
                layout.append((f, "numerical_bins", name, 0 if on_grid else len(edges)))
            # Quantiles and distinct counts come from the exact-distance grid where there is one.
            if not is_ref and not self._on_grid(f, reference):
                order = fragment("numerical_order", v=v, column=name, quantiles=quantiles)
                groups.append(
                    (
                        [order],
                        [(f, "numerical_order", name, 0)],
                        [f"{nan_to_null(f.name)} AS {v}"],
                    )
                )
        groups.insert(0, (parts, layout, projection))
        # Categories in a scan of their own: their histograms next to the numerical aggregates
        # made DuckDB hold several times the memory of both scans.
        parts, layout, projection = [], [], []
        for j, f in enumerate(categorical):
            name = f"c{j}"
            v = ident(name)
            projection.append(f"{text(f.name, self._type(f, role))} AS {v}")
            parts.append(fragment("categorical_summary", v=v, column=name))
            layout.append((f, "categorical_summary", name, 0))
        if categorical:
            groups.insert(1, (parts, layout, projection))
        result: dict[str, dict] = {}
        summarised: list[Feature] = []  # mean and std from DuckDB's avg and stddev_samp
        rows = None
        if merged is not None:
            result.update(merged[0])
            rows = merged[1]
            if not groups[0][0]:
                groups.pop(0)  # every numerical feature came from the partials
        for parts, layout, projection in groups:
            row = self._scan(parts, projection, role, where, params)
            rows = row["rows"]
            for f, part, name, edges in layout:
                entry = result.setdefault(f.name, {"kind": f.kind, "rows": rows})
                if part == "numerical_summary":
                    values = tuple(row[f"{name}:{k}"] for k in SUMMARY)
                    entry.update(self._numerical_summary(values, rows))
                    summarised.append(f)
                elif part == "numerical_moments":
                    present = row[f"{name}:present"]
                    entry.update(self._numerical_summary((present, *[None] * 5), rows))
                    sums[f.name] = (row[f"{name}:total"], row[f"{name}:squares"])
                elif part == "numerical_order":
                    values = (row[f"{name}:quantiles"], row[f"{name}:distinct"])
                    entry.update(self._numerical_order(values, levels))
                elif part == "numerical_bins":
                    if edges:
                        entry["bins"] = bins_from_cumulative(
                            entry["present"], entry["missing"], edge_counts(row, name, edges)
                        )
                    entry["out_of_range"] = int(row[f"{name}:outside"] or 0)
                else:
                    counts = {str(k): int(v) for k, v in (row[f"{name}:counts"] or {}).items()}
                    missing = int(row[f"{name}:missing"])
                    entry.update(self._categorical_summary(missing, counts, rows))
        self._second_pass(result, summarised, role, where, window_params)
        for f in high:
            if is_ref or role in PER_FILE_ROLES:
                result[f.name] = self._merged_high_cardinality(f, role, window, rows, comparable(f))
            else:
                result[f.name] = self._high_cardinality(
                    f, role, where, window_params, rows, comparable(f)
                )
        self._exact(result, numerical, role, where, window_params, reference, sums)
        return result

    def _from_partials(
        self,
        role: str,
        window: Window,
        reference: dict,
        numerical: list[Feature],
        categorical: list[Feature],
    ) -> tuple[dict[str, dict], int]:
        """The profile of these features merged from each file's partial aggregates (computed
        for new files, read from the store for the rest), and the window's rows."""
        from app import partials

        shifts = [(f, reference[f.name]["mean"]) for f in numerical]
        kinds = [(f, self._type(f, role)) for f in categorical]
        grids = tuple(
            (f.name, reference[f.name]["mean"], _grid_key(reference[f.name]["exact_profile"]))
            for f in numerical
        )
        key = (grids, tuple((f.name, kind) for f, kind in kinds))

        def keep(path: str, f: Feature, values) -> None:
            from app import bucket_values

            grid = _grid_key(reference[f.name]["exact_profile"])
            self.engine.keep_file_entry(
                role,
                window,
                path,
                "bucket_values",
                (f.name, grid),
                bucket_values.SUFFIX,
                lambda handle: bucket_values.save(values, handle),
            )

        found = self.engine.file_partials(
            role,
            window,
            "profile",
            key,
            lambda paths, where, params: partials.scan_files(
                self.sources, role, paths, shifts, kinds, reference, where, params, keep
            ),
        )
        merged = partials.merge(
            found, reference, [f.name for f in numerical], [f.name for f in categorical]
        )
        rows = merged.rows
        result: dict[str, dict] = {}
        for f in categorical:
            part = merged.categorical[f.name]
            entry = result[f.name] = {"kind": f.kind, "rows": rows}
            entry.update(self._categorical_summary(part.missing, part.counts, rows))
        sums = {}
        for f in numerical:
            entry = result[f.name] = {"kind": f.kind, "rows": rows}
            entry.update(self._numerical_summary((merged.present[f.name], *[None] * 5), rows))
            sums[f.name] = merged.sums[f.name]
        where, params = self.engine.window_sql(role, window)

        def sketch(f: Feature, column: str) -> list[tuple[int, int]]:
            mixed = [partial.numerical[f.name].registers for partial in found]
            if mixed and all(registers is not None for registers in mixed):
                return partials.merge_sketches(mixed)  # from the values read whole
            found_sketches = self.engine.file_partials(
                role,
                window,
                "distinct_sketch",
                (f.name, column),
                lambda paths, where, params: partials.file_sketches(
                    self.sources, role, column, paths, where, params
                ),
            )
            return partials.merge_sketches(found_sketches)

        kept = self._kept_values(role, window, reference, numerical, found, merged.buckets)
        self._exact(
            result, numerical, role, where, params, reference, sums, merged.buckets, sketch, kept
        )
        return result, rows

    def _kept_values(
        self,
        role: str,
        window: Window,
        reference: dict,
        numerical: list[Feature],
        found: list,
        buckets: dict,
    ) -> dict:
        """By feature: both sides' values kept sorted per file (app/bucket_values.py), for the
        exact refinements; features whose every bucket holds one value need none, and a
        feature whose values cannot be kept is refined from the rows. Two features at a time:
        a new file's values are sorted by numpy, which leaves the other core idle."""
        from concurrent.futures import ThreadPoolExecutor

        paths = self.engine.files_in_window(role, window)
        todo = [f for f in numerical if not buckets[f.name].single.all()]
        with ThreadPoolExecutor(max_workers=KEEPING_THREADS) as pool:
            kept = list(
                pool.map(
                    lambda f: self._keep_values(role, window, reference[f.name], f, paths, found),
                    todo,
                )
            )
        return {f.name: k for f, k in zip(todo, kept, strict=True) if k is not None}

    def _keep_values(
        self, role: str, window: Window, reference: dict, f: Feature, paths: list[str], found: list
    ):
        """One feature's ``bucket_values.Kept`` (None when its values cannot be kept)."""
        import numpy as np

        from app import bucket_values

        profile = reference["exact_profile"]
        grid = (profile.origin, profile.scale, profile.buckets)
        parts = {}
        for path, partial in zip(paths, found, strict=True):
            part = partial.numerical[f.name]
            counts = np.zeros(profile.buckets + 4, dtype=np.int64)
            lows = np.zeros(profile.buckets + 4)
            counts[part.index], lows[part.index] = part.counts, part.lows
            parts[path] = (counts, lows, bool((part.lows == part.highs).all()))

        def write(view, where, params, counts, single, handle):
            def values():
                sql = render("column_values", column=ident(f.name), view=view, where=where)
                used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}
                return self.sources.fetchnumpy(sql, used)["x"]

            bucket_values.write_sorted(values, counts, single, grid, handle)

        def write_file(path, where, params, handle):
            counts, _lows, single = parts[path]
            where = f"({where}) AND {ident(FILE_COLUMN)} = $partial_file"
            view = ident(self.sources.by_file(role))
            write(view, where, {**params, "partial_file": path}, counts, single, handle)

        ref_where, ref_params = reference["rows_where"]
        ref_grid = profile.grid
        try:
            kept = self.engine.file_entries(
                role,
                window,
                "bucket_values",
                (f.name, _grid_key(profile)),
                bucket_values.SUFFIX,
                write_file,
                bucket_values.read_sorted,
            )
            ref_values = self.engine.file_entry(
                "bucket_values",
                (
                    "reference",
                    self.engine.reference_version,
                    (ref_where, ref_params),
                    f.name,
                    _grid_key(profile),
                ),
                bucket_values.SUFFIX,
                lambda handle: write(
                    ident("reference"),
                    ref_where,
                    ref_params,
                    ref_grid.counts,
                    bool(ref_grid.single.all()),
                    handle,
                ),
                bucket_values.read_sorted,
            )
        except bucket_values.NotKept:
            return None
        return bucket_values.Kept(
            [bucket_values.Part(ref_grid.counts, ref_grid.lows, ref_values)],
            [
                bucket_values.Part(counts, lows, kept_values)
                for (counts, lows, _single), kept_values in zip(parts.values(), kept, strict=True)
            ],
            grid,
        )

    def _scan(
        self, aggregates: list[str], projection: list[str], role: str, where: str, params: dict
    ) -> dict[str, Any]:
        """One row of ``aggregates`` (queries/profile.sql) over the projected columns of a view,
        by column name (``rows`` and each aggregate's ``"<column>:<aggregate>"``)."""
        sql = render(
            "profile",
            aggregates="".join(",\n" + a for a in aggregates),
            projection=", ".join(projection) or "1 AS one",
            view=ident(role),
            where=where,
        )
        used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}
        return self.sources.fetchrecords(sql, used)[0]

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
            name = f"n{i}"
            v = ident(name)
            projection.append(f"{nan_to_null(f.name)} AS {v}")
            bound[f"m{i}"] = mean
            parts.append(fragment("numerical_moments", v=v, column=name, shift=f"$m{i}"))
            shifted.append((name, entry))
        if not parts:
            return
        row = self._scan(parts, projection, role, where, {**params, **bound})
        for name, entry in shifted:
            present, total, squares = (row[f"{name}:{k}"] for k in ("present", "total", "squares"))
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

    def _merged_high_cardinality(
        self, f: Feature, role: str, window: Window, rows: int, compare: bool
    ) -> dict:
        """A high-cardinality feature from value counts kept per file (app/value_counts.py):
        each production file's, the reference's once per reference version."""
        import pyarrow as pa

        from app import value_counts

        def write(view: str, path: str | None, where: str, params: dict, handle) -> None:
            if path is not None:
                where, params = (
                    f"({where}) AND {ident(FILE_COLUMN)} = $partial_file",
                    {
                        **params,
                        "partial_file": path,
                    },
                )
            sql = render("value_count_table", column=ident(f.name), view=ident(view), where=where)
            used = {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}
            value_counts.write_counts(self.sources.fetcharrow, sql, used, handle)

        def of_reference(segment: tuple[str, str] | None) -> pa.Table:
            where, params = self.engine.window_sql("reference", Window(segment=segment))
            return self.engine.file_entry(
                "value_counts",
                ("reference", self.engine.reference_version, segment, f.name),
                ".parquet",
                lambda handle: write("reference", None, where, params, handle),
                value_counts.read_counts,
            )

        # Production's new values are those the whole reference never holds (not one segment's).
        reference = of_reference(None) if compare and role != "reference" else None
        if role == "reference":
            counts = of_reference(window.segment)
        else:
            counts = value_counts.merge(
                self.engine.file_entries(
                    role,
                    window,
                    "value_counts",
                    f.name,
                    ".parquet",
                    lambda path, where, params, handle: write(
                        self.sources.by_file(role), path, where, params, handle
                    ),
                    value_counts.read_counts,
                )
            )
        _rows, missing, present, distinct, new_rows, top = value_counts.summary(
            counts, reference, TOP_VALUES
        )
        return {
            "kind": f.kind,
            "rows": rows,
            "missing": missing,
            "present": present,
            "distinct": distinct,
            "top": top,
            "new_rows": new_rows,
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
        merged_buckets: dict | None = None,
        sketch: Callable[[Feature, str], list] | None = None,
        kept: dict | None = None,
    ) -> None:
        """Exact KS and Wasserstein per numerical feature (reference side: its cacheable profile);
        ``merged_buckets`` are production's buckets by feature when merged from partials,
        ``sketch(feature, column)`` their merged HyperLogLog registers and ``kept`` both sides'
        values kept per file (``_kept_values``), which the refinements read instead of rows."""
        from app import exact_distance, exact_grid, order_statistics

        def one(f: Feature) -> None:
            entry = result.get(f.name)
            if entry is None:
                return
            if reference is None:
                side = exact_grid.Side("reference", f.name, where, dict(params))
                entry["rows_where"] = (where, dict(params))  # the segment's rows, or all
                profile = exact_grid.reference_profile(
                    self.sources.fetchall, side, fetchnumpy=self.sources.fetchnumpy
                )
                entry["exact_profile"] = profile
                quantiles, _ = order_statistics.order_statistics(
                    self.sources.fetchall, profile, side, profile.grid, REFERENCE_QUANTILES, ()
                )
                entry.update(self._numerical_order((quantiles, None), REFERENCE_QUANTILES))
                entry["distinct"] = self._distinct(profile.grid, f, role, where, params, entry)
                _, at_least = order_statistics.order_statistics(
                    self.sources.fetchall, profile, side, profile.grid, (), entry["edges"]
                )
                entry["bins"] = bins_from_cumulative(entry["present"], entry["missing"], at_least)
            elif self._on_grid(f, reference):
                profile = reference[f.name]["exact_profile"]
                ref_side = exact_grid.Side("reference", f.name, *reference[f.name]["rows_where"])
                prod_side = exact_grid.Side(role, f.name, where, dict(params))
                if merged_buckets is not None and f.name in merged_buckets:
                    buckets = merged_buckets[f.name]
                else:
                    buckets = exact_grid.production_buckets(
                        self.sources.fetchall, profile, prod_side, self.sources.fetchnumpy
                    )
                if sums and f.name in sums:
                    self._summary_on_grid(
                        entry, buckets, sums[f.name], reference[f.name], f, role, where, params
                    )
                values = (kept or {}).get(f.name)
                quartiles, at_least = order_statistics.order_statistics(
                    self.sources.fetchall,
                    profile,
                    prod_side,
                    buckets,
                    PRODUCTION_QUANTILES,
                    reference[f.name]["edges"],
                    values.production_values if values else None,
                )
                entry["p25"], entry["median"], entry["p75"] = quartiles
                entry["bins"] = bins_from_cumulative(entry["present"], entry["missing"], at_least)
                entry["distinct"] = self._distinct(
                    buckets, f, role, where, params, entry, sketch, values
                )
                if entry["present"] and reference[f.name]["present"]:
                    exact = exact_distance.compare(
                        self.sources.fetchall,
                        profile,
                        ref_side,
                        prod_side,
                        buckets,
                        self.sources.fetchnumpy,
                        values.points if values else None,
                    )
                    merged = self._merged_as_double(f, "reference", reference[f.name])
                    if merged or self._merged_as_double(f, role, entry):
                        # KS on the values themselves (Wasserstein is scipy's on doubles too).
                        ks = exact_distance.ks_on_values(self.sources.fetchall, ref_side, prod_side)
                        if ks is not None:
                            exact = replace(exact, ks_statistic=ks[0], ks_pvalue=ks[1])
                    entry["exact"] = exact

        # Features two at a time: a KS p-value (scipy's series, seconds for millions of rows) or
        # a refinement in numpy leaves the other core to the next feature's queries.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=KEEPING_THREADS) as pool:
            list(pool.map(one, numerical))

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
                fragment("numerical_summary", v=v, column="n0", std_pop="NULL"),
                fragment("numerical_bins", v=v, column="n0", at_least="", lo="$lo0", hi="$hi0"),
            ]
            bounds = {"lo0": reference["min"], "hi0": reference["max"]}
            row = self._scan(
                aggregates, [f"{nan_to_null(f.name)} AS {v}"], role, where, {**params, **bounds}
            )
            mean, std, lowest, highest = (row[f"n0:{k}"] for k in ("mean", "std", "min", "max"))
            out_of_range = int(row["n0:outside"] or 0)
            if mean_std is None:
                entry.update(mean=mean, std=std, std_pop=None)
                self._second_pass({f.name: entry}, [f], role, where, params)
                mean_std = entry["mean"], entry["std"]
        entry["mean"], entry["std"] = mean_std
        entry["min"], entry["max"] = lowest, highest
        entry["out_of_range"] = out_of_range

    def _distinct(
        self,
        grid,
        f: Feature,
        role: str,
        where: str,
        params: dict,
        entry: dict,
        sketch: Callable[[Feature, str], list] | None = None,
        kept=None,
    ) -> int:
        """Distinct values of a numerical column: exact when free (every grid bucket holds one
        value, and the values are their doubles) or cheap (a small column; from the values kept
        per file when ``kept`` holds them), else estimated from a HyperLogLog sketch, and then
        ``entry["distinct_approx"]`` says so."""
        merged = self._merged_as_double(f, role, entry)
        distinct = None if merged else grid.distinct_if_known()
        if distinct is not None:
            return int(distinct)
        column = ident(f.name) if merged else nan_to_null(f.name)
        if entry.get("present", 0) <= EXACT_DISTINCT_ROWS and kept is not None and not merged:
            return kept.production_distinct()
        if entry.get("present", 0) <= EXACT_DISTINCT_ROWS:
            sql = render("distinct_count", column=column, view=ident(role), where=where)
            return int(self.sources.fetchall(sql, params)[0][0])
        from app import hyperloglog

        entry["distinct_approx"] = True
        if sketch is not None and not merged:
            return hyperloglog.estimate(sketch(f, column))
        sql = render("distinct_sketch", column=column, view=ident(role), where=where)
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
