"""The Feature Statistics page: one table row per feature with the report's numbers, and details."""

from __future__ import annotations

import dataclasses
import html
import math
from datetime import timedelta

import pandas as pd
import panel as pn
import pytest

from app import theme
from app.engine import Engine
from app.monitor import Monitor
from app.pages.base import data_report
from app.pages.features import FeatureStatistics
from app.pages.significance import not_significant_text
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
from tests.segment_worlds import DRIFTED, EARLY, segment_world
from tests.worlds import make_world


def test_one_row_per_feature_with_the_reports_numbers(monitor):
    page = FeatureStatistics(monitor=monitor)
    render(page)
    report = data_report(monitor)
    frame = page.table.value.set_index("feature")
    assert set(frame.index) == set(report["features"])
    for name, f in report["features"].items():
        row = frame.loc[name]
        assert row["type"] == f["kind"].replace("_", " ")
        psi = f["psi"] if f["psi"] is not None else math.nan
        assert row["psi"] == pytest.approx(psi, nan_ok=True)
        ref, prod = f["summary"]["reference"], f["summary"]["production"]
        assert row["missing_ref"] == theme.format_share(ref["missing_share"])
        assert row["distinct_prod"] == theme.format_count(prod["distinct"])
        if f["kind"] == "numerical":
            assert row["test"] == "KS"
            assert row["statistic"] == pytest.approx(f["ks"]["statistic"])
            assert row["pvalue"] == theme.format_pvalue(f["ks"]["pvalue"])
            assert row["mean_prod"] == theme.format_number(prod["mean"])
        elif f["kind"] == "categorical":
            assert row["test"] == "χ²"
            assert row["statistic"] == pytest.approx(f["chi2"]["statistic"])
    # Drift status follows the alerts: the new district and the address flood.
    critical = {a["feature"] for a in report["alerts"] if a["severity"] == "critical"}
    for name in critical & set(frame.index):
        if any(
            a["metric"] in ("psi", "cardinality_ratio")
            for a in report["alerts"]
            if a["feature"] == name
        ):
            assert frame.loc[name, "drift"] == "critical"
    # The rooms' tiny PSI is under what noise reaches at these sample sizes: neither ok nor drift.
    rooms = report["features"]["rooms"]
    assert rooms["significant"] is False
    assert frame.loc["rooms", "drift"] == not_significant_text(rooms["psi_floor"])


def test_selecting_a_row_shows_its_details(monitor):
    page = FeatureStatistics(monitor=monitor)
    layout = render(page)
    frame = page.table.value
    row = frame.index[frame["feature"] == "area"][0]
    page.table.selection = [int(row)]
    assert page.feature.value == "area"

    dist = monitor.distribution("area")
    ecdf = shown_chart(page.ecdf_body)
    assert list(dict.fromkeys(ecdf["side"])) == ["reference", "production"]
    values = list(ecdf.loc[ecdf["side"] == "production", "F"])
    assert values[0] == 0 and values[-1] == pytest.approx(1.0)
    assert len(values) == len(dist["edges"])
    summary = data_report(monitor)["features"]["area"]["summary"]
    text = shown_text(layout)
    assert theme.format_number(summary["production"]["median"]) in text
    assert "Missing share" in text


def test_high_cardinality_distribution_shares_are_of_all_rows(monitor):
    page = FeatureStatistics(monitor=monitor)
    render(page)
    page.feature.value = "address"
    assert_top_value_shares(page.distribution_body, monitor, "address")


def test_new_categories_and_quality_findings(monitor):
    page = FeatureStatistics(monitor=monitor)
    layout = render(page)
    page.feature.value = "district"
    text = shown_text(layout)
    unseen = data_report(monitor)["features"]["district"]["summary"]["production"]["unseen"]
    assert [u["value"] for u in unseen] == ["harbour"]
    assert "harbour" in text
    assert theme.format_share(unseen[0]["share"]) in text
    assert "Unseen categories" in text


def test_the_window_changes_the_table(monitor):
    page = FeatureStatistics(monitor=monitor)
    render(page)
    before = page.table.value.set_index("feature")["distinct_prod"].to_dict()
    first, _ = monitor.full_range()
    monitor.set_window(first, first + timedelta(days=2))
    after = page.table.value.set_index("feature")["distinct_prod"].to_dict()
    report = data_report(monitor)
    assert after != before
    assert after["address"] == theme.format_count(
        report["features"]["address"]["summary"]["production"]["distinct"]
    )


def test_no_production_data_is_an_explained_empty_state(tmp_path):
    config = make_world(tmp_path)
    drop_production(tmp_path)
    page = FeatureStatistics(monitor=monitor_on(config))
    text = shown_text(render(page))
    assert "No production data yet." in text
    # The reference side is still shown.
    assert set(page.table.value["feature"]) >= {"area", "district"}


