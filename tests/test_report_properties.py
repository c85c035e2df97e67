"""Property tests: PSI, JS, chi-square and summaries against numpy/scipy on awkward data."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency

from app.config import Columns
from tests.reference_metrics import categorical_bins, floored_psi, numerical_bins
from tests.worlds import report_on

special = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, 1.0, 1.0, -3.5, 1e9])
number = st.one_of(st.integers(-5, 5).map(float), st.floats(-1e6, 1e6, allow_nan=False), special)
category = st.one_of(
    st.none(), st.sampled_from(["a", "b", "c", "<script>alert(1)</script>", "ü ñ", "d"])
)


def _run(ref_x, prod_x, ref_c, prod_c):
    with tempfile.TemporaryDirectory() as tmp:
        return report_on(
            Path(tmp),
            pd.DataFrame({"x": ref_x, "c": pd.Series(ref_c, dtype=object)}),
            pd.DataFrame({"x": prod_x, "c": pd.Series(prod_c, dtype=object)}),
            Columns(numerical=("x",), categorical=("c",)),
        )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(number, min_size=1, max_size=40),
    st.lists(number, min_size=1, max_size=40),
    st.data(),
)
def test_psi_js_chi2_match_numpy(ref_x, prod_x, data):
    ref_c = data.draw(st.lists(category, min_size=len(ref_x), max_size=len(ref_x)))
    prod_c = data.draw(st.lists(category, min_size=len(prod_x), max_size=len(prod_x)))
    report = _run(ref_x, prod_x, ref_c, prod_c)
    ref, prod = pd.Series(ref_x), pd.Series(prod_x)
    x = report["features"]["x"]
    # A side with only missing values still has its missing bin.
    r, p = numerical_bins(ref, prod)
    assert x["psi"] == pytest.approx(floored_psi(r, p), rel=1e-9, abs=1e-12)
    js = float(jensenshannon(np.array(r) / sum(r), np.array(p) / sum(p), base=2))
    assert x["js"] == pytest.approx(js, rel=1e-9, abs=1e-12)
    c = report["features"]["c"]
    rc, pc = pd.Series(ref_c, dtype=object), pd.Series(prod_c, dtype=object)
    r, p = categorical_bins(rc, pc)
    assert c["psi"] == pytest.approx(floored_psi(r, p), rel=1e-9, abs=1e-12)
    if sum(r[:-1]) and sum(p[:-1]):
        table = np.array([r[:-1], p[:-1]])
        chi = chi2_contingency(table, correction=False)
        assert c["chi2"]["statistic"] == pytest.approx(chi.statistic, rel=1e-9, abs=1e-12)
        assert c["chi2"]["pvalue"] == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-12)
    else:
        assert c["chi2"]["statistic"] is None
    summary = x["summary"]["production"]
    present = prod[prod.notna()].to_numpy()
    assert summary["missing"] == int(prod.isna().sum())
    if len(present):
        assert summary["distinct"] == len(np.unique(present))
        if np.isfinite(present).all():
            assert summary["mean"] == pytest.approx(present.mean(), rel=1e-9, abs=1e-9)
            assert summary["median"] == pytest.approx(np.median(present), rel=1e-9, abs=1e-9)
            if len(present) > 1:
                assert summary["std"] == pytest.approx(present.std(ddof=1), rel=1e-9, abs=1e-9)
        for key, value in (("min", present.min()), ("max", present.max())):
            assert summary[key] == (float(value) if np.isfinite(value) else None)
