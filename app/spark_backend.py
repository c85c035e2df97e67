"""The Spark backend: the same views and the same queries on Apache Spark (PySpark).

Each query of ``queries/`` is DuckDB SQL; here it becomes Spark SQL in two ways:

- a file of the same name in ``queries/spark/`` replaces it where the dialects differ in more
  than spelling (written in Spark's functions, with the DuckDB quoting of the shared slots:
  ``"name"`` identifiers and ``$name`` parameters);
- every query (replaced or not) is then parsed as DuckDB by sqlglot and written as Spark SQL,
  with the rewrites below where sqlglot's own translation is not exact for us.

Parameters are bound by placing each value into the parsed query as a typed literal (floats as
``CAST('<repr>' AS DOUBLE)``, which round-trips every double, infinities and NaN included), never
by pasting text. One SparkSession per process (Spark allows one active session per driver).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from app import object_storage
from app.backend import FILE_COLUMN, Params
from app.duckdb_backend import TIMESTAMP_NAMES
from app.errors import DriftdeckError
from queries import Query, dialect_file

_session_lock = threading.Lock()
_sessions: dict[tuple, Any] = {}
"""The SparkSession per (master, conf): Spark keeps one per driver, so one per process."""

_DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "false",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}
_REQUIRED_CONF = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}
"""Settings the translated queries rely on (UTC timestamps, NULL rather than errors)."""


def session(master: str, conf: Sequence[tuple[str, str]] = ()) -> Any:
    """The process's SparkSession for ``master`` and ``conf`` (created on first use)."""
    key = (master, tuple(conf))
    with _session_lock:
        if key in _sessions:
            return _sessions[key]
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise DriftdeckError(
                "engine.backend = 'spark' needs PySpark: pip install 'driftdeck[spark]'"
            ) from None
        builder = SparkSession.builder.master(master).appName("driftdeck")
        for name, value in {**_DEFAULT_CONF, **dict(conf), **_REQUIRED_CONF}.items():
            builder = builder.config(name, value)
        try:
            spark = builder.getOrCreate()
        except Exception as exc:  # no Java, a master that cannot be reached …
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DriftdeckError(
                f"engine.spark.master {master!r}: Spark did not start: {first}"
            ) from None
        spark.sparkContext.setLogLevel("ERROR")
        _sessions[key] = spark
        return spark


# -- types ---------------------------------------------------------------------------------
_TYPE_NAMES = {
    "double": "DOUBLE",
    "float": "FLOAT",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "smallint": "SMALLINT",
    "tinyint": "TINYINT",
    "string": "VARCHAR",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "timestamp_ntz": "TIMESTAMP",
    "date": "TIMESTAMP",
    "binary": "BLOB",
}


def duckdb_type(spark_type: str) -> str:
    """The DuckDB name of a Spark column type (the engine chooses metrics by these names)."""
    if spark_type.startswith("decimal"):
        return spark_type.upper()
    return _TYPE_NAMES.get(spark_type, spark_type.upper())


# -- binding values ------------------------------------------------------------------------
def _value(value: Any):
    """A Python value as a typed Spark SQL literal (a sqlglot expression)."""
    from sqlglot import exp

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float | Decimal):
        value = float(value)
        text = "NaN" if math.isnan(value) else "Infinity" if value == math.inf else repr(value)
        text = "-Infinity" if value == -math.inf else text
        return exp.cast(exp.Literal.string(text), exp.DataType.build("DOUBLE"))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        text = value.isoformat(sep=" ")
        return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMP"))
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, list | tuple):
        return exp.Array(expressions=[_value(v) for v in value])
    raise TypeError(f"cannot bind a {type(value).__name__} in a Spark query")


def _seconds(width: str) -> int:
    """The seconds of a fixed bucket width bound as ``'<n> seconds'``."""
    found = re.fullmatch(r"\s*(\d+)\s+seconds?\s*", str(width))
    if not found:
        raise DriftdeckError(f"the Spark backend buckets by whole seconds, not {width!r}")
    return int(found.group(1))


# -- translating a query -------------------------------------------------------------------
def _spark(text: str):
    import sqlglot

    return sqlglot.parse_one(text, read="spark")


def _bind(tree, params: Params):
    """Every ``$name`` / ``?`` replaced by its value."""
    from sqlglot import exp

    positional = list(params) if isinstance(params, list | tuple) else []
    named = params if isinstance(params, dict) else {}
    for i, node in enumerate(list(tree.find_all(exp.Placeholder, exp.Parameter))):
        name = node.name
        if name and name.isdigit():
            value = positional[int(name) - 1]
        elif name:
            value = named[name]
        else:
            value = positional[i]
        node.replace(_value(value))
    return tree


