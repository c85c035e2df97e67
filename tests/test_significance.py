"""The sample-size floor of PSI: noise on small samples never alerts, real drift still does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from app.alerts import evaluate_alerts
from app.config import Columns, Config
from tests.worlds import report_on


def _frames(rng, n_ref: int, n_prod: int, shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    colours = np.array(["red", "green", "blue", "grey", "white", "black"])
    weights = np.array([0.3, 0.25, 0.2, 0.1, 0.1, 0.05])
    moved = np.roll(weights, 1) if shift else weights

    def side(n, s, w):
        return pd.DataFrame(
            {"size": rng.normal(50 + s * 10, 10, n), "colour": rng.choice(colours, n, p=w)}
        )

    return side(n_ref, 0, weights), side(n_prod, shift, moved)


def _psi_alerts(report: dict) -> list[dict]:
    return [a for a in evaluate_alerts(report, Config()) if a["metric"] == "psi"]


def test_noise_on_small_samples_raises_no_psi_alert(tmp_path):
    """Same distributions, a few hundred rows a side: raw PSI often passes the 0.10 warning
    level (that is the false alarm), but never its floor, so nothing alerts."""
    rng = np.random.default_rng(11)
    over_warning, alerts = 0, 0
    for i in range(12):
        ref, prod = _frames(rng, 300, 200, shift=0)
        report = report_on(tmp_path / str(i), ref, prod, Columns())
        significant = set()
        for name, f in report["features"].items():
            over_warning += f["psi"] >= 0.10
            assert f["significant"] == (f["psi"] >= f["psi_floor"])
            if f["significant"]:
                significant.add(name)
        raised = {a["feature"] for a in _psi_alerts(report)}
        assert raised <= significant  # nothing under its floor alerts
        alerts += len(raised)
        assert report["dataset_drift"]["drifted_features"] <= len(significant)
    assert over_warning >= 3  # without the floor each of these would have been a warning
    assert alerts <= 1  # a floor at the 0.999 quantile lets almost no noise through


def test_real_drift_on_small_samples_still_alerts(tmp_path):
    rng = np.random.default_rng(5)
    ref, prod = _frames(rng, 300, 200, shift=1.5)
    report = report_on(tmp_path, ref, prod, Columns())
    for name in ("size", "colour"):
        f = report["features"][name]
        assert f["significant"] is True and f["psi"] >= f["psi_floor"]
    severities = {a["feature"]: a["severity"] for a in _psi_alerts(report)}
    assert severities == {"size": "critical", "colour": "critical"}
    drift = report["dataset_drift"]
    assert drift["drifted"] is True and drift["drifted_features"] == 2
    assert (drift["psi_threshold"], drift["share_threshold"]) == (0.25, 0.5)


@pytest.mark.parametrize("n", [150, 5000])
def test_the_floor_is_the_chi_square_quantile_over_the_sample_sizes(tmp_path, n):
    rng = np.random.default_rng(n)
    ref, prod = _frames(rng, 2 * n, n, shift=0)
    prod.loc[: n // 10, "colour"] = None  # the missing bin counts as a bin
    report = report_on(tmp_path, ref, prod, Columns())
    colour = report["features"]["colour"]
    bins = len(set(ref["colour"].dropna()) | set(prod["colour"].dropna())) + 1
    expected = chi2.ppf(0.999, bins - 1) * (1 / len(ref) + 1 / len(prod))
    assert colour["psi_floor"] == pytest.approx(expected, rel=1e-12)
    # Numerical: the decile bins, plus the missing bin only where a side has missing values.
    size = report["features"]["size"]
    assert size["psi_floor"] == pytest.approx(
        chi2.ppf(0.999, 10 - 1) * (1 / len(ref) + 1 / len(prod)), rel=1e-12
    )


def test_a_small_real_drift_is_significant_on_large_samples(tmp_path):
    """The floor shrinks as samples grow: a modest shift over many rows is drift."""
    rng = np.random.default_rng(3)
    ref, prod = _frames(rng, 20000, 20000, shift=0.3)
    report = report_on(tmp_path, ref, prod, Columns())
    size = report["features"]["size"]
    assert size["significant"] is True and size["psi_floor"] < 0.01 < size["psi"]
