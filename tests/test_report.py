"""Every metric of the report against scipy/numpy transcriptions of docs/metrics.md on the same data."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, wasserstein_distance

from app.engine import Engine
from app.report import build_report
from app.window import Window
from tests.reference_metrics import (
    EPS,
    categorical_bins,
    floored_psi,
    numerical_bins,
)
from tests.worlds import write


@pytest.fixture
def data(world):
    ref = pd.read_parquet(world.path("reference"))
    prod = pd.read_parquet(world.path("inputs"))
    preds = pd.read_parquet(world.path("predictions"))
    return world, ref, prod, preds


def _report(config, window=None):
    return build_report(Engine(config), window or Window(), config)


def test_numerical_metrics_match_scipy(data):
    config, ref, prod, _ = data
    report = _report(config)
    for name in ("area", "rooms"):
        f = report["features"][name]
        assert f["kind"] == "numerical"
        r, p = numerical_bins(ref[name], prod[name])
        assert f["psi"] == pytest.approx(floored_psi(r, p), rel=1e-12)
        assert f["js"] == pytest.approx(
            float(jensenshannon(np.array(r) / sum(r), np.array(p) / sum(p), base=2)), rel=1e-12
        )
        a, b = ref[name].dropna().to_numpy(), prod[name].dropna().to_numpy()
        ks = ks_2samp(a, b)
        assert f["ks"]["statistic"] == pytest.approx(ks.statistic, abs=1e-15)
        assert f["ks"]["pvalue"] == pytest.approx(ks.pvalue, rel=1e-9)
        expected_w = wasserstein_distance(a, b) / max(np.std(a), 0.001)
        assert f["wasserstein"] == pytest.approx(expected_w, rel=1e-9)


def test_infinite_values_keep_ks_and_quantile_edges(data):
    config, ref, prod, _ = data
    f = _report(config)["features"]["age"]
    r, p = numerical_bins(ref["age"], prod["age"])
    assert f["psi"] == pytest.approx(floored_psi(r, p), rel=1e-12)
    a, b = ref["age"].dropna().to_numpy(), prod["age"].dropna().to_numpy()
    assert f["ks"]["statistic"] == pytest.approx(ks_2samp(a, b).statistic, abs=1e-15)


def test_distribution_of_a_column_with_infinities_spans_the_finite_values(data):
    config, ref, prod, _ = data
    shown = Engine(config).distribution("age", Window(), bins=30)
    finite = [s["age"][np.isfinite(s["age"])].to_numpy() for s in (ref, prod)]
    lo = min(v.min() for v in finite)
    hi = max(v.max() for v in finite)
    assert shown["edges"][0] == lo and shown["edges"][-1] == pytest.approx(hi, rel=1e-12)
    for side, values in zip(("reference", "production"), finite, strict=True):
        expected, _ = np.histogram(values, bins=np.asarray(shown["edges"]))
        assert sum(shown[side]) == values.size
        assert np.abs(np.asarray(shown[side]) - expected).sum() <= 2  # float ties at inner edges


def test_production_rows_keep_one_order_across_pages(data):
    """Rows logged at the same instant come in one order (by id), whatever the page size."""
    config, _, prod, _ = data
    prod = prod.assign(timestamp=prod["timestamp"].dt.floor("h"))  # six rows per instant
    write(config.base_dir / "data/production/inputs.parquet", prod)
    engine = Engine(config)
    ids = []
    for offset in range(0, 63, 7):
        ids += list(engine.production_rows(Window(), offset=offset, limit=7)["request_id"])
    order = prod.sort_values(["timestamp", "request_id"], ascending=[False, True])
    assert ids == list(order["request_id"].head(len(ids)))


def test_categorical_metrics_match_scipy(data):
    config, ref, prod, _ = data
    f = _report(config)["features"]["district"]
    assert f["kind"] == "categorical"
    r, p = categorical_bins(ref["district"], prod["district"])
    assert f["psi"] == pytest.approx(floored_psi(r, p), rel=1e-12)
    assert f["js"] == pytest.approx(
        float(jensenshannon(np.array(r) / sum(r), np.array(p) / sum(p), base=2)), rel=1e-12
    )
    chi = chi2_contingency(np.array([r[:-1], p[:-1]]), correction=False)
    assert f["chi2"]["statistic"] == pytest.approx(chi.statistic, rel=1e-12)
    assert f["chi2"]["pvalue"] == pytest.approx(chi.pvalue, rel=1e-9, abs=1e-300)
    unseen = f["summary"]["production"]["unseen"]
    assert [u["value"] for u in unseen] == ["harbour"]
    assert unseen[0]["share"] == pytest.approx(
        (prod["district"] == "harbour").sum() / prod["district"].notna().sum()
    )


def test_cardinality_growth_is_exact(data):
    config, ref, prod, _ = data
    card = _report(config)["features"]["address"]["cardinality"]
    assert card["reference"] == ref["address"].nunique()
    assert card["production"] == prod["address"].nunique()
    assert card["ratio"] == pytest.approx(
        prod["address"].nunique() / ref["address"].nunique(), rel=1e-15
    )
    new = ~prod["address"].isin(set(ref["address"]))
    assert card["new_value_share"] == pytest.approx(new.mean(), rel=1e-12)


def test_high_cardinality_top_values_by_count_then_value(data):
    config, ref, prod, _ = data
    summary = _report(config)["features"]["address"]["summary"]
    for side, frame in (("reference", ref), ("production", prod)):
        counts = frame["address"].dropna().value_counts()
        expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        present = int(frame["address"].notna().sum())
        got = [(t["value"], t["share"]) for t in summary[side]["top"]]
        assert got == [(v, pytest.approx(n / present, rel=1e-15)) for v, n in expected]


def test_prediction_drift_kl_and_js(data):
    config, ref, _, preds = data
    pd_ = _report(config)["prediction_drift"]
    classes = list(dict.fromkeys(list(ref["target"].unique()) + list(preds["prediction"].unique())))
    p = np.array([(ref["target"] == c).mean() for c in classes])
    q = np.array([(preds["prediction"] == c).mean() for c in classes])
    kl = float(np.sum(np.maximum(p, EPS) * np.log(np.maximum(p, EPS) / np.maximum(q, EPS))))
    assert pd_["kl"] == pytest.approx(kl, rel=1e-12)
    assert pd_["js"] == pytest.approx(float(jensenshannon(p, q, base=2)), rel=1e-12)
    assert pd_["production"]["high"] == pytest.approx((preds["prediction"] == "high").mean())


def test_summary_statistics(data):
    config, ref, prod, _ = data
    s = _report(config)["features"]["area"]["summary"]
    for side, frame in (("reference", ref), ("production", prod)):
        values = frame["area"].dropna().to_numpy()
        got = s[side]
        assert got["rows"] == len(frame)
        assert got["missing"] == frame["area"].isna().sum()
        assert got["mean"] == pytest.approx(values.mean(), rel=1e-12)
        assert got["std"] == pytest.approx(values.std(ddof=1), rel=1e-9)
        assert got["median"] == pytest.approx(np.median(values), rel=1e-12)
        assert got["p25"] == pytest.approx(np.quantile(values, 0.25), rel=1e-12)
        assert got["min"] == values.min() and got["max"] == values.max()
        assert got["distinct"] == len(np.unique(values))


def test_window_selects_rows(data):
    config, ref, prod, preds = data
    start, end = datetime(2026, 1, 10), datetime(2026, 1, 20)
    report = _report(config, Window(start, end))
    mask = (prod["timestamp"] >= start) & (prod["timestamp"] < end)
    assert report["rows"]["inputs"] == int(mask.sum())
    sub = prod[mask]
    r, p = numerical_bins(ref["area"], sub["area"])
    assert report["features"]["area"]["psi"] == pytest.approx(floored_psi(r, p), rel=1e-12)


def test_dataset_drift_share(data):
    config, *_ = data
    report = _report(config)
    judged = [
        f
        for f in report["features"].values()
        if f["kind"] != "high_cardinality" and f["psi"] is not None
    ]
    share = sum(f["psi"] >= 0.25 for f in judged) / len(judged)
    assert report["dataset_drift"]["share"] == pytest.approx(share)
    assert report["dataset_drift"]["drifted"] == (share >= 0.5)


def test_many_numerical_features_each_get_their_own_bins(tmp_path):
    """Twelve features: per-feature queries must bind only their own edges ($lo1 vs $lo10)."""
    from app.config import Config
    from tests.worlds import write

    rng = np.random.default_rng(5)
    ref = pd.DataFrame({f"x{i}": rng.normal(i, 1 + i, 400) for i in range(12)})
    prod = pd.DataFrame({f"x{i}": rng.normal(i + 0.3 * (i % 3), 1 + i, 500) for i in range(12)})
    write(tmp_path / "ref.parquet", ref)
    write(tmp_path / "in.parquet", prod)
    config = Config(base_dir=tmp_path, reference="ref.parquet", inputs="in.parquet")
    features = _report(config)["features"]
    for i in range(12):
        r, p = numerical_bins(ref[f"x{i}"], prod[f"x{i}"])
        assert features[f"x{i}"]["psi"] == pytest.approx(floored_psi(r, p), rel=1e-12)
        assert features[f"x{i}"]["ks"]["statistic"] == pytest.approx(
            ks_2samp(ref[f"x{i}"], prod[f"x{i}"]).statistic, abs=1e-15
        )


def test_a_large_numerical_column_has_an_estimated_distinct_count_within_2_percent(tmp_path):
    """Beyond 100,000 values the distinct count of a numerical column comes from a HyperLogLog
    sketch (marked ``distinct_approx``); small columns and categories stay exact."""
    from app.config import Columns
    from tests.worlds import report_on

    rng = np.random.default_rng(21)
    n = 400_000
    reference = pd.DataFrame(
        {"x": rng.normal(0, 1, 5_000).round(3), "c": rng.choice(["a", "b"], 5_000)}
    )
    production = pd.DataFrame(
        {"x": rng.normal(0, 1, n).round(6), "c": rng.choice(["a", "b", "d"], n)}
    )
    production.loc[::50, "x"] = np.nan
    report = report_on(tmp_path, reference, production, Columns())
    big = report["features"]["x"]["summary"]["production"]
    exact = production["x"].dropna().nunique()
    assert big["distinct_approx"] is True
    assert abs(big["distinct"] - exact) <= 0.02 * exact
    small = report["features"]["x"]["summary"]["reference"]
    assert small["distinct_approx"] is False and small["distinct"] == reference["x"].nunique()
    assert report["features"]["c"]["summary"]["production"]["distinct"] == 3
