"""The Drift Monitoring page draws the report's drift measures and sets the window from the heat map."""

from __future__ import annotations

import html
import math

import panel as pn
import pytest

from app import theme
from app.engine import Engine
from app.monitor import Monitor
from app.pages.base import data_report
from app.pages.charts import MIN_BUCKET_ROWS, bucket_width
from app.pages.drift import DriftMonitoring
from app.pages.significance import NOT_SIGNIFICANT, not_significant_text
from app.severity import severity as judge
from tests.page_helpers import (
    XSS,
    assert_top_value_shares,
    chart_frames,
    drop_production,
    export_at_most,
    monitor_on,
    render,
    shown_chart,
    shown_text,
    xss_world,
)
from tests.segment_worlds import DRIFTED, segment_world
from tests.worlds import make_world


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
    shown = dict(zip(bars["feature"], bars["psi"], strict=True))
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
    # Severity colours: district's new category makes it drift; the rooms' tiny PSI is under
    # what noise reaches at these sample sizes.
    colors = dict(zip(bars["feature"], bars["severity"], strict=True))
    assert colors["district"] == "critical"
    assert not report["features"]["rooms"]["significant"]
    assert colors["rooms"] == NOT_SIGNIFICANT


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
    page = DriftMonitoring(monitor=monitor)
    render(page)
    assert set(page.feature.options) == set(data_report(monitor)["features"])
    # The default is the most drifted feature that reads as a chart (not the address).
    assert page.feature.value != "address"

    page.feature.value = "area"
    dist = monitor.distribution("area")
    histograms = shown_chart(page.distribution_body)
    assert list(dict.fromkeys(histograms["side"])) == ["reference", "production"]
    total = sum(dist["production"])
    production = histograms[histograms["side"] == "production"]
    assert list(production["share"]) == pytest.approx([c / total for c in dist["production"]])
    assert list(production["left"]) == dist["edges"][:-1]

    page.feature.value = "district"
    bars = shown_chart(page.distribution_body)
    assert "harbour" in set(bars["value"])  # only in production


def test_high_cardinality_shares_are_of_all_rows(monitor):
    page = DriftMonitoring(monitor=monitor)
    render(page)
    page.feature.value = "address"
    assert_top_value_shares(page.distribution_body, monitor, "address")


def test_heatmap_is_psi_per_feature_and_bucket(monitor):
    page = DriftMonitoring(monitor=monitor)
    render(page)
    over_time = monitor.drift_over_time()
    heat = page.heatmap_body.objects[0].object.dframe()
    assert set(heat["feature"]) == set(over_time["features"])
    assert len(heat) == len(over_time["features"]) * len(over_time["buckets"])
    rows = {b["rows"] for b in over_time["buckets"]}
    assert min(rows) >= MIN_BUCKET_ROWS or heat["judged"].isna().any()
    area = heat[heat["feature"] == "area"]
    assert area["psi"].tolist() == pytest.approx(over_time["features"]["area"])
    # Coloured: the PSI of a bucket with enough rows whose PSI is significant; grey otherwise.
    expected = [
        p if b["rows"] >= MIN_BUCKET_ROWS and s else math.nan
        for b, p, s in zip(
            over_time["buckets"],
            over_time["features"]["area"],
            over_time["significant"]["area"],
            strict=True,
        )
    ]
    assert area["judged"].tolist() == pytest.approx(expected, nan_ok=True)


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
    bars = shown_chart(page.distribution_body)
    assert XSS in set(bars["value"])  # drawn by Bokeh, which renders it as text


# -- significance -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    """150 rows on each side: PSIs at alert levels that noise reaches at these sample sizes."""
    return monitor_on(make_world(tmp_path_factory.mktemp("small"), n_ref=150, n_prod=150))


def test_a_psi_under_its_floor_is_grey_never_an_alert_colour(small_sample):
    import holoviews as hv

    page = DriftMonitoring(monitor=small_sample)
    render(page)
    features = data_report(small_sample)["features"]
    level = small_sample.config.thresholds["psi"]
    noise = {name for name, f in features.items() if f.get("significant") is False}
    # Without its floor, a PSI of noise here would be drawn as a warning or worse.
    assert any(features[name]["psi"] >= level.warning for name in noise)
    assert "district" not in noise  # its new category is real drift

    bars = element(page.psi_body.objects[0], hv.Bars).dframe().set_index("feature")
    for name in bars.index:
        f = features[name]
        if name in noise:
            assert bars.loc[name, "color"] == theme.MISSING_COLOR, name
            assert bars.loc[name, "status"] == not_significant_text(f["psi_floor"])
            assert f"(floor {theme.format_metric(f['psi_floor'])})" in bars.loc[name, "status"]
        else:
            severity = judge(f["psi"], level)
            assert bars.loc[name, "color"] == theme.severity_color(severity), name
    assert bars.loc["district", "color"] == theme.SEVERITY_COLORS["critical"]

    table = page.drift_table.value.set_index("Feature")
    for name in table.index:
        f = features[name]
        if name in noise:
            assert table.loc[name, "Severity"] == not_significant_text(f["psi_floor"])
        else:
            assert table.loc[name, "Severity"] == judge(f["psi"], level)


