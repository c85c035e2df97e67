"""Every page in a real browser: no console errors, plots drawn, the time window set by dragging
across the Overview timeline, and hostile category values shown as text, never run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from playwright.sync_api import expect

from app.pages import PAGES
from tests.bad_inputs import write
from tests.page_helpers import XSS, xss_world
from tests.ui.helpers import (
    BOKEH_FACTORS,
    drawn_canvases,
    kpi_value,
    wait_for_drawn,
    wait_until_loaded,
)

pytestmark = pytest.mark.ui

# Plots each page draws on the demo world (a Bokeh plot paints at least one canvas).
MIN_PLOTS = {
    "overview": 3,
    "drift": 5,
    "features": 2,
    "performance": 2,
    "production": 1,
    "alerts": 1,
}
# A value that runs script when inserted as HTML (unlike <script>, which innerHTML never runs).
IMG_XSS = "<img src=x onerror=alert(2)>"


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
    full = predictions.inner_text()
    sidebar = page.locator("#sidebar")
    expect(sidebar.get_by_text("All production rows")).to_be_visible()

    box = _timeline_box(page)
    y = box["y"] + box["height"] * 0.5
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=12)
    page.mouse.up()

    expect(sidebar.get_by_text(re.compile("→"))).to_be_visible(timeout=60_000)
    expect(sidebar.get_by_text("All production rows")).to_have_count(0)
    expect(predictions).not_to_have_text(full, timeout=60_000)
    expect(predictions).to_have_text(re.compile(r"\d"))
    expect(page.get_by_text("in the selected window").first).to_be_visible()

    sidebar.get_by_role("button", name="Reset time window").click()
    expect(sidebar.get_by_text("All production rows")).to_be_visible(timeout=60_000)
    expect(predictions).to_have_text(full, timeout=60_000)


@pytest.fixture
def xss_config(tmp_path: Path) -> Path:
    """A small world whose production districts (and predicted classes) include ``XSS`` (also in
    the newest rows, shown first on Production), and some rows whose district is ``IMG_XSS``;
    returns its driftdeck.toml."""
    root = tmp_path / "xss-world"
    xss_world(root)
    inputs = root / "data/production/inputs.parquet"
    frame = pq.read_table(inputs).to_pandas()
    frame.loc[frame.index[1000:1200], "district"] = IMG_XSS
    frame.loc[frame.index[-100:], "district"] = XSS
    write(inputs, frame)
    config = root / "driftdeck.toml"
    config.write_text(
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        f'[mlflow]\ntracking_uri = "sqlite:///{root / "mlflow.db"}"\ntimeout_seconds = 2\n'
    )
    return config


def test_hostile_category_values_show_as_text(page, xss_config, launch_server, wait_for_page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    command = [sys.executable, "-m", "panel", "serve", "panel_serve.py", "--port", "{port}"]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", "127.0.0.1:{port}"]
    url = launch_server(command, xss_config, "/panel_serve")

    # Drift: the districts' distribution chart labels its bars with the values (canvas text).
    page.goto(f"{url}?page=drift")
    wait_for_page(page, "drift")
    wait_until_loaded(page)
    wait_for_drawn(page, 1)
    page.get_by_label("Feature").first.select_option("district")
    wait_until_loaded(page)
    factors = page.evaluate(BOKEH_FACTORS)
    assert XSS in factors and IMG_XSS in factors, factors

    # Features: both are new categories of the district detail, listed as text.
    page.goto(f"{url}?page=features")
    wait_for_page(page, "features")
    wait_until_loaded(page)
    page.get_by_label("Feature").first.select_option("district")
    wait_until_loaded(page)
    expect(page.get_by_text(XSS).first).to_be_visible()
    expect(page.get_by_text(IMG_XSS).first).to_be_visible()

    # Production: the newest rows' district cells hold the text.
    page.goto(f"{url}?page=production")
    wait_for_page(page, "production")
    wait_until_loaded(page)
    expect(page.get_by_text(XSS).first).to_be_visible()
    assert drawn_canvases(page) >= 1
    assert not dialogs, dialogs