def test_a_category_named_like_a_script_is_text(tmp_path):
    page = FeatureStatistics(monitor=monitor_on(xss_world(tmp_path)))
    layout = render(page)
    page.feature.value = "district"
    text = shown_text(layout)
    assert XSS not in text
    assert html.escape(XSS) in text  # the new category, shown as its characters


def test_schema_differences_are_listed(tmp_path):
    import pyarrow.parquet as pq

    from tests.worlds import write

    config = make_world(tmp_path)
    inputs = tmp_path / "data/production/inputs.parquet"
    frame = pq.read_table(inputs).to_pandas()
    frame["channel"] = "web"
    write(inputs, frame.drop(columns=["rooms"]))
    page = FeatureStatistics(monitor=monitor_on(config))
    text = shown_text(render(page))
    assert "Schema differences" in text
    assert "only in production: channel" in text
    assert "only in the reference: rooms" in text
    page.feature.value = "rooms"
    assert "only in the reference (not in production inputs)" in shown_text(page.__panel__())


# -- significance ---------------------------------------------------------------------------------


def cell_styles(table: pn.widgets.Tabulator) -> dict[tuple[str, str], str]:
    """The CSS of each styled cell of a table, by (feature, column)."""
    frame = table.value
    computed = table.style._compute().ctx  # what Panel sends the browser
    return {
        (frame["feature"].iloc[row], frame.columns[col]): "; ".join(f"{k}: {v}" for k, v in css)
        for (row, col), css in computed.items()
    }