def _time_buckets(tree, params: Params):
    """DuckDB's ``time_bucket(width, ts, origin)`` as whole-microsecond arithmetic in Spark."""
    from sqlglot import exp

    named = params if isinstance(params, dict) else {}
    for node in list(tree.find_all(exp.DateBin)):
        width, origin = node.this, node.args.get("unit")
        width = width.this if isinstance(width, exp.Cast) else width
        origin = origin.this if isinstance(origin, exp.Cast) else origin
        step = _seconds(named[width.name]) * 1_000_000
        start = named[origin.name]
        start = start.replace(tzinfo=UTC) if start.tzinfo is None else start
        at = (start - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
        ts = node.expression.sql(dialect="spark")
        since = f"(unix_micros(CAST({ts} AS TIMESTAMP)) - {at})"
        node.replace(
            _spark(
                f"CAST(timestamp_micros({at} + {since} - pmod({since}, {step})) AS TIMESTAMP_NTZ)"
            )
        )
    return tree


def _null_safe_tests(tree):
    """``isnan``/``isinf``/``isfinite`` as DuckDB reads them: NULL in, NULL out (Spark's
    ``isnan(NULL)`` is false, which would keep NULL rows in ``WHERE NOT isnan(x)``)."""
    from sqlglot import exp

    def sql(node) -> str:
        return node.sql(dialect="spark")

    for node in list(tree.find_all(exp.IsNan)):
        x = sql(node.this)
        node.replace(_spark(f"(CASE WHEN {x} IS NULL THEN NULL ELSE isnan({x}) END)"))
    for node in list(tree.find_all(exp.IsInf)):
        node.replace(_spark(f"(abs({sql(node.this)}) = CAST('Infinity' AS DOUBLE))"))
    for node in list(tree.find_all(exp.Anonymous)):
        if node.name.lower() == "isfinite":
            x = sql(node.expressions[0])
            node.replace(
                _spark(
                    f"(CASE WHEN {x} IS NULL THEN NULL ELSE NOT isnan({x})"
                    f" AND abs({x}) <> CAST('Infinity' AS DOUBLE) END)"
                )
            )
    return tree


def _aggregates(tree):
    """DuckDB aggregates Spark spells differently or orders otherwise."""
    from sqlglot import exp

    for cte in tree.find_all(exp.CTE):
        cte.set("materialized", None)  # Spark plans a CTE its own way
    for node in list(tree.find_all(exp.PercentileCont)):
        # quantile_cont: linear interpolation between order statistics, as Spark's percentile
        args = [node.this.sql(dialect="spark"), node.expression.sql(dialect="spark")]
        node.replace(_spark(f"percentile({', '.join(args)})"))
    for node in list(tree.find_all(exp.ArrayAgg)):
        ordered = node.this
        if not isinstance(ordered, exp.Order):
            continue
        # list(x ORDER BY k…): collect, then sort by the struct fields the keys name
        cases = []
        for key in ordered.expressions:
            name = key.this.sql(dialect="spark")
            first, second = (-1, 1) if key.args.get("desc") else (1, -1)
            cases.append(f"WHEN a.{name} > b.{name} THEN {first}")
            cases.append(f"WHEN a.{name} < b.{name} THEN {second}")
        items = ordered.this.sql(dialect="spark")
        node.replace(
            _spark(
                f"array_sort(collect_list({items}), (a, b) -> CASE {' '.join(cases)} ELSE 0 END)"
            )
        )
    return tree


def _unnests(tree):
    """``SELECT unnest(a) AS i, unnest(b) AS x``: Spark takes one generator per SELECT, so the
    lists are zipped (DuckDB pads the shorter with NULL, as ``arrays_zip`` does)."""
    from sqlglot import exp

    for select in list(tree.find_all(exp.Select)):
        items = select.expressions
        if len(items) < 2 or not all(
            isinstance(e, exp.Alias) and isinstance(e.this, exp.Explode) for e in items
        ):
            continue
        lists = ", ".join(e.this.this.sql(dialect="spark") for e in items)
        names = ", ".join(e.alias for e in items)
        zipped = _spark(f"SELECT inline(arrays_zip({lists})) AS ({names})")
        select.set("expressions", zipped.expressions)
    return tree


def _histograms(tree):
    """Take DuckDB's ``histogram(x)`` (a value → count map) out of the query: each becomes its
    own grouped count (by the query's group keys and x), filled back into the rows by the values
    of those keys. Returns the query, the positions of the key columns and, per histogram, its
    position and its counting query."""
    from sqlglot import exp

    def inner(item):
        return item.this if isinstance(item, exp.Alias) else item

    def is_histogram(item) -> bool:
        node = inner(item)
        return isinstance(node, exp.Anonymous) and node.name.lower() == "histogram"

    wanted = [
        (i, inner(item).expressions[0])
        for i, item in enumerate(tree.expressions)
        if is_histogram(item)
    ]
    if not wanted:
        return tree, [], []
    keys = [
        i
        for i, item in enumerate(tree.expressions)
        if not is_histogram(item) and not inner(item).find(exp.AggFunc)
    ]
    group = tree.args.get("group")
    counts = []
    for i, value in wanted:
        aux = tree.copy()
        aux.set("order", None)
        aux.set("limit", None)
        aux.set(
            "expressions",
            [tree.expressions[k].copy() for k in keys]
            + [exp.alias_(value.copy(), "__value"), exp.alias_(exp.Count(this=exp.Star()), "__n")],
        )
        groups = [g.copy() for g in group.expressions] if group else []
        aux.set("group", exp.Group(expressions=[*groups, value.copy()]))
        aux = aux.where(exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())))
        counts.append((i, aux))
        alias = tree.expressions[i].alias or f"__histogram{i}"
        tree.expressions[i].replace(exp.alias_(exp.Null(), alias))
    return tree, keys, counts


