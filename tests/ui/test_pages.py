"""Every page in a real browser: no console errors, plots drawn, and the time window set by
dragging across the Overview timeline (script in the data: tests/ui/test_xss.py)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.pages import PAGES
from benchmarks.harness import MIN_PLOTS  # plots each page draws on the demo world
from tests.ui.helpers import (
    kpi_value,
    wait_for_drawn,
    wait_until_loaded,
)

pytestmark = pytest.mark.ui


def test_every_page_has_a_plot_count():
    assert set(MIN_PLOTS) == set(PAGES)


@pytest.mark.parametrize("slug", list(PAGES))
def test_page_loads_cleanly_and_draws_its_plots(page, server_url, wait_for_page, slug):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server_url}?page={slug}")
    wait_for_page(page, slug)
    wait_until_loaded(page)
    wait_for_drawn(page, MIN_PLOTS[slug])
    expect(page.get_by_text("could not be computed")).to_have_count(0)
    expect(page.get_by_text("could not be drawn")).to_have_count(0)
    assert not dialogs
    # (the page fixture fails the test on any console error or external request)


def _timeline_box(page):
    """The predictions timeline: the top-most wide canvas of the Overview."""
    page.get_by_text("Predictions over time", exact=True).first.scroll_into_view_if_needed()
    boxes = []
    canvases = page.locator(".driftdeck-page-overview canvas")
    for i in range(canvases.count()):
        box = canvases.nth(i).bounding_box()
        if box and box["width"] > 600 and box["height"] > 100:
            boxes.append(box)
    assert boxes, "no timeline canvas on the Overview"
    return min(boxes, key=lambda box: box["y"])


def test_dragging_across_the_timeline_sets_the_window(page, server_url, wait_for_page):
    page.goto(f"{server_url}?page=overview")
    wait_for_page(page, "overview")
    wait_until_loaded(page)
    wait_for_drawn(page, MIN_PLOTS["overview"])
    predictions = kpi_value(page, "Predictions")
    expect(predictions).to_have_text(re.compile(r"\d"))
    week = predictions.inner_text()
    sidebar = page.locator("#sidebar")
    # The dashboard opens on the monitoring window: the last 7 days up to the newest row.
    expect(sidebar.get_by_text(re.compile(r"^Last 7d \("))).to_be_visible()
    expect(page.get_by_text(re.compile("^in the last 7d")).first).to_be_visible()
    reset = sidebar.get_by_role("button", name="Reset time window")
    all_rows = sidebar.get_by_role("button", name="All rows")
    expect(reset).to_be_disabled()
    expect(all_rows).to_be_enabled()

    # The timeline shows every row: a drag over its first half picks days before the last week.
    box = _timeline_box(page)
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=12)
    page.mouse.up()

    expect(sidebar.get_by_text(re.compile(r"^\d{4}-\d\d-\d\d.*→"))).to_be_visible(timeout=60_000)
    expect(sidebar.get_by_text(re.compile("^Last 7d"))).to_have_count(0)
    expect(predictions).not_to_have_text(week, timeout=60_000)
    expect(predictions).to_have_text(re.compile(r"\d"))
    expect(page.get_by_text("in the selected window").first).to_be_visible()
    expect(reset).to_be_enabled()
    windowed = predictions.inner_text()

    # The window is in the URL: a reload (or the link shared) shows the same window.
    expect(page).to_have_url(re.compile(r"page=overview.*start=.*end="))
    page.goto(page.url)
    wait_for_page(page, "overview")
    wait_until_loaded(page)
    predictions = kpi_value(page, "Predictions")
    expect(sidebar.get_by_text(re.compile(r"^\d{4}-\d\d-\d\d.*→"))).to_be_visible(timeout=60_000)
    expect(predictions).to_have_text(windowed, timeout=60_000)

    # Every row: the URL says so, and a reload keeps it.
    all_rows.click()
    expect(sidebar.get_by_text("All production rows")).to_be_visible(timeout=60_000)
    expect(all_rows).to_be_disabled()
    expect(page).to_have_url(re.compile(r"window=all"))
    expect(page).not_to_have_url(re.compile("start="))
    expect(page.get_by_text(re.compile("^all production rows")).first).to_be_visible()
    everything = predictions.inner_text()
    assert int(everything.replace(",", "")) > int(week.replace(",", ""))
    page.goto(page.url)
    wait_for_page(page, "overview")
    wait_until_loaded(page)
    predictions = kpi_value(page, "Predictions")
    expect(sidebar.get_by_text("All production rows")).to_be_visible(timeout=60_000)
    expect(predictions).to_have_text(everything, timeout=60_000)

    # Reset: the monitoring window again, and nothing in the URL (a shared link trails the newest row).
    reset.click()
    expect(sidebar.get_by_text(re.compile(r"^Last 7d \("))).to_be_visible(timeout=60_000)
    expect(predictions).to_have_text(week, timeout=60_000)
    expect(reset).to_be_disabled()
    expect(page).not_to_have_url(re.compile("start=|window="))
