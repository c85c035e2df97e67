"""Production's summary from its grid buckets and shifted sums: equal to numpy on awkward data,
and DuckDB is asked exactly where the shortcut could lose digits."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app import grid_summary
from app.config import Columns
from tests.worlds import report_on

RNG = np.random.default_rng(7)
REFERENCE = RNG.normal(50.0, 10.0, 2000)
LOW, HIGH = float(REFERENCE.min()), float(REFERENCE.max())


def _report(tmp_path: Path, prod: np.ndarray, reference: np.ndarray = REFERENCE) -> dict:
    return report_on(
        tmp_path,
        pd.DataFrame({"x": reference}),
        pd.DataFrame({"x": prod}),
        Columns(numerical=("x",)),
    )


CASES = {
    "like the reference": RNG.normal(52.0, 11.0, 3000),
    "drifted a million standard deviations": RNG.normal(1e7, 1.0, 3000),
    "next to both reference edges": np.array(
        [LOW, np.nextafter(LOW, -np.inf), HIGH, np.nextafter(HIGH, np.inf), 50.0, 60.0]
    ),
    "one value many times": np.full(500, 0.1),
    "a single row": np.array([HIGH * 3]),
    "only missing": np.array([np.nan, np.nan]),
    "with infinities": np.array([1.0, 2.0, np.inf, -np.inf, 70.0, np.nan]),
    "huge values": np.array([1e300, -1e300, 1e308, 5.0]),
}


@pytest.mark.parametrize("name", CASES)
def test_production_summary_equals_numpy(tmp_path: Path, name: str):
    prod = CASES[name]
    report = _report(tmp_path, prod)
    summary = report["features"]["x"]["summary"]["production"]
    quality = report["data_quality"]["features"].get("x", {})
    present = prod[~np.isnan(prod)]

    def expect(value: float) -> float | None:
        return float(value) if math.isfinite(value) else None

    if not len(present):
        assert [summary[k] for k in ("mean", "std", "min", "max")] == [None] * 4
        assert quality.get("out_of_range_share") is None
        return
    assert summary["min"] == expect(present.min())
    assert summary["max"] == expect(present.max())
    outside = np.count_nonzero((present < LOW) | (present > HIGH))
    assert quality["out_of_range_share"] == outside / len(present)
    with np.errstate(all="ignore"):
        mean = present.mean()
        std = present.std(ddof=1) if len(present) > 1 else math.nan
    if math.isfinite(mean):
        assert summary["mean"] == pytest.approx(mean, rel=1e-12)
    if math.isfinite(std):
        assert summary["std"] == pytest.approx(std, rel=1e-9)
    elif len(present) == 1:
        assert summary["std"] is None


def test_values_inside_the_one_bucket_of_a_constant_reference_but_over_it_are_out_of_range(
    tmp_path: Path,
):
    # A constant reference has a grid of one bucket, one unit wide: 5.5 lands in it.
    report = _report(tmp_path, np.array([5.0, 5.5, 4.0, 7.0]), reference=np.full(10, 5.0))
    assert report["data_quality"]["features"]["x"]["out_of_range_share"] == 3 / 4
    assert report["features"]["x"]["summary"]["production"]["max"] == 7.0


def test_shifted_sums_are_trusted_only_when_well_conditioned():
    values = RNG.normal(3.0, 2.0, 1000)

    def from_sums(shift: float):
        d = values - shift
        return grid_summary.mean_std(
            len(values), float(d.sum()), float((d * d).sum()), shift, values.min(), values.max()
        )

    mean, std = from_sums(2.5)  # the shift within a standard deviation of the mean
    assert mean == pytest.approx(values.mean(), rel=1e-13)
    assert std == pytest.approx(values.std(ddof=1), rel=1e-12)
    assert from_sums(3.0 - 40.0) is None  # twenty standard deviations away: DuckDB decides
    infinite = grid_summary.mean_std(3, math.inf, math.inf, 0.0, 1.0, math.inf)
    assert infinite is None
    assert grid_summary.mean_std(4, 0.0, 0.0, 7.5, 7.5, 7.5) == (7.5, 0.0)
