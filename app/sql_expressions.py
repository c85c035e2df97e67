"""SQL expressions the engine's queries share: a column as a number, as text, NaN as missing.

Every expression quotes the column through ``queries.ident``; values never appear in them (they
travel as bound parameters).
"""

from __future__ import annotations

import math
from typing import Any

from queries import ident


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


def at_least(v: str, edges: list[float], prefix: str, params: dict, name: str) -> str:
    """``count_if(v >= edge)`` for every PSI edge, each followed by a comma and named
    ``<name>:edge_<j>``; the edges are bound into ``params`` as ``$<prefix>_<j>``."""
    terms = []
    for j, edge in enumerate(edges):
        params[f"{prefix}_{j}"] = edge
        terms.append(f"count_if({v} >= ${prefix}_{j}) AS {ident(f'{name}:edge_{j}')}, ")
    return "".join(terms)


def edge_counts(row: dict, name: str, edges: int) -> tuple:
    """The ``at_least`` counts of ``name`` read back from a result row, in edge order."""
    return tuple(row[f"{name}:edge_{j}"] for j in range(edges))


def bins_from_cumulative(present: int, missing: int, at_least: tuple) -> dict[int, int]:
    """PSI bin counts (bin = number of edges <= x; -1 = missing) from counts at or over each edge."""
    # count_if over no rows is NULL in DuckDB.
    cumulative = [int(present), *(int(n or 0) for n in at_least), 0]
    bins = {-1: int(missing)}
    for i in range(len(cumulative) - 1):
        bins[i] = cumulative[i] - cumulative[i + 1]
    return bins
