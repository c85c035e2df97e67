"""The Drift Monitoring page draws the report's drift measures and sets the window from the heat map."""

from __future__ import annotations

import math

import panel as pn
import pytest

from app import theme
from app.engine import Engine
from app.monitor import Monitor
from app.pages.base import data_report
from app.pages.charts import MIN_BUCKET_ROWS, bucket_width
from app.pages.drift import DriftMonitoring
from tests.conftest import make_world
from tests.page_helpers import (
    XSS,
    assert_top_value_shares,
    drop_production,
    monitor_on,
    render,
    shown_text,
    xss_world,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    config = make_world(tmp_path_factory.mktemp("world"))
    return config, Engine(config)


@pytest.fixture
def monitor(world):
    """A fresh Monitor (its own window) on the module's world and engine."""
    config, engine = world
    return Monitor(config, engine=engine)


def element(pane, kind):
    """The first element of a type inside the HoloViews object of a pane."""
    obj = pane.object
    if isinstance(obj, kind):
        return obj
    return next(e for e in obj if isinstance(e, kind))


def test_psi_bars_and_thresholds_equal_the_report(monitor):
    import holoviews as hv

    page = DriftMonitoring(monitor=monitor)
    render(page)
    report = data_report(monitor)
    bars = element(page.psi_body.objects[0], hv.Bars).dframe()
    shown = dict(zip(bars["feature"], bars["value"], strict=True))
    expected = {
        name: f["psi"]
        for name, f in report["features"].items()
        if f["kind"] != "high_cardinality" and f["psi"] is not None
    }
    assert shown == pytest.approx(expected)
    from bokeh.models import Span

    figure = hv.render(page.psi_body.objects[0].object)
    lines = sorted(span.location for span in figure.select(type=Span))
    psi = monitor.config.thresholds["psi"]
    assert lines == [psi.warning, psi.critical]
    # Severity colours: district's new category makes it drift.
    colors = dict(zip(bars["feature"], bars["severity"], strict=True))
    assert colors["rooms"] == "ok"


def test_cardinality_and_prediction_drift_equal_the_report(monitor):
    import holoviews as hv

    page = DriftMonitoring(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    ratio = report["features"]["address"]["cardinality"]["ratio"]
    bars = element(page.cardinality_body.objects[0], hv.Bars).dframe()
    assert list(bars["feature"]) == ["address"]
    assert bars["value"].iloc[0] == pytest.approx(ratio)
    assert "never seen in the reference" in shown_text(layout)

    prediction = report["prediction_drift"]
    assert page.kl_card.value == prediction["kl"]
    shares = element(page.prediction_body.objects[1], hv.Bars).dframe()
    for row in shares.itertuples():
        assert row.share == pytest.approx(prediction[row.side][row._1])


def test_numerical_drift_table(monitor):
    page = DriftMonitoring(monitor=monitor)
    render(page)
    report = data_report(monitor)
    frame = page.drift_table.value
    numerical = {n: f for n, f in report["features"].items() if f["kind"] == "numerical"}
    assert set(frame["Feature"]) == set(numerical)
    for row in frame.to_dict("records"):
        f = numerical[row["Feature"]]
        shown = [row["PSI"], row["KS D"], row["Wasserstein (σ)"]]
        expected = [f["psi"], f["ks"]["statistic"], f["wasserstein"]]
        # A measure that cannot be computed is null in the report and blank (NaN) in the table.
        expected = [math.nan if v is None else v for v in expected]
        assert shown == pytest.approx(expected, nan_ok=True)
        assert row["KS p-value"] == theme.format_pvalue(f["ks"]["pvalue"])


def test_distribution_of_any_feature(monitor):
    import holoviews as hv

    page = DriftMonitoring(monitor=monitor)
    render(page)
    assert set(page.feature.options) == set(data_report(monitor)["features"])
    # The default is the most drifted feature that reads as a chart (not the address).
    assert page.feature.value != "address"

    page.feature.value = "area"
    dist = monitor.distribution("area")
    histograms = [
        e for e in page.distribution_body.objects[0].object if isinstance(e, hv.Histogram)
    ]
    assert [h.label for h in histograms] == ["reference", "production"]
    total = sum(dist["production"])
    assert list(histograms[1].dimension_values("share")) == pytest.approx(
        [c / total for c in dist["production"]]
    )

    page.feature.value = "district"
    bars = page.distribution_body.objects[0].object.dframe()
    assert "harbour" in set(bars["value"])  # only in production


def test_high_cardinality_shares_are_of_all_rows(monitor):
    page = DriftMonitoring(monitor=monitor)
    render(page)
    page.feature.value = "address"
    assert_top_value_shares(page.distribution_body.objects[0].object, monitor, "address")


def test_heatmap_is_psi_per_feature_and_bucket(monitor):
    page = DriftMonitoring(monitor=monitor)
    render(page)
    over_time = monitor.drift_over_time()
    heat = page.heatmap_body.objects[0].object.dframe()
    assert set(heat["feature"]) == set(over_time["features"])
    assert len(heat) == len(over_time["features"]) * len(over_time["buckets"])
    rows = {b["rows"] for b in over_time["buckets"]}
    assert min(rows) >= MIN_BUCKET_ROWS or heat["psi"].isna().any()
    area = heat[heat["feature"] == "area"]["psi"].tolist()
    expected = [
        p if b["rows"] >= MIN_BUCKET_ROWS else math.nan
        for b, p in zip(over_time["buckets"], over_time["features"]["area"], strict=True)
    ]
    assert area == pytest.approx(expected, nan_ok=True)


def test_a_heatmap_selection_sets_the_window(monitor):
    page = DriftMonitoring(monitor=monitor)
    render(page)
    over_time = monitor.drift_over_time()
    width = bucket_width(over_time["width"])
    starts = [b["start"] for b in over_time["buckets"]]
    before = page.drift_table.value.set_index("Feature")["PSI"].to_dict()

    page.heatmap_stream.event(boundsx=(starts[-4], starts[-1] + width / 3))

    assert (monitor.start, monitor.end) == (starts[-4], starts[-1] + width)
    after = page.drift_table.value.set_index("Feature")["PSI"].to_dict()
    assert after != before
    assert after["area"] == pytest.approx(data_report(monitor)["features"]["area"]["psi"])


def test_no_production_data_is_an_explained_empty_state(tmp_path):
    config = make_world(tmp_path)
    drop_production(tmp_path)
    text = shown_text(render(DriftMonitoring(monitor=monitor_on(config))))
    assert "No production data yet." in text
    assert "see README" in text


def test_a_category_named_like_a_script_is_text(tmp_path):
    page = DriftMonitoring(monitor=monitor_on(xss_world(tmp_path)))
    layout = render(page)
    page.feature.value = "district"
    assert XSS not in shown_text(layout)
    bars = page.distribution_body.objects[0].object.dframe()
    assert XSS in set(bars["value"])  # drawn by Bokeh, which renders it as text


# -- static export ------------------------------------------------------------------------------


def test_static_page_compares_the_features_feature_statistics_details(monitor):
    from app.pages.features import FeatureStatistics

    page = DriftMonitoring(monitor=monitor, static=True)
    render(page)
    detailed = FeatureStatistics(monitor=monitor, static=True)
    render(detailed)
    names = list(detailed.details)
    assert list(page.comparisons) == names == page.feature.options
    assert set(names) == set(data_report(monitor)["features"])
    shown = [name for name, view in page.comparisons.items() if view.visible]
    assert shown == [page.feature.value] and page.feature.value != "address"
    # The browser switches the comparisons on its own: the feature list carries the code.
    code = page._browser_callback
    assert code.args["select"] is page.feature and code.args["names"] == names
    assert [code.args[f"view_{i}"] for i in range(len(names))] == list(page.comparisons.values())

    page.feature.value = "district"
    assert [name for name, view in page.comparisons.items() if view.visible] == ["district"]


def test_static_comparisons_equal_the_live_page(world):
    import holoviews as hv
    import pandas as pd

    config, engine = world
    live = DriftMonitoring(monitor=Monitor(config, engine=engine))
    render(live)
    static = DriftMonitoring(monitor=Monitor(config, engine=engine), static=True)
    render(static)

    def chart_frames(layout) -> list:
        return [
            element.dframe()
            for pane in layout.select(pn.pane.HoloViews)
            for element in pane.object.traverse(lambda e: e, [hv.Element])
        ]

    drawn = 0
    for name, view in static.comparisons.items():
        live.feature.value = name
        assert shown_text(view) == shown_text(live.distribution_body), name
        ours, theirs = chart_frames(view), chart_frames(live.distribution_body)
        assert len(ours) == len(theirs), name
        for mine, other in zip(ours, theirs, strict=True):
            pd.testing.assert_frame_equal(mine, other)
        drawn += len(ours)
    assert drawn >= len(static.comparisons)


def test_static_page_holds_the_most_drifted_features_and_says_so(monitor, monkeypatch):
    from app.pages import features

    monkeypatch.setattr(features, "EXPORT_FEATURES", 2)
    page = DriftMonitoring(monitor=monitor, static=True)
    layout = render(page)
    total = len(data_report(monitor)["features"])
    assert list(page.comparisons) == page._order[:2] == page.feature.options
    assert f"distributions of the 2 most drifted of the {total} features" in shown_text(layout)


def test_static_page_leaves_out_the_window_controls(monitor):
    live, static = DriftMonitoring(monitor=monitor), DriftMonitoring(monitor=monitor, static=True)
    assert "Drag across the time axis" in shown_text(render(live))
    assert live.reset_button in render(live).select(pn.widgets.Button)
    layout = render(static)
    assert "Drag across" not in shown_text(layout)
    assert not layout.select(pn.widgets.Button)
