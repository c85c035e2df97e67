"""The Production Data page: freshness from the report's status, rows paged from DuckDB on demand,
and the distribution explorer."""

from __future__ import annotations

import html
from datetime import timedelta

import pandas as pd
import pyarrow.parquet as pq

from app import theme
from app.pages.base import data_report
from app.pages.drifted_features import drift_order
from app.pages.production import EXPORT_ROWS, PAGE_SIZE, PagedTabulator, ProductionData
from tests.page_helpers import (
    XSS,
    assert_top_value_shares,
    chart_frames,
    drop_production,
    export_at_most,
    monitor_on,
    render,
    rows_in_last,
    shown_chart,
    shown_text,
    xss_world,
)
from tests.worlds import make_world


class PageSpy:
    """Wraps ``Monitor.production_rows`` and records every (offset, limit) asked for."""

    def __init__(self, monitor):
        self.calls: list[tuple[int, int]] = []
        self._inner = monitor.production_rows
        monitor.production_rows = self

    def __call__(self, offset: int = 0, limit: int = 50):
        self.calls.append((offset, limit))
        return self._inner(offset, limit)


def test_row_counts_and_freshness_equal_the_report(monitor):
    page = ProductionData(monitor=monitor)
    layout = render(page)
    report = data_report(monitor)
    status = {s["component"]: s for s in report["status"]}
    for role in ("reference", "inputs", "predictions"):
        card = page.count_cards[role]
        assert card.value == status[role]["rows"]
        assert card.text == theme.format_count(status[role]["rows"])
    newest = theme.format_timestamp(status["inputs"]["newest"])
    assert f"newest {newest}" in page.count_cards["inputs"].caption
    assert (
        theme.format_duration(status["inputs"]["age_seconds"]) in page.count_cards["inputs"].caption
    )
    assert page.count_cards["labels"].value is None
    assert page.count_cards["labels"].caption == "optional, none yet"
    # The rows of the monitoring window (the last 7 days), where every file's card counts all.
    week = rows_in_last(monitor.config, timedelta(days=7))
    assert page.count_cards["window"].value == report["rows"]["inputs"] == week < 5000
    assert page.count_cards["inputs"].value == 5000
    assert status["labels"]["message"] in shown_text(layout)


