"""Segments in a real browser, on the demo world (district is a segment; building_age drifted
inside Kadikoy alone): the Drift page says where a feature drifted, and Feature Statistics shows
the numbers of one district when it is chosen."""

from __future__ import annotations

import dataclasses
import re

import pytest
from playwright.sync_api import expect

from app import theme
from app.monitor import Monitor
from app.pages.base import data_report
from tests.ui.helpers import wait_for_drawn, wait_until_loaded

pytestmark = pytest.mark.ui

SEGMENT = ("district", "Kadikoy")


@pytest.fixture(scope="module")
def demo_monitor(demo_world):
    """A Monitor on the demo world the server serves, on the window the dashboard opens on."""
    return Monitor.from_config(demo_world)


def test_the_drift_page_says_where_a_feature_drifted(page, server_url, wait_for_page, demo_monitor):
    report = data_report(demo_monitor)
    verdicts = report["attribution_verdicts"]
    attribution = report["drift_attribution"]
    first = max(attribution, key=lambda name: attribution[name][0]["contribution"])
    assert verdicts["building_age"].startswith(
        "building_age drifted mostly inside district = Kadikoy"
    )

    page.goto(f"{server_url}?page=drift")
    wait_for_page(page, "drift")
    wait_until_loaded(page)
    shown = page.locator(".driftdeck-page-drift")
    where = shown.locator(".card").filter(has_text="Where did it drift")
    expect(where.get_by_text(verdicts[first], exact=True)).to_be_visible()
    before = wait_for_drawn(page, 5)

    where.get_by_label("Feature").select_option("building_age")
    expect(where.get_by_text(verdicts["building_age"], exact=True)).to_be_visible()
    expect(where.get_by_text(verdicts[first], exact=True)).to_have_count(0)
    # The ranked segments and the mix shift beside them.
    expect(where.get_by_text("Mix shift", exact=True)).to_be_visible()
    mix = theme.format_metric(report["mix_shift"]["district"])
    expect(where.locator("td").filter(has_text=re.compile(rf"^{re.escape(mix)}$"))).to_be_visible()
    wait_for_drawn(page, before)


def test_feature_statistics_shows_one_segments_numbers(
    page, server_url, wait_for_page, demo_monitor
):
    engine = demo_monitor.engine
    window = demo_monitor.window
    whole = engine.production_profile(window)["building_age"]["mean"]
    inside = engine.production_profile(dataclasses.replace(window, segment=SEGMENT))
    expected = theme.format_number(inside["building_age"]["mean"])
    assert expected != theme.format_number(whole)

    page.goto(f"{server_url}?page=features")
    wait_for_page(page, "features")
    wait_until_loaded(page)
    shown = page.locator(".driftdeck-page-features")
    row = shown.locator(".tabulator-row").filter(has_text="building_age")
    mean = row.locator('[tabulator-field="mean_prod"]')
    expect(mean).to_have_text(theme.format_number(whole))

    shown.get_by_label("Segment").select_option(label="district = Kadikoy")
    expect(mean).to_have_text(expected)
    wait_until_loaded(page)

    shown.get_by_label("Segment").select_option(label="All rows")
    expect(mean).to_have_text(theme.format_number(whole))
