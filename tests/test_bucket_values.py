"""Values kept sorted per file: the slices of chosen buckets equal a grouping of the rows in them,
a file whose values land elsewhere than DuckDB counted is not kept, a damaged file is refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import bucket_values
from app.bucket_values import NotKept, Part, buckets_of, read_sorted, take, write_sorted

GRID = (0.0, 4.0, 16)  # origin, scale, buckets: [0, 4) in 16 buckets of a quarter


def _part(values: np.ndarray, keep: bool = True) -> Part:
    size = GRID[2] + 4
    k = buckets_of(values, *GRID) + 2
    counts = np.bincount(k, minlength=size).astype(np.int64)
    lows = np.zeros(size)
    for b in np.flatnonzero(counts):
        lows[b] = values[k == b].min()
    single = all(len(set(values[k == b].tolist())) == 1 for b in np.flatnonzero(counts))
    if single and not keep:
        return Part(counts, lows, np.zeros(0))
    handle = io.BytesIO()
    write_sorted(lambda: values, counts, False, GRID, handle)
    return Part(counts, lows, np.frombuffer(handle.getvalue()[bucket_values.HEADER :], "<f8"))


values_strategy = st.lists(
    st.one_of(
        st.sampled_from([0.0, 0.25, 1.0, 1.1, 3.99, -0.5, 4.0, 7.5, np.inf, -np.inf]),
        st.floats(min_value=-2, max_value=6, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(files=st.lists(values_strategy, min_size=1, max_size=4), chosen=st.data())
def test_the_values_of_chosen_buckets_equal_a_grouping_of_the_rows(files, chosen):
    arrays = [np.array(f, dtype=np.float64) for f in files]
    buckets = np.array(
        sorted(chosen.draw(st.sets(st.integers(-2, GRID[2] + 1), min_size=1))), dtype=np.int64
    )
    parts = [_part(a, keep=i % 2 == 0) for i, a in enumerate(arrays)]
    k, x, n = take(parts, buckets)
    rows = np.concatenate(arrays)
    inside = np.isin(buckets_of(rows, *GRID), buckets)
    expected = {}
    for value in rows[inside].tolist():
        key = (int(buckets_of(np.array([value]), *GRID)[0]), value)
        expected[key] = expected.get(key, 0) + 1
    assert list(zip(k.tolist(), x.tolist(), n.tolist(), strict=True)) == [
        (b, v, c) for (b, v), c in sorted(expected.items())
    ]


def test_both_sides_give_the_points_of_the_first_refinement_level():
    ref = np.array([0.1, 0.1, 0.3, 2.0])
    prod = np.array([0.1, 0.2, 2.0, 2.0, 5.0])
    kept = bucket_values.Kept([_part(ref)], [_part(prod)], GRID)
    k, x, position, r, p = kept.points(np.array([0, 8, 16]))
    assert k.tolist() == [0, 0, 8, 16]
    assert x.tolist() == [0.1, 0.2, 2.0, 5.0]
    assert r.tolist() == [2, 0, 1, 0] and p.tolist() == [1, 1, 2, 1]
    assert position[:2].tolist() == [(0.1 - 0.0) * 4.0 - 0, (0.2 - 0.0) * 4.0 - 0]
    assert position[2] == 0.0 and position[3] == 0.0  # 2.0 starts bucket 8; off the grid: 0


def test_values_landing_in_other_buckets_than_counted_are_not_kept():
    values = np.array([0.1, 0.9, 1.7])
    counts = np.bincount(buckets_of(values, *GRID) + 2, minlength=GRID[2] + 4)
    shifted = np.roll(counts, 1)  # as if DuckDB had placed every value one bucket higher
    with pytest.raises(NotKept):
        write_sorted(lambda: values, shifted, False, GRID, io.BytesIO())
    with pytest.raises(NotKept):  # a value more or less than counted
        write_sorted(lambda: values[:2], counts, False, GRID, io.BytesIO())


def test_a_damaged_file_of_values_is_refused(tmp_path):
    path = tmp_path / "values.f64"
    handle = io.BytesIO()
    values = np.linspace(0, 3, 1000)
    counts = np.bincount(buckets_of(values, *GRID) + 2, minlength=GRID[2] + 4)
    write_sorted(lambda: values, counts, False, GRID, handle)
    path.write_bytes(handle.getvalue())
    assert np.array_equal(read_sorted(path), values)
    path.write_bytes(handle.getvalue()[:-100])
    with pytest.raises(ValueError):
        read_sorted(path)
    path.write_bytes(b"\x93NUMPY" + handle.getvalue()[8:])
    with pytest.raises(ValueError):
        read_sorted(path)


def test_buckets_from_sorted_values_equal_duckdbs_buckets(monkeypatch):
    """``summarise`` places values by the arithmetic of queries/exact_values.sql: counts,
    smallest and largest values and first positions equal DuckDB's bucket pass exactly (a few
    thousand values at a time here, as ten million are worked on a million at a time)."""
    import duckdb

    monkeypatch.setattr(bucket_values, "CHUNK", 4096)

    from app import exact_grid

    rng = np.random.default_rng(3)
    reference = np.concatenate([rng.normal(0, 1, 5000), [-3.0, 3.0]])
    values = np.concatenate(
        [
            rng.normal(0.2, 1.2, 20000),
            np.round(rng.normal(0, 1, 3000), 2),  # ties
            [-0.0, 0.0, -3.0, 3.0, 1e300, -1e300, np.inf, -np.inf, np.inf, 3.0000000000000004],
        ]
    )
    con = duckdb.connect()
    con.execute("CREATE TABLE r AS SELECT unnest($x) AS v", {"x": reference.tolist()})
    con.execute("CREATE TABLE p AS SELECT unnest($x) AS v", {"x": values.tolist()})

    def fetchall(sql, params=None):
        return con.execute(sql, params or {}).fetchall()

    def fetchnumpy(sql, params=None):
        return con.execute(sql, params or {}).fetchnumpy()

    profile = exact_grid.reference_profile(fetchall, exact_grid.Side("r", "v"), 4096, fetchnumpy)
    duck = exact_grid.production_buckets(fetchall, profile, exact_grid.Side("p", "v"), fetchnumpy)
    mine = bucket_values.summarise(np.sort(values), profile.origin, profile.scale, profile.buckets)
    for name in ("counts", "lows", "highs", "first_positions"):
        assert np.array_equal(getattr(mine, name), getattr(duck, name)), name
    finite = np.isfinite(duck.position_sums)
    assert np.array_equal(mine.position_sums[~finite], duck.position_sums[~finite])
    assert np.allclose(mine.position_sums[finite], duck.position_sums[finite], rtol=1e-12)


def test_registers_do_not_depend_on_order_or_repeats(monkeypatch):
    from app import hyperloglog

    rng = np.random.default_rng(5)
    values = rng.normal(0, 1, 50000)
    once = bucket_values.registers(values)
    monkeypatch.setattr(bucket_values, "CHUNK", 777)
    assert np.array_equal(bucket_values.registers(values), once)
    again = bucket_values.registers(np.concatenate([rng.permutation(values), values[:100]]))
    assert np.array_equal(once, again)
    pairs = list(zip(np.flatnonzero(once).tolist(), once[once > 0].tolist(), strict=True))
    assert abs(hyperloglog.estimate(pairs) / 50000 - 1) < 0.02
    assert np.array_equal(
        bucket_values.registers(np.array([0.0])), bucket_values.registers(np.array([-0.0]))
    )
