"""A high-cardinality feature merged from per-file value counts equals one grouping of all rows."""

from __future__ import annotations

import io
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from app.value_counts import merge, read_counts, summary, write_counts

value = st.one_of(st.none(), st.sampled_from(["a", "b", "B", "ä", "street 1", "street 10", ""]))


def _table(rows: list[str | None], tmp_path, i: int):
    counts = Counter(rows)
    found = pa.table({"value": list(counts), "n": pa.array(list(counts.values()), pa.int32())})
    handle = io.BytesIO()
    write_counts(lambda _sql, _params: found, "", {}, handle)
    path = tmp_path / f"{i}.parquet"
    path.write_bytes(handle.getvalue())
    return read_counts(path)


@settings(max_examples=40, deadline=None)
@given(
    files=st.lists(st.lists(value, max_size=30), min_size=1, max_size=4),
    reference=st.lists(value, max_size=20),
    limit=st.integers(1, 4),
)
def test_merged_counts_give_the_summary_of_one_grouping(tmp_path_factory, files, reference, limit):
    tmp_path = tmp_path_factory.mktemp("counts")
    merged = merge([_table(rows, tmp_path, i) for i, rows in enumerate(files)])
    ref = _table(reference, tmp_path, 99)
    rows = [v for f in files for v in f]
    counts = Counter(v for v in rows if v is not None)
    seen = {v for v in reference if v is not None}
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].encode()))[:limit]
    assert summary(merged, ref, limit) == (
        len(rows),
        rows.count(None),
        len(rows) - rows.count(None),
        len(counts),
        sum(n for v, n in counts.items() if v not in seen),
        top,
    )


def test_a_table_of_another_shape_is_refused(tmp_path):
    import pytest

    path = tmp_path / "other.parquet"
    pq.write_table(pa.table({"value": ["a"], "count": [1]}), path)
    with pytest.raises(ValueError):
        read_counts(path)
