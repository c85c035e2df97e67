"""The engine: the one place pages, the CLI and the report ask for results.

It caches every result by data version (in memory and in the results store) and computes each
once however many sessions ask at the same time; the computing lives in small modules:
``app.profile`` (per-feature profiles), ``app.over_time`` (per time bucket),
``app.estimated_accuracy`` (CBPE), ``app.exploration`` (distributions, rows), on the SQL
expressions of ``app.sql_expressions``. One ``Engine`` per process (see ``shared_engine``) serves
every session. docs/architecture.md draws the whole flow.
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import duckdb

from app import estimated_accuracy, exploration, over_time
from app.config import Config
from app.errors import DriftdeckError, again_if_files_change
from app.partials import sorted_counts
from app.profile import Profiler
from app.roles import Roles, infer_roles
from app.single_flight import MISSING, SingleFlight
from app.sources import FILE_COLUMN, PER_FILE_ROLES, Sources
from app.sql_expressions import text
from app.store import Store
from app.window import SEGMENT_MISSING, Window, trailing_window
from queries import ident, render


class Engine:
    """Owns the ``Sources`` and every cached result; safe to call from many threads."""

    def __init__(self, config: Config):
        self.config = config
        self.sources = Sources(config)
        store = config.store_path
        self.store = Store(Path(store)) if store else None
        """Results kept on disk across runs and processes (None when ``[engine] store = false``)."""
        self.computations: Counter[str] = Counter()
        """How many times each result was computed (the load benchmark checks: once per version)."""
        self._cache = SingleFlight(
            load=self._load if self.store else None,
            save=self._save if self.store else None,
            on_compute=lambda key: self.computations.update([key[0]]),
        )
        self._profiler = Profiler(self)
        self._scratch: tempfile.TemporaryDirectory | None = None
        """Where file entries go without a writable store (removed with the engine)."""
        self._scratch_lock = threading.Lock()
        self._scratch_entries: dict[tuple[str, str], Path] = {}

    # -- caching -------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Look at the files again; drop cached results of a data version that is gone."""
        changed = self.sources.refresh()
        if changed:
            reference = self.reference_version
            # Results of the old version go; the reference profile stays while the reference
            # files are unchanged (new production files do not make it stale).
            self._cache.forget(
                keep=lambda key: key[0] == "reference_profile" and key[1][0] == reference
            )
        return changed

    def cached(self, name: str, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The result ``name`` for ``key``: from memory, else from the store (another process or
        an earlier run computed it), else ``compute()`` once however many threads ask. Also for
        results computed outside the engine (segments, model versions) on the engine's terms:
        ``key`` must name the data version (``self.version``) and whatever else the result
        depends on."""
        return self._cache.get((name, key), compute)

    def kept(self) -> Counter[str]:
        """How many results of each name this process keeps now (one per key it was asked for;
        against ``computations``, the load benchmark sees whether anything was computed twice)."""
        return Counter(name for name, _key in self._cache.keys())

    def _stored_key(self, key: Hashable) -> Hashable:
        # The column settings shape every result (roles, features); the key has the rest.
        return (key, self.config.columns)

    def _load(self, full_key: tuple) -> Any:
        name, key = full_key
        return self.store.get(name, self._stored_key(key))

    def _save(self, full_key: tuple, value: Any) -> None:
        name, key = full_key
        self.store.put(name, self._stored_key(key), value)

    @property
    def version(self) -> tuple:
        return self.sources.version

    @property
    def reference_version(self) -> tuple:
        return self.sources.state("reference").files

    # -- schema --------------------------------------------------------------------------
    def roles(self) -> Roles:
        """Column roles for the current data version."""
        return self.cached("roles", self.version, lambda: infer_roles(self.sources, self.config))

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
            if ts is not None and role in PER_FILE_ROLES:  # merged from each file's range
                ranges = [r for r in self._file_time_ranges(role, ts) if r[1]]
                rows = sum(r[0] for r in self._file_time_ranges(role, ts))
                if not ranges:
                    return rows, None, None
                return rows, min(r[2] for r in ranges), max(r[3] for r in ranges)
            if ts is None:
                rows = self.sources.fetchall(f"SELECT count(*) FROM {ident(role)}")[0][0]  # noqa: S608
                return rows, None, None
            return tuple(
                self.sources.fetchall(render("time_range", timestamp=ident(ts), view=ident(role)))[
                    0
                ]
            )

        return self.cached(f"time_range:{role}", self.version, compute)

    def monitoring_window(self) -> Window:
        """The default window (``[monitoring] window``): its span up to the newest production
        input (every row when the inputs have no timestamps)."""
        # A file that changes or proves unreadable under the scan is read again or skipped.
        newest = again_if_files_change(lambda: self.time_range("inputs")[2])
        return trailing_window(newest, self.config.monitoring_window)

    def window_sql(self, role: str, window: Window) -> tuple[str, dict]:
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

    # -- profiles ------------------------------------------------------------------------
    def reference_profile(self, segment: tuple[str, str] | None = None) -> dict[str, dict]:
        """Per feature: summary, PSI edges and bin counts, categories, exact-distance profile
        (of one segment's reference rows when ``segment`` names one)."""
        roles = self.roles()
        key = (self.reference_version, roles.features, segment)
        return self.cached(
            "reference_profile",
            key,
            lambda: self._profiler.profile("reference", Window(segment=segment), None),
        )

    def production_profile(self, window: Window) -> dict[str, dict]:
        """The same per-feature aggregates over production inputs in the window."""
        reference = self.reference_profile(window.segment)
        return self.cached(
            "production_profile",
            (self.version, window),
            lambda: self._profiler.profile("inputs", window, reference),
        )

    # -- per-file partial aggregates (app/partials.py) ----------------------------------------
    def file_partials(
        self,
        role: str,
        window: Window,
        what: str,
        key: Hashable,
        compute: Callable[[list[str], str, dict], dict[str, Any]],
    ) -> list[Any]:
        """Each file's partial ``what`` of ``role`` in ``window``, in file order: from the store
        when kept under the file's fingerprint, else ``compute(paths, where, params)`` for all the
        missing files of one kind at once (files the window holds whole, and files it cuts,
        whose rows in the window are read). ``key`` names what else the partial depends on."""
        out: dict[str, Any] = {}
        todo: dict[bool, list] = {False: [], True: []}
        for state, cut in self._files_in_window(role, window):
            bounds = (window.start, window.end) if cut else None
            full_key = (what, state, bounds, window.segment, key)
            found = (
                self.store.get("file_partial", self._stored_key(full_key))
                if self.store
                else MISSING
            )
            if found is MISSING:
                todo[cut].append((state, full_key))
            else:
                out[state.path] = found
        for cut, missing in todo.items():
            if not missing:
                continue
            where, params = self.window_sql(role, window if cut else Window(segment=window.segment))
            computed = compute([state.path for state, _ in missing], where, params)
            for state, full_key in missing:
                out[state.path] = computed[state.path]
                self.computations.update(["file_partial"])
                if self.store:
                    self.store.put("file_partial", self._stored_key(full_key), computed[state.path])
        return [out[state.path] for state in self.sources.state(role).files if state.path in out]

    def file_entries(
        self,
        role: str,
        window: Window,
        what: str,
        key: Hashable,
        suffix: str,
        write: Callable[[str, str, dict, BinaryIO], None],
        read: Callable[[Path], Any],
    ) -> list[Any]:
        """Each file's partial ``what`` of ``role`` in ``window`` kept as a file of its own
        (``Store.file_entry``: read in place, too big to unpickle on every run), as ``read(path)``
        gives it, in file order. A missing one is written by ``write(path, where, params,
        handle)`` for that file alone (``where``: the window's rows, for a file the window cuts,
        or all of the file's)."""
        out = []
        for state, cut in self._files_in_window(role, window):
            full_key = self._file_key(window, state, cut, what, key)
            where, params = self.window_sql(role, window if cut else Window(segment=window.segment))
            out.append(
                self.file_entry(
                    what,
                    full_key,
                    suffix,
                    lambda h, p=state.path, w=where, b=params: write(p, w, b, h),
                    read,
                )
            )
        return out

    @staticmethod
    def _file_key(window: Window, state: Any, cut: bool, what: str, key: Hashable) -> tuple:
        bounds = (window.start, window.end) if cut else None
        return (what, state, bounds, window.segment, key)

    def keep_file_entry(
        self,
        role: str,
        window: Window,
        path: str,
        what: str,
        key: Hashable,
        suffix: str,
        write: Callable[[BinaryIO], None],
    ) -> None:
        """Keep the file entry that ``file_entries`` would ask of one file, written now by
        ``write(handle)`` (by a scan that had its contents at hand); nothing without a store."""
        for state, cut in self._files_in_window(role, window):
            if state.path == path:
                full_key = self._stored_key(self._file_key(window, state, cut, what, key))
                kept = (
                    self.store.put_file_entry(what, full_key, suffix, write) if self.store else None
                )
                if kept is None:
                    self._scratch_entry(what, full_key, suffix, write)
                return

    def file_entry(
        self,
        name: str,
        key: Hashable,
        suffix: str,
        write: Callable[[BinaryIO], None],
        read: Callable[[Path], Any],
    ) -> Any:
        """``read(path)`` of the file entry ``(name, key)`` of the store (``Store.file_entry``),
        written by ``write(handle)`` when missing or found damaged; a scratch file of this
        engine without a writable store."""
        key = self._stored_key(key)  # the column settings, as every result's
        found = self.store.file_entry(name, key, suffix) if self.store else None
        if found is not None:
            try:
                return read(found)
            except Exception:  # a truncated or foreign file: never read as valid
                self.store.drop_file_entry(found)
        found = self._scratch_entries.get((name, repr(key)))
        if found is not None:
            return read(found)
        self.computations.update([name])
        kept = self.store.put_file_entry(name, key, suffix, write) if self.store else None
        if kept is None:
            kept = self._scratch_entry(name, key, suffix, write)
        return read(kept)

    def _scratch_entry(
        self, name: str, key: Hashable, suffix: str, write: Callable[[BinaryIO], None]
    ) -> Path:
        """A file entry kept for this engine only (no writable store), found again by its key."""
        with self._scratch_lock:
            if self._scratch is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="driftdeck-")
            path = Path(self._scratch.name) / f"{uuid.uuid4().hex}{suffix}"
        with open(path, "wb") as handle:
            write(handle)
        self._scratch_entries[(name, repr(key))] = path
        return path

    def files_in_window(self, role: str, window: Window) -> list[str]:
        """The files of ``role`` holding rows in ``window``, in the order of ``file_partials``."""
        return [state.path for state, _cut in self._files_in_window(role, window)]

    def _files_in_window(self, role: str, window: Window) -> list[tuple[Any, bool]]:
        """(file, whether the window cuts it) for each file of ``role`` holding rows in it."""
        files = self.sources.state(role).files
        timestamp = self.roles().timestamp.get(role)
        if timestamp is None or (window.start is None and window.end is None):
            return [(state, False) for state in files]
        ranges = self._file_time_ranges(role, timestamp)
        start, end = _naive_utc(window.start), _naive_utc(window.end)
        out = []
        for state, (rows, stamped, first, last) in zip(files, ranges, strict=True):
            if not stamped:
                continue  # no row with a time: none is in a window with a bound
            if (end is not None and first >= end) or (start is not None and last < start):
                continue
            whole = (
                stamped == rows
                and (start is None or first >= start)
                and (end is None or last < end)
            )
            out.append((state, not whole))
        return out

    def _file_time_ranges(self, role: str, timestamp: str) -> list[tuple]:
        """Per file of ``role``: rows, rows with a time, the oldest and the newest time."""

        def compute(paths: list[str], _where: str, _params: dict) -> dict[str, tuple]:
            sql = render(
                "file_time_range",
                file=ident(FILE_COLUMN),
                timestamp=ident(timestamp),
                view=ident(self.sources.by_file(role)),
            )
            found = {
                row["file"]: (row["rows"], row["stamped"], row["first"], row["last"])
                for row in self.sources.fetchrecords(sql, {"files": paths})
            }
            return {p: found.get(p, (0, 0, None, None)) for p in paths}

        # Asked by every windowed result: kept in memory too (the store holds each file's).
        return self.cached(
            "file_time_ranges",
            (self.sources.state(role).files, timestamp),
            lambda: self.file_partials(role, Window(), f"time_range:{timestamp}", None, compute),
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
                column = text(roles.prediction, pred_schema[roles.prediction])
                found = self.file_partials(
                    "predictions",
                    window,
                    "class_counts",
                    column,
                    lambda paths, where, params: self._file_class_counts(
                        column, paths, where, params
                    ),
                )
                counts: Counter[str] = Counter()
                for _rows, hist in found:
                    counts.update(hist)
                out["production"] = sorted_counts(counts)
                out["production_rows"] = sum(rows for rows, _hist in found)
            return out

        return self.cached("class_counts", (self.version, window), compute)

    def _file_class_counts(self, column: str, paths: list[str], where: str, params: dict) -> dict:
        """Per file of the predictions: its rows in the window and the count of each class."""
        out = {}
        for path in paths:
            sql = render(
                "class_counts",
                column=column,
                view=ident(self.sources.by_file("predictions")),
                where=f"({where}) AND {ident(FILE_COLUMN)} = $partial_file",
            )
            rows, hist = self.sources.fetchall(sql, {**params, "partial_file": path})[0]
            out[path] = (int(rows), {str(k): int(v) for k, v in (hist or {}).items()})
        return out

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
                where, params = self.window_sql(role, window)
                sql = render(
                    "profile", aggregates="", projection="1 AS one", view=ident(role), where=where
                )
                counts[role] = int(self.sources.fetchall(sql, params)[0][0])
            return counts

        return self.cached("window_rows", (self.version, window), compute)

    # -- over time ------------------------------------------------------------------------
    def drift_over_time(self, window: Window, bucket: str = "auto") -> dict:
        """Per time bucket: rows, per-feature PSI, prediction class counts and KL."""
        return self.cached(
            "drift_over_time",
            (self.version, window, bucket),
            lambda: over_time.drift_over_time(self, window, bucket),
        )

    def accuracy_over_time(self, window: Window) -> dict:
        """Production accuracy per time bucket where delayed labels exist (joined by id)."""
        return self.cached(
            "accuracy_over_time",
            (self.version, window),
            lambda: over_time.accuracy_over_time(self, window),
        )

    def prediction_buckets(self, window: Window) -> tuple[str, dict] | None:
        """The bucket width name and the bound parameters (``$width``, ``$origin``) splitting the
        predictions of a window in time, as accuracy over time splits them; None without times."""
        return over_time.prediction_buckets(self, window)

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

    # -- estimated accuracy (CBPE) ---------------------------------------------------------
    def calibration(self, model_version: str | None = None):
        """The CBPE calibrator fitted on every labelled row (production rows joined to labels,
        and reference rows that carry a prediction and its confidence), or on the labelled rows
        one model version served; None without any."""
        return self.cached(
            "calibration",
            (self.version, model_version),
            lambda: estimated_accuracy.calibration(self, model_version),
        )

    def version_sql(self, table: str = "p") -> str:
        """The model version of each prediction as text (missing: '(missing)', as $missing)."""
        return estimated_accuracy.version_sql(self, table)

    def cbpe_sums(self, calibrator, source: str, bucket: str, where: str, params: dict) -> list:
        """Per bucket of the predictions p in ``source``: scored rows, Σ calibrated confidence,
        Σ c(1 − c) and rows without a confidence (see ``estimated_accuracy.cbpe_sums``)."""
        return estimated_accuracy.cbpe_sums(self, calibrator, source, bucket, where, params)

    def estimated_accuracy(self, window: Window) -> dict:
        """CBPE for the window and per time bucket (the buckets of accuracy over time), beside
        the realized accuracy where labels exist; ``reason`` says why it is null."""
        return self.cached(
            "estimated_accuracy",
            (self.version, window),
            lambda: estimated_accuracy.estimated_accuracy(self, window),
        )

    # -- exploration -----------------------------------------------------------------------
    def distribution(self, feature: str, window: Window, bins: int = 30) -> dict:
        """Reference vs production distribution of one feature, ready to plot.

        Numerical: equal-width bins over the finite range of both sides (counts per side).
        Categorical and high-cardinality: counts of the most frequent values per side.
        """
        key = (self.version, window, feature, bins)
        return self.cached(
            "distribution", key, lambda: exploration.distribution(self, feature, window, bins)
        )

    def production_rows(self, window: Window, offset: int = 0, limit: int = 50):
        """A page of the most recent production inputs (with predictions when joinable by id)."""
        return exploration.production_rows(self, window, offset, limit)


def _naive_utc(moment: datetime | None) -> datetime | None:
    """A window bound as the views' timestamps are: plain UTC (as ``CAST(... AS TIMESTAMP)``)."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


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