def test_a_psi_under_its_floor_is_grey_with_its_floor(tmp_path):
    monitor = monitor_on(make_world(tmp_path, n_ref=150, n_prod=150))
    page = FeatureStatistics(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    level = monitor.config.thresholds["psi"]
    noise = {n for n, f in report["features"].items() if f.get("significant") is False}
    assert any(report["features"][n]["psi"] >= level.warning for n in noise)
    frame = page.table.value.set_index("feature")
    styles = cell_styles(page.table)
    grey = f"color: {theme.MISSING_COLOR}"
    for name in noise:
        floor = report["features"][name]["psi_floor"]
        assert frame.loc[name, "drift"] == not_significant_text(floor)
        assert styles[(name, "drift")] == grey
        assert styles[(name, "psi")] == grey
    assert frame.loc["district", "drift"] == "critical"
    assert ("district", "psi") not in styles
    assert theme.SEVERITY_COLORS["critical"] in styles[("district", "drift")]

    # The detail's PSI card: grey, and says why.
    page.feature.value = next(n for n in sorted(noise) if report["features"][n]["psi"] >= 0.1)
    f = report["features"][page.feature.value]
    text = shown_text(layout)
    assert html.escape(not_significant_text(f["psi_floor"])) in text
    assert f"--kpi-color: {theme.MISSING_COLOR}" in text


# -- one segment's rows ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def segmented(tmp_path_factory):
    config = segment_world(tmp_path_factory.mktemp("segments"))
    return config, Engine(config)


def test_the_segment_choice_shows_that_segments_numbers(segmented):
    from app.report import full_report

    config, engine = segmented
    monitor = Monitor(config, engine=engine)
    page = FeatureStatistics(monitor=monitor)
    render(page)
    report = data_report(monitor)
    assert page.segment_row.visible
    labels = list(page.segment.options)
    values = set(report["segments"]["district"]) - {"(other)"}
    assert labels == ["All rows", *(f"district = {v}" for v in report["segments"]["district"])]
    assert {v for _, v in filter(None, page.segment.options.values())} == values
    whole = page.table.value.set_index("feature")

    segment = ("district", DRIFTED)
    page.segment.value = segment
    window = dataclasses.replace(monitor.window, segment=segment)
    inside = full_report(engine, window, config, mlflow=False)["features"]["age"]
    shown = page.table.value.set_index("feature")
    assert shown.loc["age", "psi"] == pytest.approx(inside["psi"])
    assert shown.loc["age", "psi"] != pytest.approx(whole.loc["age", "psi"])
    profile = engine.production_profile(window)["age"]
    assert shown.loc["age", "mean_prod"] == theme.format_number(profile["mean"])
    assert shown.loc["age", "mean_prod"] != whole.loc["age", "mean_prod"]
    # The reference side too (the age of the reference holds infinities: no mean).
    reference = engine.reference_profile(segment)["area"]
    assert shown.loc["area", "mean_ref"] == theme.format_number(reference["mean"])
    assert shown.loc["area", "mean_ref"] != whole.loc["area", "mean_ref"]

    # The detail's charts are of the segment's rows too.
    page.feature.value = "age"
    dist = engine.distribution("age", window)
    assert dist != engine.distribution("age", monitor.window)
    ecdf = shown_chart(page.ecdf_body)
    total = sum(dist["production"])
    expected = [
        0.0,
        *(sum(dist["production"][: i + 1]) / total for i in range(len(dist["production"]))),
    ]
    assert list(ecdf.loc[ecdf["side"] == "production", "F"]) == pytest.approx(expected)
    # The page's own choice: the Monitor (and every other page) still shows all rows.
    assert monitor.window.segment is None

    page.segment.value = None
    assert page.table.value.set_index("feature")["psi"].to_dict() == pytest.approx(
        whole["psi"].to_dict(), nan_ok=True
    )


def test_the_segment_choice_resets_when_the_window_loses_it(segmented):
    config, engine = segmented
    monitor = Monitor(config, engine=engine)
    page = FeatureStatistics(monitor=monitor)
    render(page)
    assert f"district = {EARLY}" not in page.segment.options  # only in the first days
    monitor.all_rows()
    assert f"district = {EARLY}" in page.segment.options
    page.segment.value = ("district", EARLY)
    early = dataclasses.replace(monitor.window, segment=("district", EARLY))
    mean = engine.production_profile(early)["area"]["mean"]
    assert page.table.value.set_index("feature").loc["area", "mean_prod"] == theme.format_number(
        mean
    )

    monitor.reset_window()
    assert page.segment.value is None
    assert f"district = {EARLY}" not in page.segment.options
    report = data_report(monitor)
    shown = page.table.value.set_index("feature")
    assert shown.loc["age", "psi"] == pytest.approx(report["features"]["age"]["psi"])


def test_no_segment_choice_without_segments(monitor):
    page = FeatureStatistics(monitor=monitor)
    layout = render(page)
    assert not layout.select(lambda o: o is page.segment_row)
    assert not any("Segment" == w.label for w in layout.select(pn.widgets.Select))


def test_the_pooled_rest_is_not_a_segment_to_choose():
    from app.pages.segments import segment_choices
    from app.report_types import Report

    report = Report(segments={"city": {"a": {}, "(missing)": {}, "(other)": {}}, "tier": {"x": {}}})
    assert segment_choices(report) == {
        "All rows": None,
        "city = a": ("city", "a"),
        "city = (missing)": ("city", "(missing)"),
        "tier = x": ("tier", "x"),
    }


# -- static export ------------------------------------------------------------------------------


def test_static_page_draws_every_detail_and_shows_the_chosen_one(monitor):
    page = FeatureStatistics(monitor=monitor, static=True)
    render(page)
    report = data_report(monitor)
    table_order = list(page.table.value["feature"])
    assert list(page.details) == table_order and set(table_order) == set(report["features"])
    assert page.feature.options == table_order
    shown = [name for name, view in page.details.items() if view.visible]
    assert shown == [page.feature.value]
    # The browser switches views on its own: the feature list and the table rows carry the code.
    assert page.feature.jscallback and page._browser_callbacks
    value_code = page._browser_callbacks[0]
    assert value_code.args["names"] == table_order
    assert [value_code.args[f"view_{i}"] for i in range(len(table_order))] == list(
        page.details.values()
    )
    row_code = page._browser_callbacks[1]
    assert row_code.source is page.table and "source.selected.indices" in row_code.code
    assert row_code.args["rows"] == table_order

    page.table.selection = [table_order.index("district")]
    assert [name for name, view in page.details.items() if view.visible] == ["district"]


def test_static_details_equal_the_live_page(page_world, page_engine):
    config, engine = page_world, page_engine
    live = FeatureStatistics(monitor=Monitor(config, engine=engine))
    render(live)
    static = FeatureStatistics(monitor=Monitor(config, engine=engine), static=True)
    render(static)
    drawn = 0
    for name, view in static.details.items():
        live.feature.value = name
        live_detail = pn.Column(*live.detail_body.objects[1:])
        assert shown_text(view) == shown_text(live_detail), name
        live_charts, static_charts = chart_frames(live_detail), chart_frames(view)
        assert len(static_charts) == len(live_charts), name
        for ours, theirs in zip(static_charts, live_charts, strict=True):
            pd.testing.assert_frame_equal(ours, theirs)
        drawn += len(static_charts)
    assert drawn >= len(static.details)


def test_static_page_holds_the_most_drifted_features_and_says_so(monitor, monkeypatch):
    export_at_most(monkeypatch, 2)
    page = FeatureStatistics(monitor=monitor, static=True)
    layout = render(page)
    table_order = list(page.table.value["feature"])
    assert list(page.details) == table_order[:2] == page.feature.options
    total = len(table_order)
    assert f"details of the 2 most drifted of the {total} features" in shown_text(layout)