def test_rows_are_paged_from_duckdb(monitor):
    monitor.all_rows()
    spy = PageSpy(monitor)
    page = ProductionData(monitor=monitor)
    render(page)
    table = page.table
    assert isinstance(table, PagedTabulator)
    assert table.pagination == "remote"
    assert table.total == monitor.engine.window_rows(monitor.window)["inputs"] == 5000
    assert table.param.page.bounds == (1, 5000 // PAGE_SIZE)
    assert spy.calls == [(0, PAGE_SIZE)]
    assert len(table.value) == PAGE_SIZE
    assert table.value["request_id"].iloc[0] == "r4999"  # newest first

    table.page = 3
    assert spy.calls[-1] == (2 * PAGE_SIZE, PAGE_SIZE)
    assert table.value.index[0] == 2 * PAGE_SIZE
    assert table.value["request_id"].iloc[0] == f"r{4999 - 2 * PAGE_SIZE}"
    # Time, id and prediction come first; the rest follow as logged.
    assert list(table.value.columns[:3]) == ["timestamp", "request_id", "prediction"]
    data, _ = table._get_data()
    assert len(data) == PAGE_SIZE  # the browser receives one page, never the window


def test_the_table_opens_on_the_monitoring_window(monitor):
    page = ProductionData(monitor=monitor)
    render(page)
    assert page.table.total == rows_in_last(monitor.config, timedelta(days=7)) < 5000
    assert page.table.value["request_id"].iloc[0] == "r4999"  # newest first


def test_the_window_resets_the_pages(monitor):
    page = ProductionData(monitor=monitor)
    render(page)
    page.table.page = 4
    first, _ = monitor.full_range()
    monitor.set_window(first, first + timedelta(days=2))
    rows = monitor.engine.window_rows(monitor.window)["inputs"]
    assert 0 < rows < 5000
    assert page.table.total == rows and page.table.page == 1
    assert page.count_cards["window"].value == rows


def test_a_window_without_rows_says_so(monitor):
    first, _ = monitor.full_range()
    monitor.set_window(first - timedelta(days=9), first - timedelta(days=8))
    page = ProductionData(monitor=monitor)
    text = shown_text(render(page))
    assert page.table is None
    assert "No production rows in this time window." in text
    assert "press “All rows” to see every row" in text


def test_distribution_explorer_follows_the_selected_feature(monitor):
    page = ProductionData(monitor=monitor)
    render(page)
    report = data_report(monitor)
    assert set(page.feature.options.values()) == set(report["features"])
    assert page.feature.value == next(iter(report["features"]))

    page.feature.value = "district"
    psi = page.distribution.objects[0].objects[0]
    assert (
        "PSI" in psi.object
        and theme.format_metric(report["features"]["district"]["psi"]) in psi.object
    )
    assert "harbour" in set(shown_chart(page.distribution)["value"])

    page.feature.value = "address"
    text = shown_text(page.distribution)
    ratio = report["features"]["address"]["cardinality"]["ratio"]
    assert "Cardinality ratio" in text and theme.format_ratio(ratio) in text


def test_no_production_data_is_an_explained_empty_state(tmp_path):
    config = make_world(tmp_path)
    drop_production(tmp_path)
    page = ProductionData(monitor=monitor_on(config))
    text = shown_text(render(page))
    assert "No production data yet." in text
    assert "data/production/inputs.parquet" in text
    assert page.table is None


def test_a_category_named_like_a_script_is_text(tmp_path):
    monitor = monitor_on(xss_world(tmp_path))
    page = ProductionData(monitor=monitor)
    render(page)
    page.feature.value = "district"
    text = shown_text(page.__panel__())
    assert XSS not in text
    # Tabulator cells get the raw value and Tabulator writes it as text (never as HTML).
    assert XSS in set(page.table.value["district"])  # the newest rows, on the first page
    assert html.escape(XSS) not in set(page.table.value["district"])
    # Bokeh draws axis labels as text.
    assert XSS in set(shown_chart(page.distribution)["value"])


def test_static_page_holds_the_newest_rows_and_pages_them_in_the_browser(monitor):
    spy = PageSpy(monitor)
    page = ProductionData(monitor=monitor, static=True)
    layout = render(page)
    table = page.table
    assert not isinstance(table, PagedTabulator)
    assert table.pagination == "local" and table.page_size == PAGE_SIZE
    # One query with the export's limit: never the whole window (5000 rows).
    assert spy.calls == [(0, EXPORT_ROWS)]
    data, _ = table._get_data()
    assert len(table.value) == len(data) == EXPORT_ROWS
    assert "This file holds the 500 most recent of them" in shown_text(layout)

    # The rows equal the live page's first pages.
    live = ProductionData(monitor=monitor)
    render(live)
    pages = []
    for number in range(1, EXPORT_ROWS // PAGE_SIZE + 1):
        live.table.page = number
        pages.append(live.table.value)
    pd.testing.assert_frame_equal(table.value, pd.concat(pages))


def test_static_page_with_few_rows_holds_them_all(monitor):
    first, _ = monitor.full_range()
    monitor.set_window(first, first + timedelta(hours=10))
    page = ProductionData(monitor=monitor, static=True)
    text = shown_text(render(page))
    rows = monitor.engine.window_rows(monitor.window)["inputs"]
    assert 0 < rows < EXPORT_ROWS
    assert len(page.table.value) == rows
    assert "This file holds" not in text


def test_static_explorer_holds_every_distribution_and_shows_the_picked_one(monitor):
    page = ProductionData(monitor=monitor, static=True)
    render(page)
    live = ProductionData(monitor=monitor)
    render(live)
    assert page.feature.options == live.feature.options
    assert list(page.explorer_views) == list(page.feature.options.values())
    shown = [name for name, view in page.explorer_views.items() if view.visible]
    assert shown == [page.feature.value]
    callback = page._explorer_callback
    assert callback.source is page.feature
    # The browser's select holds the feature names (labels add the kind).
    assert callback.args["names"] == list(page.explorer_views)

    # Each view is what the live page draws once that feature is picked.
    for name, view in page.explorer_views.items():
        live.feature.value = name
        assert shown_text(view) == shown_text(live.distribution), name
        ours, theirs = chart_frames(view), chart_frames(live.distribution)
        assert len(ours) == len(theirs), name
        for a, b in zip(ours, theirs, strict=True):
            pd.testing.assert_frame_equal(a, b)

    page.feature.value = "district"
    assert [name for name, view in page.explorer_views.items() if view.visible] == ["district"]


def test_static_explorer_holds_the_most_drifted_features_and_says_so(monitor, monkeypatch):
    export_at_most(monkeypatch, 2)
    page = ProductionData(monitor=monitor, static=True)
    text = shown_text(render(page))
    report = data_report(monitor)
    most_drifted = drift_order(report.features)[:2]
    assert sorted(page.feature.options.values()) == sorted(most_drifted)
    assert len(page.explorer_views) == 2
    total = len(report["features"])
    assert f"distributions of the 2 most drifted of the {total} features" in text


def test_an_inputs_file_without_rows_says_what_is_read_not_to_widen_the_window(tmp_path):
    config = make_world(tmp_path)
    inputs = tmp_path / "data/production/inputs.parquet"
    table = pq.read_table(inputs)
    pq.write_table(table.slice(0, 0), inputs)
    page = ProductionData(monitor=monitor_on(config))
    text = shown_text(render(page))
    assert page.table is None
    assert "No production data yet." in text
    assert "inputs.parquet" in text
    assert "Widen the window" not in text


def test_high_cardinality_distribution_shares_are_of_all_rows(monitor):
    page = ProductionData(monitor=monitor)
    render(page)
    page.feature.value = "address"
    assert_top_value_shares(page.distribution, monitor, "address")
