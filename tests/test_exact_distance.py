"""Exact KS and Wasserstein from DuckDB bucket aggregates, checked against scipy on the same data."""

from __future__ import annotations

import itertools
import math
import pickle
import warnings
from unittest import mock

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from app import exact_distance, exact_grid, order_statistics
from app.exact_distance import ExactResult, compare
from app.exact_grid import Side, reference_profile
from app.ks_pvalue import ks_2samp_result
from queries import ident, literal, render


class ParquetDb:
    """Parquet files in a temporary folder behind DuckDB views, queried like ``Sources.fetchall``."""

    def __init__(self, folder):
        self.folder = folder
        self.con = duckdb.connect(
            ":memory:", config={"threads": 2, "preserve_insertion_order": False}
        )
        # pyarrow writes no nan_count, and DuckDB then assumes a double column holds no NaN and folds
        # isnan() away (duckdb/duckdb#25521); the engine's Sources must set this too.
        self.con.execute("SET GLOBAL parquet_can_have_nan = true")
        self._names = itertools.count()

    def view(self, table: pa.Table) -> str:
        """A new view over ``table`` written to parquet; returns the view's name."""
        name = f"side {next(self._names)}"  # a space, so identifiers must be quoted
        path = self.folder / f"{name}.parquet"
        pq.write_table(table, path)
        files = "[" + literal(str(path)) + "]"
        self.con.execute(render("view", view=ident(name), files=files, hive="false", replace=""))
        return name

    def fetchall(self, sql: str, params: dict | None = None) -> list[tuple]:
        cursor = self.con.cursor()
        try:
            return cursor.execute(sql, params or {}).fetchall()
        finally:
            cursor.close()

    def fetchnumpy(self, sql: str, params: dict | None = None) -> dict:
        cursor = self.con.cursor()
        try:
            return cursor.execute(sql, params or {}).fetchnumpy()
        finally:
            cursor.close()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return ParquetDb(tmp_path_factory.mktemp("exact"))


def column(values, kind=None) -> pa.Table:
    """A one-column table ``x`` (double unless told); None becomes NULL, float NaN stays NaN."""
    return pa.table({"x": pa.array(values, type=kind or pa.float64(), from_pandas=False)})


def present(values) -> np.ndarray:
    """The non-missing values as scipy sees them (NULL and NaN dropped)."""
    out = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    return out[~np.isnan(out)]


def scipy_ks(ref: np.ndarray, prod: np.ndarray):
    with warnings.catch_warnings():
        # scipy warns when its exact p-value fails and it falls back to asymp; that is what we mirror
        warnings.simplefilter("ignore", RuntimeWarning)
        return stats.ks_2samp(ref, prod)


def run(db, ref_values, prod_values, kind=None, buckets=None) -> tuple[ExactResult, object]:
    ref = Side(db.view(column(ref_values, kind)), "x")
    prod = Side(db.view(column(prod_values, kind)), "x")
    kwargs = {} if buckets is None else {"buckets": buckets}
    # The engine fetches the bucket and refinement results as numpy columns; the quantile test
    # below covers the plain fetchall path.
    profile = reference_profile(db.fetchall, ref, fetchnumpy=db.fetchnumpy, **kwargs)
    return compare(db.fetchall, profile, ref, prod, fetchnumpy=db.fetchnumpy), profile


def check(db, ref_values, prod_values, kind=None, buckets=None) -> ExactResult:
    """Run the exact computation and assert it equals scipy on the same non-missing values."""
    result, profile = run(db, ref_values, prod_values, kind, buckets)
    ref, prod = present(ref_values), present(prod_values)
    assert (result.n_ref, result.n_prod) == (ref.size, prod.size)
    assert profile.n == ref.size
    if ref.size == 0 or prod.size == 0:
        assert (
            result.ks_statistic is None and result.ks_pvalue is None and result.wasserstein is None
        )
        assert any("no non-missing values" in reason for reason in result.reasons)
        return result
    expected = scipy_ks(ref, prod)
    assert result.ks_statistic == float(expected.statistic)  # bit for bit
    np.testing.assert_allclose(result.ks_pvalue, expected.pvalue, rtol=1e-9, atol=0)
    if np.isinf(ref).any() or np.isinf(prod).any():
        assert result.wasserstein is None
        assert any(reason.startswith("wasserstein:") for reason in result.reasons)
        assert profile.std is None if np.isinf(ref).any() else profile.std is not None
    else:
        w = stats.wasserstein_distance(ref, prod)
        spread = float(np.ptp(np.concatenate([ref, prod]))) or 1.0
        np.testing.assert_allclose(result.wasserstein, w, rtol=1e-9, atol=1e-13 * spread)
        with np.errstate(over="ignore"):
            std = np.std(ref)
        if np.isfinite(std):
            np.testing.assert_allclose(profile.std, std, rtol=1e-9, atol=1e-13 * spread)
        else:
            assert profile.std is None
        assert result.reasons == ()
    return result


