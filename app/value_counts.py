"""A high-cardinality feature merged from each file's count of every value.

One file's partial is the table (value, rows holding it) of its rows in the window, the missing
rows as the NULL value (queries/value_count_table.sql); it is kept in the store as a parquet file
of its own and read by Arrow, so a new log file is the only one grouped again. Merged by summing
the counts of equal values: the distinct count, the missing rows, the rows whose value the
reference never holds and the most frequent values are those of one grouping pass over every
file (queries/high_cardinality.sql), exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SCHEMA = pa.schema([("value", pa.string()), ("n", pa.int64())])


def write_counts(fetcharrow, sql: str, params: dict, handle: BinaryIO) -> None:
    """The value counts ``sql`` returns (``Sources.fetcharrow``), as a parquet file."""
    found = fetcharrow(sql, params)
    table = pa.table(
        {"value": found["value"].cast(pa.string()), "n": found["n"].cast(pa.int64())},
        schema=SCHEMA,
    )
    pq.write_table(table, handle)


def read_counts(path: Path) -> pa.Table:
    """One kept table of value counts (raises on a damaged file: it is then written again)."""
    table = pq.ParquetFile(path).read()  # not read_table: it imports pyarrow.dataset (a second)
    if not table.schema.equals(SCHEMA):
        raise ValueError(f"{path.name}: not a table of value counts")
    return table


def merge(tables: list[pa.Table]) -> pa.Table:
    """The counts of every value over all tables (one row per value, the missing rows as NULL).
    By a dictionary encoding of the values, not ``Table.group_by``: that imports Arrow's query
    engine (a second of every run)."""
    if not tables:
        return SCHEMA.empty_table()
    if len(tables) == 1:
        return tables[0]  # one file's values are distinct already
    values = pa.chunked_array([t["value"] for t in tables], pa.string()).combine_chunks()
    counts = np.concatenate([t["n"].to_numpy() for t in tables]).astype(np.int64)
    encoded = pc.dictionary_encode(values)
    present = pc.is_valid(encoded.indices).to_numpy(zero_copy_only=False)
    index = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False)
    sums = np.zeros(len(encoded.dictionary), dtype=np.int64)
    np.add.at(sums, index[present], counts[present])
    merged = pa.table({"value": encoded.dictionary, "n": pa.array(sums)}, schema=SCHEMA)
    if not present.all():  # the missing rows, as one NULL value
        missing = pa.table({"value": pa.nulls(1, pa.string()), "n": [int(counts[~present].sum())]})
        merged = pa.concat_tables([merged, missing.cast(SCHEMA)])
    return merged


def summary(
    counts: pa.Table, reference: pa.Table | None, limit: int
) -> tuple[int, int, int, int, int | None, list[tuple[str, int]]]:
    """(rows, missing, present, distinct, rows of values the reference never holds — None
    without ``reference`` —, the ``limit`` most frequent values, ties by value) of merged counts."""
    values, n = counts["value"], counts["n"]
    present_mask = pc.is_valid(values)
    rows = int(pc.sum(n).as_py() or 0)
    present = int(pc.sum(pc.filter(n, present_mask)).as_py() or 0)
    distinct = int(pc.sum(present_mask.cast(pa.int64())).as_py() or 0)
    new_rows = None
    if reference is not None:
        seen = pc.drop_null(reference["value"])
        unseen = pc.and_(present_mask, pc.invert(pc.is_in(values, value_set=seen)))
        new_rows = int(pc.sum(pc.filter(n, unseen)).as_py() or 0)
    kept = counts.filter(present_mask)
    by_count = [("n", "descending"), ("value", "ascending")]  # values are distinct: no ties
    if limit < len(kept):  # the few most frequent, without sorting every value
        kept = kept.take(pc.select_k_unstable(kept, k=limit, sort_keys=by_count))
    top = kept.take(pc.sort_indices(kept, sort_keys=by_count)[:limit])
    pairs = list(zip(top["value"].to_pylist(), top["n"].to_pylist(), strict=True))
    return rows, rows - present, present, distinct, new_rows, pairs