def test_a_bucket_psi_under_its_floor_is_grey_on_the_heatmap(monitor):
    import holoviews as hv
    from bokeh.models import ColorMapper

    page = DriftMonitoring(monitor=monitor)
    render(page)
    over_time = monitor.drift_over_time()
    level = monitor.config.thresholds["psi"]
    heat = page.heatmap_body.objects[0].object
    frame = heat.dframe()
    greyed_alerts = 0
    for name, values in over_time["features"].items():
        cells = frame[frame["feature"] == name]
        buckets = zip(
            over_time["buckets"],
            values,
            over_time["psi_floor"][name],
            over_time["significant"][name],
            cells.itertuples(),
            strict=True,
        )
        for bucket, psi, floor, significant, cell in buckets:
            if bucket["rows"] < MIN_BUCKET_ROWS:
                assert math.isnan(cell.judged) and cell.severity.startswith("too few rows")
            elif significant is False:
                assert math.isnan(cell.judged)  # no colour of its own: the grey of NaN
                assert cell.severity == not_significant_text(floor)
                greyed_alerts += psi >= level.warning
            else:
                assert cell.judged == pytest.approx(psi)
    # Buckets of ~36 rows: noise reaches warning levels, and those cells are grey.
    assert greyed_alerts
    mappers = hv.render(heat).select(type=ColorMapper)
    assert {mapper.nan_color for mapper in mappers} == {theme.MISSING_COLOR}


# -- where did it drift ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    """The small world with district as a segment and an age drift planted inside one."""
    config = segment_world(tmp_path_factory.mktemp("segments"))
    return config, Engine(config)


def where_chart(page):
    """The ranked segments of the where-did-it-drift section (a HoloViews Bars)."""
    panes = page.where_view.select(pn.pane.HoloViews)
    assert len(panes) == 1
    return panes[0].object


def test_where_did_it_drift_names_the_segment_it_drifted_in(segmented):
    config, engine = segmented
    monitor = Monitor(config, engine=engine)
    page = DriftMonitoring(monitor=monitor)
    render(page)
    report = data_report(monitor)
    attribution = report["drift_attribution"]
    assert page.where_card.visible
    # Opens on the feature whose top segment contributes most.
    first = max(attribution, key=lambda name: attribution[name][0]["contribution"])
    assert page.where_feature.value == first
    assert set(page.where_feature.options) == set(attribution)

    page.where_feature.value = "age"
    verdict = report["attribution_verdicts"]["age"]
    assert verdict.startswith(f"age drifted mostly inside district = {DRIFTED}: PSI")
    text = shown_text(page.where_view)
    assert html.escape(verdict) in text
    assert theme.format_metric(report["mix_shift"]["district"]) in text  # the mix shift beside

    bars = where_chart(page).dframe()
    ranked = list(reversed(bars["segment"]))  # horizontal bars: the largest on top, drawn last
    assert ranked == [f"district = {e['value']}" for e in attribution["age"]]
    assert ranked[0] == f"district = {DRIFTED}"
    assert list(reversed(bars["contribution"])) == pytest.approx(
        [e["contribution"] for e in attribution["age"]]
    )
    level = config.thresholds["psi"]
    segments = report["segments"]["district"]
    top = bars.iloc[-1]
    assert top["color"] == theme.SEVERITY_COLORS["critical"]
    assert top["share"] == theme.format_share(attribution["age"][0]["production_share"])
    # A segment whose PSI is noise at its size is grey, whatever its PSI.
    noise = [e for e in attribution["age"] if not e["significant"]]
    assert noise
    for entry in noise:
        row = bars[bars["segment"] == f"district = {entry['value']}"].iloc[0]
        floor = segments[entry["value"]]["features"]["age"]["psi_floor"]
        assert row["color"] == theme.MISSING_COLOR
        assert row["status"] == not_significant_text(floor)
        # The ranked list says so too, in grey.
        assert (
            f'<span style="color: {theme.MISSING_COLOR}" '
            f'title="{html.escape(not_significant_text(floor))}">'
            f"{theme.format_metric(entry['psi'])}</span>"
        ) in text
    for entry in attribution["age"]:
        if entry["significant"]:
            row = bars[bars["segment"] == f"district = {entry['value']}"].iloc[0]
            severity = judge(entry["psi"], level)
            assert row["color"] == theme.severity_color(severity)


def test_where_did_it_drift_is_absent_without_segments(monitor):
    page = DriftMonitoring(monitor=monitor)
    layout = render(page)
    assert not data_report(monitor)["segments"]
    assert not any(section is page.where_card for section in layout.objects)
    assert "drifted mostly inside" not in shown_text(layout)


def test_segment_values_like_a_script_are_text(tmp_path):
    monitor = monitor_on(segment_world(tmp_path, drifted=XSS))
    page = DriftMonitoring(monitor=monitor)
    layout = render(page)
    page.where_feature.value = "age"
    verdict = data_report(monitor)["attribution_verdicts"]["age"]
    assert XSS in verdict
    text = shown_text(layout)
    assert XSS not in text
    assert html.escape(verdict) in text
    # Drawn by Bokeh, which renders a category as text.
    assert f"district = {XSS}" in set(where_chart(page).dframe()["segment"])


def test_static_page_holds_every_features_attribution(segmented):
    config, engine = segmented
    page = DriftMonitoring(monitor=Monitor(config, engine=engine), static=True)
    render(page)
    report = data_report(page.monitor)
    names = list(page.where_views)
    assert names == page.where_feature.options and set(names) == set(report["drift_attribution"])
    shown = [name for name, view in page.where_views.items() if view.visible]
    assert shown == [page.where_feature.value]
    code = page._where_callback
    assert code.args["select"] is page.where_feature and code.args["names"] == names
    page.where_feature.value = "age"
    view = page.where_views["age"]
    assert view.visible and html.escape(report["attribution_verdicts"]["age"]) in shown_text(view)


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


def test_static_comparisons_equal_the_live_page(page_world, page_engine):
    import pandas as pd

    config, engine = page_world, page_engine
    live = DriftMonitoring(monitor=Monitor(config, engine=engine))
    render(live)
    static = DriftMonitoring(monitor=Monitor(config, engine=engine), static=True)
    render(static)

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
    export_at_most(monkeypatch, 2)
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
