"""What ``driftdeck bench`` measures: the files and columns the monitor reads (roles inferred as
the engine infers them), the scan floor's one query over them, and whether the naive way fits in
memory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from app.errors import DriftdeckError
from queries import ident, literal, render

MB = 1e6


@dataclass
class Plan:
    """The files of each role, the columns the monitor uses in them, and the feature kinds."""

    files: dict[str, list[str]]
    columns: dict[str, list[str]]
    kinds: dict[str, str]
    target: str | None
    prediction: str | None
    rows: dict[str, int] = field(default_factory=dict)


def make_plan(config_file: Path) -> Plan:
    """What the monitor would read for this config: roles inferred exactly as the engine does."""
    from app.config import load_config
    from app.roles import infer_roles
    from app.sources import Sources

    config = load_config(config_file)
    sources = Sources(config)
    try:
        roles = infer_roles(sources, config)
        files = {
            role: [f.path for f in sources.state(role).files]
            for role in ("reference", "inputs", "predictions")
        }
        missing = [role for role, paths in files.items() if not paths]
        if missing:
            raise DriftdeckError(
                f"no data to benchmark for {', '.join(missing)} ({sources.state(missing[0]).problem})"
            )
        ref, inp, pred = (sources.schema(r) for r in ("reference", "inputs", "predictions"))
        extra_ref = [c for c in (roles.target, roles.prediction) if c and c in ref]
        columns = {
            "reference": [f.name for f in roles.features if f.reference_type] + extra_ref,
            "inputs": [c for c in [roles.timestamp.get("inputs")] if c]
            + [f.name for f in roles.features if f.production_type],
            "predictions": [
                c for c in (roles.timestamp.get("predictions"), roles.prediction) if c and c in pred
            ],
        }
        columns["inputs"] = [c for c in columns["inputs"] if c in inp]
        rows = {
            role: sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
            for role, paths in files.items()
        }
        kinds = {f.name: f.kind for f in roles.features if f.on_both_sides and not f.type_changed}
        target = next((c for c in (roles.prediction, roles.target) if c and c in ref), None)
        return Plan(files, columns, kinds, target, roles.prediction, rows)
    finally:
        sources.close()


def _file_list(paths: list[str]) -> str:
    """A quoted DuckDB list of file paths (paths cannot be bound as parameters in a FROM)."""
    return "[" + ", ".join(literal(p) for p in paths) + "]"


def _decode_everything(column: str, duckdb_type: str) -> str:
    """An aggregate DuckDB can only answer by decoding every value of the column."""
    col = ident(column)
    kind = duckdb_type.upper()
    if kind in ("VARCHAR", "BLOB"):
        return f"sum(length({col}))"
    if kind.startswith(("TIMESTAMP", "DATE")):
        return f"sum(epoch_us(CAST({col} AS TIMESTAMP)))"
    if kind == "BOOLEAN":
        return f"sum(CAST({col} AS INTEGER))"
    from app.roles import type_family

    if type_family(kind) == "numeric":
        return f"sum(CAST({col} AS DOUBLE))"
    return f"sum(length(CAST({col} AS VARCHAR)))"


def floor_sql(plan: Plan) -> str:
    """The one query of the scan floor (``queries/bench_floor.sql``) for this plan."""
    import duckdb

    parts = {}
    con = duckdb.connect()
    try:
        for role in ("reference", "inputs", "predictions"):
            files = _file_list(plan.files[role])
            describe = f"DESCRIBE SELECT * FROM read_parquet({files}, union_by_name = true)"  # noqa: S608
            described = con.execute(describe).fetchall()
            types = {row[0]: row[1] for row in described}
            aggregates = [
                _decode_everything(c, types[c]) for c in plan.columns[role] if c in types
            ] or ["count(*)"]
            parts[role] = ", ".join(aggregates)
            parts[f"{role}_files"] = files
    finally:
        con.close()
    return render("bench_floor", **parts)


def naive_estimate_bytes(plan: Plan) -> int:
    """A generous guess of the naive way's peak memory: every column of every file in pandas, twice."""
    total = 0
    for paths in plan.files.values():
        for path in paths:
            meta = pq.ParquetFile(path).metadata
            per_row = sum(
                8 if meta.schema.column(i).physical_type != "BYTE_ARRAY" else 48
                for i in range(meta.num_columns)
            )
            total += 2 * per_row * meta.num_rows
    return total


def memory_bytes() -> tuple[int | None, int | None]:
    """Total and available memory of the machine (None where unknown)."""
    try:
        info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
        return int(info["MemTotal"].split()[0]) * 1024, int(info["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), None
        except (ValueError, OSError, AttributeError):
            return None, None


def naive_decision(plan: Plan, limit_rows: int | None) -> str | None:
    """Why the naive way is skipped, or None to run it."""
    rows = plan.rows["inputs"]
    if limit_rows is not None:
        return (
            None
            if rows <= limit_rows
            else f"skipped: {rows:,} rows > --naive-max-rows {limit_rows:,}"
        )
    need = naive_estimate_bytes(plan)
    total, available = memory_bytes()
    budget = (
        min(x for x in (total and total // 2, available) if x) if (total or available) else None
    )
    if budget is not None and need > budget:
        return f"skipped: needs about {need / MB:,.0f} MB, over half the memory ({budget / MB:,.0f} MB)"
    return None