# -- hypothesis: ties, missing values, infinities, constants, single rows, outside the range --------
def values(elements, min_size=0, max_size=40):
    return st.lists(elements, min_size=min_size, max_size=max_size)


small_ints = st.integers(-5, 5).map(float)  # many ties
floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
mess = st.sampled_from([None, math.nan, math.inf, -math.inf])
anything = st.one_of(small_ints, small_ints, floats, mess)


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(
    ref=values(anything, 1), prod=values(anything, 1), buckets=st.sampled_from([1, 2, 7, 64, None])
)
def test_matches_scipy_on_messy_data(db, ref, prod, buckets):
    check(db, ref, prod, buckets=buckets)


@settings(deadline=None, max_examples=40)
@given(
    ref=values(small_ints, 1, 200),
    prod=values(st.integers(-8, 8).map(float), 1, 200),
    buckets=st.sampled_from([3, 16, 1024]),
)
def test_matches_scipy_on_integer_ties(db, ref, prod, buckets):
    check(db, ref, prod, buckets=buckets)


@settings(deadline=None, max_examples=40)
@given(
    ref=values(floats, 1, 300),
    shift=st.floats(-2e6, 2e6),
    stretch=st.floats(0.01, 100),
    n_prod=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_matches_scipy_outside_the_reference_range(db, ref, shift, stretch, n_prod, seed):
    rng = np.random.default_rng(seed)
    prod = (rng.choice(ref, n_prod) * stretch + shift).tolist()
    check(db, ref, prod, buckets=32)


@pytest.mark.parametrize(
    "ref, prod",
    [
        ([1.0], [1.0]),
        ([1.0], [2.0]),
        ([3.0], [1.0, 2.0, 3.0, 4.0]),
        ([5.0] * 50, [5.0] * 7),  # constant, same value
        ([5.0] * 50, [4.0, 5.0, 6.0, 5.0]),  # constant reference, production around it
        ([0.0, -0.0, 0.0], [-0.0, 1.0]),  # signed zeros are one value
        ([math.inf, 1.0], [1.0, 2.0]),
        ([-math.inf, math.inf], [0.0]),
        ([math.inf], [math.inf]),
        ([1.0, 2.0], [math.inf, -math.inf, 3.0]),
        ([math.nan, None, 1.0, 2.0], [None, 1.5, math.nan]),
        ([1e300, -1e300], [0.0, 1e300]),  # finite values whose range is beyond the float range
        ([1e-310, 2e-310], [1.5e-310, 0.0]),  # subnormal range
    ],
)
def test_edge_cases(db, ref, prod):
    check(db, ref, prod)


@pytest.mark.parametrize(
    "ref, prod", [([None, math.nan], [1.0]), ([1.0], [math.nan]), ([None], [None])]
)
def test_empty_side_is_none_with_reason(db, ref, prod):
    check(db, ref, prod)


@pytest.mark.parametrize(
    "kind, ref, prod",
    [
        (pa.int32(), [1, 2, 2, 3, None], [2, 3, 3, 4]),
        (pa.int64(), [10**12, 5, None, 7], [5, 6, 10**12]),
        (pa.float32(), [0.1, 0.2, 0.30000001], [0.2, 0.25]),
        (pa.decimal128(10, 2), [1, 2, None], [2, 3]),
        (pa.bool_(), [True, False, False, None], [True, True, False]),
    ],
)
def test_numeric_types_are_read_as_double(db, kind, ref, prod):
    if kind == pa.decimal128(10, 2):
        from decimal import Decimal

        ref = [None if v is None else Decimal(v) for v in ref]
        prod = [None if v is None else Decimal(v) for v in prod]
    if kind == pa.float32():
        # scipy sees the float32 values widened to double, as DuckDB casts them
        ref = np.float32(ref).astype(np.float64).tolist()
        prod = np.float32(prod).astype(np.float64).tolist()
    check(db, ref, prod, kind=kind)


@pytest.mark.parametrize(
    "n_ref, n_prod",
    [
        (10000, 10000),
        (10000, 9999),
        (9999, 10001),
        (10001, 10001),
        (10000, 37),
        (10001, 37),
        (4, 10000),
    ],
)
def test_p_value_around_the_exact_asymptotic_switch(db, n_ref, n_prod):
    rng = np.random.default_rng(n_ref * 7 + n_prod)
    ref = rng.normal(size=n_ref).round(2)  # ties as well
    prod = rng.normal(0.05, 1.1, size=n_prod).round(2)
    check(db, ref.tolist(), prod.tolist())


@settings(deadline=None, max_examples=100)
@given(n1=st.integers(1, 400), n2=st.integers(1, 400), seed=st.integers(0, 2**32 - 1))
def test_p_value_follows_scipy(n1, n2, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 30, n1).astype(float)
    b = rng.integers(0, 30, n2).astype(float) + rng.integers(0, 3)
    expected = scipy_ks(a, b)
    cdf_a = np.searchsorted(np.sort(a), np.concatenate([a, b]), side="right") / n1
    cdf_b = np.searchsorted(np.sort(b), np.concatenate([a, b]), side="right") / n2
    gaps = cdf_a - cdf_b
    d = max(gaps.max(), float(np.clip(-gaps.min(), 0, 1)))
    statistic, pvalue = ks_2samp_result(n1, n2, d)
    assert statistic == expected.statistic
    assert pvalue == expected.pvalue


def test_statistic_keeps_scipy_last_bit(db):
    # Sizes beyond 10000 (scipy's asymptotic mode reports its raw float D) and two points whose gaps
    # are equal as fractions but not as floats: one at a bucket edge, the larger float inside the
    # bucket of 10.3 and 10.301, whose bound only equals the best edge gap. +inf keeps Wasserstein
    # (and its sign-change refinement) out of the way.
    ref = [0.0] * 10902 + [10.3] * 6571 + [20.0] * 2240
    prod = [5.0] * 4654 + [10.301] * 8319 + [math.inf] * 989
    result = check(db, ref, prod, buckets=1024)
    assert result.ks_statistic == 0.5530360675696242 != 10902 / 19713


# -- refinement levels ---------------------------------------------------------------------------------
@settings(deadline=None, max_examples=40)
@given(
    ref=values(st.one_of(small_ints, floats), 1, 120),
    prod=values(st.one_of(small_ints, floats, st.integers(-5, 5).map(lambda v: v + 0.5)), 1, 120),
    buckets=st.sampled_from([1, 3, 64]),
)
def test_every_refinement_level_is_exact(db, ref, prod, buckets):
    # No rows fetched until the deepest level: every level of sub-cells has to be right on its own.
    with mock.patch.object(exact_distance, "EXACT_ROWS", 0):
        result = check(db, ref, prod, buckets=buckets)
    assert result.passes <= 2 + exact_distance.MAX_DEPTH


@pytest.fixture(scope="module")
def large(db):
    """1M reference rows against 200k production rows, unshifted and shifted, with scipy's answers."""
    rng = np.random.default_rng(7)
    ref = rng.normal(size=1_000_000)
    ref_side = Side(db.view(pa.table({"x": ref})), "x")
    out = {}
    for shift in (0.0, 0.02):
        prod = rng.normal(shift, 1.0, size=200_000)
        ks = scipy_ks(ref, prod)
        w = stats.wasserstein_distance(ref, prod)
        out[shift] = (ref_side, Side(db.view(pa.table({"x": prod})), "x"), ks, w)
    return out


@pytest.mark.parametrize("shift, buckets", [(0.0, None), (0.02, None), (0.0, 1024)])
def test_large_samples_with_many_sign_changes(db, large, shift, buckets):
    ref_side, prod_side, expected, w = large[shift]
    profile = reference_profile(db.fetchall, ref_side, **({"buckets": buckets} if buckets else {}))
    result = compare(db.fetchall, profile, ref_side, prod_side)
    assert result.ks_statistic == float(expected.statistic)
    np.testing.assert_allclose(result.ks_pvalue, expected.pvalue, rtol=1e-9)
    np.testing.assert_allclose(result.wasserstein, w, rtol=1e-9)
    if shift == 0.0:
        assert result.refined_buckets > 100  # F_ref − F_prod crosses zero again and again
    if buckets == 1024:
        assert result.passes >= 3  # coarse buckets hold too many rows: split before fetching values


# -- filters, parameters and the profile as a cacheable value ---------------------------------------
def test_where_filter_with_parameters(db):
    rng = np.random.default_rng(3)
    table = pa.table({"x": rng.normal(size=3000), "g": rng.integers(0, 3, 3000)})
    name = db.view(table)
    ref = Side(name, "x", f"{ident('g')} = $ref_group", {"ref_group": 0})
    prod = Side(name, "x", f"{ident('g')} = $group", {"group": 2})
    profile = reference_profile(db.fetchall, ref, buckets=128)
    result = compare(db.fetchall, profile, ref, prod)
    x, g = table["x"].to_numpy(), table["g"].to_numpy()
    expected = scipy_ks(x[g == 0], x[g == 2])
    assert (result.n_ref, result.n_prod) == ((g == 0).sum(), (g == 2).sum())
    assert result.ks_statistic == expected.statistic
    np.testing.assert_allclose(result.ks_pvalue, expected.pvalue, rtol=1e-9)
    np.testing.assert_allclose(
        result.wasserstein, stats.wasserstein_distance(x[g == 0], x[g == 2]), rtol=1e-9
    )


def test_nan_read_as_a_number_is_never_counted(tmp_path):
    # Without can_have_nan DuckDB trusts pyarrow's NaN-free statistics and folds `NOT isnan(x)` away
    # (duckdb/duckdb#25521). A NaN may then fail a cast or show up in a sum, but never as a number.
    db = ParquetDb(tmp_path)
    db.con.execute("RESET GLOBAL parquet_can_have_nan")
    ref = Side(db.view(column([0.0, 1.0])), "x")
    prod = Side(db.view(column([0.0, math.nan])), "x")
    try:
        result = compare(db.fetchall, reference_profile(db.fetchall, ref, buckets=1), ref, prod)
    except duckdb.Error as exc:
        assert "nan" in str(exc).lower()
        return
    if result.n_prod == 2:
        assert result.ks_statistic is None and result.wasserstein is None
        assert any("NaN values were read as numbers" in reason for reason in result.reasons)
    else:  # a DuckDB that reads NaN right
        assert result.ks_statistic == stats.ks_2samp([0.0, 1.0], [0.0]).statistic


def test_profile_pickles_and_guards_its_side(db):
    ref = Side(db.view(column([1.0, 2.0, 3.0])), "x")
    prod = Side(db.view(column([2.0, 4.0])), "x")
    profile = reference_profile(db.fetchall, ref)
    again = pickle.loads(pickle.dumps(profile))
    assert compare(db.fetchall, again, ref, prod) == compare(db.fetchall, profile, ref, prod)
    with pytest.raises(ValueError, match="profile was computed"):
        compare(db.fetchall, profile, prod, prod)
    clash = Side(prod.view, "x", "$bucket_lo = $bucket_lo", {"bucket_lo": 1.0})
    with pytest.raises(ValueError, match="reserved"):
        compare(db.fetchall, profile, ref, clash)


# -- production quantiles from the grid ------------------------------------------------------------
def same_float(a, b) -> bool:
    return (a is None and b is None) or (
        a is not None and b is not None and (a == b or (math.isnan(a) and math.isnan(b)))
    )


@settings(deadline=None, max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(
    ref=values(anything, 1),
    prod=values(anything, 0, 60),
    buckets=st.sampled_from([1, 2, 7, 64, None]),
    levels=st.lists(st.floats(0, 1), min_size=1, max_size=4),
    edges=st.lists(st.one_of(anything.filter(lambda v: v is not None), st.just(0.5)), max_size=5),
)
def test_quantiles_equal_duckdb_quantile_cont(db, ref, prod, buckets, levels, edges):
    """Quantiles located on the reference grid are DuckDB's quantile_cont, bit for bit, and the
    counts at or over each edge are exact."""
    edges = sorted({e for e in edges if not math.isnan(e)} | set(present(ref)))
    ref_side = Side(db.view(column(ref)), "x")
    prod_side = Side(db.view(column(prod)), "x")
    profile = reference_profile(
        db.fetchall, ref_side, **({} if buckets is None else {"buckets": buckets})
    )
    buckets = exact_grid.production_buckets(db.fetchall, profile, prod_side)
    got, at_least = order_statistics.order_statistics(
        db.fetchall, profile, prod_side, buckets, tuple(levels), edges
    )
    assert at_least == [int((present(prod) >= e).sum()) for e in edges]
    distinct = buckets.distinct_if_known()
    if distinct is not None:  # every bucket holds one value: the distinct count needs no query
        assert distinct == np.unique(present(prod)).size
    listed = "[" + ", ".join(repr(q) for q in levels) + "]"
    expected = db.fetchall(
        f"SELECT quantile_cont(x, {listed}) FROM "  # noqa: S608 (test: literal floats)
        f"(SELECT CASE WHEN isnan(x) THEN NULL ELSE x END AS x FROM {ident(prod_side.view)})"
    )[0][0] or [None] * len(levels)
    assert all(same_float(g, e) for g, e in zip(got, expected, strict=True)), (got, expected)
    if present(prod).size:
        finite = present(prod)
        if np.isfinite(finite).all():
            np.testing.assert_allclose(got, np.quantile(finite, levels), rtol=1e-12, atol=1e-300)
