"""Values that broke the report on data a reviewer brought: a feature missing throughout
production, nanosecond and time-zoned nanosecond timestamps, means that dwarf the spread,
integers beyond 2^53, float predictions of integer classes, and a window with no rows. Each
number is checked against numpy/scipy (or exact rationals) on the same data."""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp

from app.config import Columns, Config
from app.data_status import data_status
from app.engine import Engine
from app.report import build_report
from app.window import Window
from tests.reference_metrics import floored_psi, numerical_bins
from tests.worlds import report_on, write

RNG = np.random.default_rng(11)


def _exact_std(values: np.ndarray) -> float:
    """The sample std (ddof=1) of the doubles, from exact rational arithmetic."""
    exact = [Fraction(float(v)) for v in values]
    mean = sum(exact) / len(exact)
    return float(sum((v - mean) ** 2 for v in exact) / (len(exact) - 1)) ** 0.5


def _world(root: Path, reference: pa.Table, inputs: pa.Table, predictions=None, **columns):
    write(root / "ref.parquet", reference)
    write(root / "in.parquet", inputs)
    if predictions is not None:
        write(root / "pred.parquet", predictions)
    return Config(
        base_dir=root,
        reference="ref.parquet",
        inputs="in.parquet",
        predictions="pred.parquet",
        labels=None,
        columns=Columns(**columns),
    )


def test_a_feature_missing_throughout_production_still_gets_psi_js_and_a_missing_share(
    tmp_path,
):
    reference = pd.Series(RNG.normal(0.0, 1.0, 2000))
    production = pd.Series(np.full(500, np.nan))
    report = report_on(
        tmp_path,
        pd.DataFrame({"x": reference}),
        pd.DataFrame({"x": production}),
        Columns(numerical=("x",)),
    )
    entry = report["features"]["x"]
    ref_bins, prod_bins = numerical_bins(reference, production)
    assert entry["psi"] == pytest.approx(floored_psi(ref_bins, prod_bins), rel=1e-12)
    assert entry["psi"] > 10  # every production row is in the missing bin
    assert entry["js"] == pytest.approx(jensenshannon(ref_bins, prod_bins, base=2), rel=1e-12)
    assert entry["ks"] == {"statistic": None, "pvalue": None}
    assert entry["reason"] == "no non-missing values in production"
    assert report["data_quality"]["features"]["x"]["missing_share_increase"] == 1.0
    assert report["dataset_drift"]["judged_features"] == 1


@pytest.mark.parametrize("tz", [None, "Europe/Istanbul"], ids=["TIMESTAMP_NS", "TIMESTAMPTZ_NS"])
def test_nanosecond_timestamps_meet_the_window_edges_exactly(tmp_path, tz):
    # Instants (UTC) 0.4 µs either side of the start, 0.3 µs before the (exclusive) end, inside
    # and at the end; with a time zone, the same instants in a column typed as Istanbul time.
    utc = pd.DatetimeIndex(
        [
            "2026-02-02 23:59:59.9999996",
            "2026-02-03 00:00:00.0000004",
            "2026-02-04 12:00:00",
            "2026-02-05 23:59:59.9999997",
            "2026-02-06 00:00:00",
        ]
    ).as_unit("ns")
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    config = _world(
        tmp_path,
        pa.table({"x": RNG.normal(3.0, 1.0, 50)}),
        pa.table({"timestamp": pa.array(utc.asi8, type=pa.timestamp("ns", tz=tz)), "x": x}),
        numerical=("x",),
    )
    engine = Engine(config)
    start, end = datetime(2026, 2, 3), datetime(2026, 2, 6)
    report = build_report(engine, Window(start=start, end=end), config)
    inside = [v for v, t in zip(x, utc, strict=True) if start <= t < end]
    assert inside == [2.0, 3.0, 4.0]
    assert report["rows"]["inputs"] == len(inside)
    summary = report["features"]["x"]["summary"]["production"]
    assert (summary["min"], summary["max"]) == (min(inside), max(inside))
    inputs = next(s for s in data_status(engine) if s["component"] == "inputs")
    assert inputs["newest"] == "2026-02-06T00:00:00"