class SparkBackend:
    """The views as Spark temporary views over the parquet files, queries as Spark SQL."""

    name = "spark"

    def __init__(self, config):
        self.config = config
        self.spark = session(config.spark_master, config.spark_conf)
        self._views: dict[str, str] = {}  # view name in the queries → Spark's
        self._by_file: dict[str, str] = {}  # role → its by-file view
        self._storage_configured = False

    # -- the seam ------------------------------------------------------------------------
    def register(
        self, role: str, files: Sequence[str], hive: bool, by_file: str | None = None
    ) -> dict[str, str]:
        paths = [self._url(p) for p in files]
        reader = self.spark.read.option("mergeSchema", "true")
        if hive:
            reader = reader.option("basePath", _hive_base(paths))
        frame = reader.parquet(*paths)
        columns = []
        for field in frame.schema.fields:
            kind = field.dataType.simpleString()
            col = "`" + field.name.replace("`", "``") + "`"
            named = self.config.columns.timestamp
            if kind in ("timestamp", "date"):
                columns.append(f"CAST({col} AS TIMESTAMP_NTZ) AS {col}")
            elif kind == "string" and (
                field.name == named or (not named and field.name.lower() in TIMESTAMP_NAMES)
            ):
                columns.append(f"CAST(CAST({col} AS TIMESTAMP) AS TIMESTAMP_NTZ) AS {col}")
            else:
                columns.append(col)
        view = self._view(role, frame, columns)
        if by_file:
            # Each file read alone and tagged with its path as listed (Spark's input_file_name()
            # would give a URI, not the path the partials are keyed and filtered by).
            from pyspark.sql import functions

            tagged = [
                reader.parquet(url).withColumn(FILE_COLUMN, functions.lit(path))
                for path, url in zip(files, paths, strict=True)
            ]
            union = tagged[0]
            for part in tagged[1:]:
                union = union.unionByName(part, allowMissingColumns=True)
            self._view(by_file, union, [*columns, FILE_COLUMN])
            self._by_file[role] = by_file
        schema = self.spark.table(view).schema
        return {f.name: duckdb_type(f.dataType.simpleString()) for f in schema.fields}

    def _view(self, name: str, frame: Any, columns: list[str]) -> str:
        """Spark's view for the queries' view ``name``: ``columns`` (SQL) of ``frame``."""
        view = self._view_name(name)
        frame.createOrReplaceTempView(f"{view}_files")
        self.spark.sql(
            f"CREATE OR REPLACE TEMPORARY VIEW {view} AS "  # noqa: S608 (quoted names only)
            f"SELECT {', '.join(columns)} FROM {view}_files"
        )
        self._views[name] = view
        return view

    def drop(self, role: str) -> None:
        for name in (role, self._by_file.pop(role, None)):
            view = self._views.pop(name, None) if name else None
            if view:
                self.spark.catalog.dropTempView(view)
                self.spark.catalog.dropTempView(f"{view}_files")

    def fetch(self, sql: str, params: Params, how: str) -> Any:
        text, keys, histograms = self.translate(sql, params)
        frame = self.spark.sql(text)
        names = frame.columns
        rows = [[_python(v) for v in row] for row in frame.collect()]
        for index, aux in histograms:
            self._fill_histogram(rows, keys, index, aux)
        if how == "fetchall":
            return [tuple(row) for row in rows]
        if how == "records":
            return [dict(zip(names, row, strict=True)) for row in rows]
        if how == "fetchnumpy":
            return {
                name: np.array([row[i] for row in rows], dtype=_numpy_type(rows, i))
                for i, name in enumerate(names)
            }
        if how in ("fetchdf", "arrow"):
            import pandas as pd

            frame = pd.DataFrame(rows, columns=names)
            if how == "arrow":
                import pyarrow as pa

                return pa.Table.from_pandas(frame, preserve_index=False)
            return frame
        raise ValueError(f"unknown fetch {how!r}")

    def close(self) -> None:
        for role in list(self._views):
            self.drop(role)

    # -- translation ---------------------------------------------------------------------
    def translate(self, sql: str, params: Params) -> tuple[str, list[int], list]:
        """The Spark SQL of a DuckDB query, and the histogram counts it needs on the side (the
        positions of its group keys; per histogram column, its position and counting query)."""
        import sqlglot
        from sqlglot import exp

        if isinstance(sql, Query):
            own = dialect_file("spark", sql.name)
            if own is not None:
                sql = own.format(**sql.parts)
        tree = sqlglot.parse_one(str(sql), read="duckdb")
        for table in tree.find_all(exp.Table):
            if not table.args.get("db") and table.name in self._views:
                table.set("this", exp.to_identifier(self._views[table.name]))
        for where in tree.find_all(exp.Where):
            # Spark reads ``FROM t WHERE (…)`` as table t aliased WHERE with column names (…)
            where.set("this", where.this.unnest())
        tree = _time_buckets(tree, params)
        tree = _bind(tree, params)
        tree = _null_safe_tests(tree)
        tree = _aggregates(tree)
        tree = _unnests(tree)
        keys, histograms = [], []
        if isinstance(tree, exp.Select):
            tree, keys, histograms = _histograms(tree)
        side = [(i, aux.sql(dialect="spark")) for i, aux in histograms]
        return tree.sql(dialect="spark"), keys, side

    def _fill_histogram(self, rows: list[list], keys: list[int], index: int, aux: str) -> None:
        """Column ``index`` of each row: its group's value → count map (None when no value, as
        DuckDB's histogram of nothing)."""
        counted: dict[tuple, dict] = {}
        for row in self.spark.sql(aux).collect():
            *group, value, n = (_python(v) for v in row)
            counted.setdefault(tuple(group), {})[value] = n
        for row in rows:
            row[index] = counted.get(tuple(row[k] for k in keys)) or None

    def _view_name(self, role: str) -> str:
        return f"driftdeck_{id(self):x}_{re.sub(r'[^0-9A-Za-z_]', '_', role)}"

    def _url(self, path: str) -> str:
        """Spark reads S3 through Hadoop's S3A connector (``s3a://``)."""
        if object_storage.is_url(path) and object_storage.scheme(path) == "s3":
            self._configure_s3()
            return "s3a://" + path.split("://", 1)[1]
        return path

    def _configure_s3(self) -> None:
        """``[storage]`` (else the environment, as Hadoop reads it) for S3A."""
        if self._storage_configured:
            return
        settings = self.config.storage_settings
        hadoop = self.spark.sparkContext._jsc.hadoopConfiguration()
        for key, name in (
            ("endpoint_url", "fs.s3a.endpoint"),
            ("key", "fs.s3a.access.key"),
            ("secret", "fs.s3a.secret.key"),
            ("region", "fs.s3a.endpoint.region"),
        ):
            if settings.get(key):
                hadoop.set(name, str(settings[key]))
        if settings.get("endpoint_url"):
            hadoop.set("fs.s3a.path.style.access", "true")
        self._storage_configured = True


def _hive_base(paths: Sequence[str]) -> str:
    """The folder above the first ``key=value`` folder of the files (Spark's ``basePath``)."""
    parts = PurePosixPath(paths[0]).parts
    for i, part in enumerate(parts):
        if "=" in part:
            base = str(PurePosixPath(*parts[:i]))
            return base.replace(":/", "://", 1) if "://" in paths[0] else base
    return str(PurePosixPath(paths[0]).parent)


def _python(value: Any) -> Any:
    """A Spark result value as DuckDB's Python client gives it (structs as dicts)."""
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {k: _python(v) for k, v in value.asDict().items()}
    if isinstance(value, list):
        return [_python(v) for v in value]
    if isinstance(value, dict):
        return {_python(k): _python(v) for k, v in value.items()}
    return value


def _numpy_type(rows: list[list], i: int):
    values = [row[i] for row in rows if row[i] is not None]
    if values and all(isinstance(v, bool) for v in values):
        return bool
    if values and all(isinstance(v, int | float) for v in values):
        return (
            float
            if any(isinstance(v, float) for v in values) or len(values) < len(rows)
            else np.int64
        )
    return object