def test_mean_and_std_keep_every_digit_when_the_mean_dwarfs_the_spread(tmp_path):
    ref_ns = (1_767_225_600_000_000_000 + RNG.integers(0, 10**9, 3000)).astype(np.int64)
    prod_ns = (1_767_225_600_000_000_000 + RNG.integers(0, 2 * 10**9, 2000)).astype(np.int64)
    ref_off, prod_off = 1e8 + RNG.normal(0, 1e-4, 3000), 1e8 + 0.3 + RNG.normal(0, 1e-4, 2000)
    config = _world(
        tmp_path,
        pa.table({"ns": ref_ns, "offset": ref_off}),
        pa.table({"ns": prod_ns, "offset": prod_off}),
        numerical=("ns", "offset"),
    )
    report = build_report(Engine(config), Window(), config)
    for name, ref, prod in (("ns", ref_ns, prod_ns), ("offset", ref_off, prod_off)):
        summary = report["features"][name]["summary"]
        for side, values in (("reference", ref), ("production", prod)):
            doubles = values.astype(np.float64)
            assert summary[side]["std"] == pytest.approx(_exact_std(doubles), rel=1e-12), (
                name,
                side,
            )
            exact_mean = float(sum(Fraction(float(v)) for v in doubles) / len(doubles))
            assert summary[side]["mean"] == pytest.approx(exact_mean, rel=1e-15), (name, side)


def test_integers_beyond_two_to_the_53_keep_their_distinct_count_and_exact_ks(tmp_path):
    ref = np.uint64(2**63) + RNG.integers(0, 9000, 3000).astype(np.uint64)
    prod = np.uint64(2**63) + RNG.integers(3000, 12000, 2000).astype(np.uint64)
    config = _world(tmp_path, pa.table({"u": ref}), pa.table({"u": prod}), numerical=("u",))
    report = build_report(Engine(config), Window(), config)
    entry = report["features"]["u"]
    assert entry["summary"]["reference"]["distinct"] == len(np.unique(ref))
    assert entry["summary"]["production"]["distinct"] == len(np.unique(prod))
    expected = ks_2samp(ref, prod)
    assert entry["ks"]["statistic"] == expected.statistic
    assert entry["ks"]["pvalue"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    # As doubles the values collapse onto a handful: the KS of those would differ.
    assert ks_2samp(ref.astype(float), prod.astype(float)).statistic != expected.statistic


def test_float_predictions_are_the_classes_of_an_integer_target(tmp_path):
    target = RNG.integers(0, 3, 3000)
    predicted = RNG.integers(0, 3, 2000).astype(float)
    predicted[RNG.random(2000) < 0.05] = np.nan  # pandas writes integers with gaps as floats
    stamps = pd.date_range("2026-03-01", periods=2000, freq="min")
    config = _world(
        tmp_path,
        pa.table({"x": RNG.normal(0, 1, 3000), "target": target}),
        pa.table({"timestamp": stamps, "x": RNG.normal(0, 1, 2000)}),
        pa.table({"timestamp": stamps, "prediction": predicted}),
        numerical=("x",),
        target="target",
        prediction="prediction",
    )
    drift = build_report(Engine(config), Window(), config)["prediction_drift"]
    ref_counts = np.bincount(target, minlength=3)
    prod_counts = np.bincount(predicted[~np.isnan(predicted)].astype(int), minlength=3)
    assert set(drift["production"]) == set(drift["reference"]) == {"0", "1", "2"}
    for k in range(3):
        assert drift["production"][str(k)] == prod_counts[k] / prod_counts.sum()
    p, q = ref_counts / ref_counts.sum(), prod_counts / prod_counts.sum()
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    assert drift["kl"] == pytest.approx(float(np.sum(p * np.log(p / q))), rel=1e-12)


def test_a_window_without_rows_says_why_each_metric_is_missing(tmp_path):
    stamps = pd.date_range("2026-03-01", periods=400, freq="min")
    target = RNG.integers(0, 2, 600)
    config = _world(
        tmp_path,
        pa.table({"x": RNG.normal(0, 1, 600), "c": RNG.choice(["a", "b"], 600), "target": target}),
        pa.table(
            {"timestamp": stamps, "x": RNG.normal(0, 1, 400), "c": RNG.choice(["a", "b"], 400)}
        ),
        pa.table({"timestamp": stamps, "prediction": RNG.integers(0, 2, 400)}),
        numerical=("x",),
        categorical=("c",),
        target="target",
        prediction="prediction",
    )
    empty = Window(start=datetime(2030, 1, 1), end=datetime(2030, 1, 2))
    report = build_report(Engine(config), empty, config)
    for name in ("x", "c"):
        assert report["features"][name]["psi"] is None
        assert report["features"][name]["reason"] == "no production rows in this window"
        assert name in report["data_quality"]["features"]
    reasons = {s["component"]: s["message"] for s in report["status"]}
    assert reasons["feature c"] == "no production rows in this window"
    # The reference's classes do not depend on the window.
    counts = np.bincount(target)
    assert report["prediction_drift"]["reference"] == {
        str(k): counts[k] / counts.sum() for k in range(2)
    }
    assert report["prediction_drift"]["production"] is None
