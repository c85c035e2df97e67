"""The exported HTML opens from disk with every network request blocked, and draws; the controls
that ask the server in the live dashboard (a feature's detail, the pages of production rows) work
in the file on their own."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import panel as pn
import pytest
from playwright.sync_api import Locator, Page, expect

from app import theme
from app.config import load_config
from app.export import export_html, export_pages, external_references
from app.monitor import Monitor
from app.pages.base import data_report
from app.pages.production import EXPORT_ROWS, PAGE_SIZE
from benchmarks.harness import DRAWN_CANVASES
from tests.ui.helpers import wait_for_drawn

pytestmark = pytest.mark.ui

HOSTILE = "<script>alert(1)</script>"
PSI = re.compile(r"^\s*PSI\s*$")
ROOMS = re.compile(r"^\s*rooms\s*$")


def dashboard():
    import holoviews as hv
    import hvplot.pandas  # noqa: F401  (registers .hvplot)

    frame = pd.DataFrame({"day": range(10), "rows": [5, 7, 6, 9, 12, 11, 15, 14, 18, 20]})
    frame["district"] = ["north", "south", "east", "west", HOSTILE] * 2
    bars = hv.Bars(frame.groupby("district", as_index=False)["rows"].sum(), "district", "rows")
    return {
        "Plots": pn.Column("## Rows per day", frame.hvplot.line("day", "rows"), bars),
        "Table": pn.Column(pn.widgets.Tabulator(frame, pagination="local", page_size=5)),
    }


def test_export_renders_offline_from_disk(page, browser_log, wait_for_plots, tmp_path):
    out = export_html(dashboard(), tmp_path / "export.html", title="Offline")
    assert external_references(out.read_text(encoding="utf-8")) == []
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(out.as_uri())
    wait_for_plots(page, count=2)
    page.get_by_text("Table", exact=True).click()
    rows = page.locator(".tabulator-row")
    rows.first.wait_for(state="visible", timeout=10_000)
    assert rows.count() == 5
    page.get_by_text(HOSTILE).first.wait_for(state="attached")

    assert not dialogs, f"a script in the data ran: {dialogs}"
    assert not browser_log.blocked, browser_log.blocked


# -- the six pages of the demo world ------------------------------------------------------------

EXPORT_DRAWN_MS = 150_000
# What the file builds when it opens (the Overview page; the demo world's has ~200 models and 3
# charts): every page and feature view up front was ~3,500 models and 61 charts, 20-50 s to draw.
LOADED_MODELS = 600


@pytest.fixture(scope="module")
def exported(demo_world: Path, tmp_path_factory: pytest.TempPathFactory):
    """``driftdeck export`` of all six pages of the demo world, and a Monitor on the same data."""
    config = load_config(demo_world)
    out = export_pages(config, tmp_path_factory.mktemp("export") / "driftdeck.html")
    return out, Monitor(config)


def open_section(page: Page, out: Path, tab: str, section: str) -> Locator:
    """Open the exported file at its tab ``tab``; return the section (card) titled ``section``.

    Panel's tabs hide the pages behind the open one with a style Playwright does not see through
    (their inner markup stays ``visibility: visible``), so tests look inside one section.
    """
    page.goto(out.as_uri())
    # The open page is drawn first, the others when their tab is chosen (a few seconds each on
    # two busy cores; all six up front took 15-50 s before they were drawn on demand).
    page.locator(".bk-tab", has_text=tab).click(timeout=EXPORT_DRAWN_MS)
    card = page.locator(".card").filter(has=page.get_by_text(section, exact=True))
    expect(card).to_have_count(1)
    return card


def shown(locator: Locator) -> Locator:
    return locator.filter(visible=True)


def test_choosing_a_feature_switches_the_detail_offline(page, browser_log, exported):
    out, monitor = exported
    features = data_report(monitor)["features"]
    detail = open_section(page, out, "Feature Statistics", "Feature detail")
    chooser = detail.locator("select")
    first = chooser.input_value()
    assert features[first]["kind"] == "numerical"  # the most drifted readable feature
    psi = shown(detail.locator(".kpi").filter(has=page.locator(".label", has_text=PSI)))
    psi = psi.locator(".value")
    expect(psi).to_have_text(theme.format_metric(features[first]["psi"]))
    ecdf = shown(detail.get_by_text("Cumulative distribution (ECDF)"))
    expect(ecdf).to_have_count(1)
    wait_for_drawn(page, 2)  # distribution and ECDF

    chooser.select_option("district")
    expect(psi).to_have_text(theme.format_metric(features["district"]["psi"]))
    expect(ecdf).to_have_count(0)
    expect(shown(detail.get_by_text("New categories (never in the reference)"))).to_have_count(1)
    unseen = features["district"]["summary"]["production"]["unseen"]
    chip = shown(detail.locator(".chip", has_text=unseen[0]["value"]))
    expect(chip).to_have_text(f"{unseen[0]['value']} {theme.format_share(unseen[0]['share'])}")
    wait_for_drawn(page, 1)

    # A click on a table row chooses its feature, as it does in the live page.
    table = page.locator(".card").filter(has=page.get_by_text("Every feature", exact=True))
    table.locator(".tabulator-cell[tabulator-field='feature']", has_text=ROOMS).click()
    expect(chooser).to_have_value("rooms")
    expect(psi).to_have_text(theme.format_metric(features["rooms"]["psi"]))
    assert not browser_log.blocked, browser_log.blocked


def test_production_rows_page_offline(page, browser_log, exported):
    out, monitor = exported
    newest = monitor.production_rows(0, EXPORT_ROWS)
    total = monitor.engine.window_rows(monitor.window)["inputs"]
    assert len(newest) == EXPORT_ROWS < total
    id_column = monitor.engine.roles().id
    ids = list(newest[id_column])
    section = open_section(page, out, "Production Data", "Recent inputs and predictions")
    expect(section.get_by_text(f"This file holds the {EXPORT_ROWS} most recent")).to_have_count(1)
    rows = section.locator(".tabulator-row")
    first_id = rows.first.locator(f".tabulator-cell[tabulator-field='{id_column}']")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(first_id).to_have_text(ids[0])

    pager = section.locator(".tabulator-paginator")
    pager.locator(".tabulator-page[data-page='next']").click()
    expect(first_id).to_have_text(ids[PAGE_SIZE])
    pager.locator(".tabulator-page[data-page='last']").click()
    expect(pager.locator(".tabulator-page.active")).to_have_text(str(EXPORT_ROWS // PAGE_SIZE))
    expect(first_id).to_have_text(ids[EXPORT_ROWS - PAGE_SIZE])
    expect(rows).to_have_count(PAGE_SIZE)
    assert not browser_log.blocked, browser_log.blocked


def test_distribution_explorer_switches_offline(page, browser_log, exported):
    out, monitor = exported
    features = data_report(monitor)["features"]
    explorer = open_section(page, out, "Production Data", "Feature distribution explorer")
    chooser = explorer.locator("select")
    psi = shown(explorer.locator(".kpi").filter(has=page.locator(".label", has_text=PSI)))
    labels = {f"{name} ({f['kind']})": name for name, f in features.items()}  # as the page shows
    first = labels[chooser.input_value()]
    expect(psi.locator(".value")).to_have_text(theme.format_metric(features[first]["psi"]))
    wait_for_drawn(page, 1)

    other = next(name for name, f in features.items() if name != first and f["psi"] is not None)
    chooser.select_option(label=f"{other} ({features[other]['kind']})")
    expect(psi.locator(".value")).to_have_text(theme.format_metric(features[other]["psi"]))
    expect(psi).to_have_count(1)
    wait_for_drawn(page, 1)
    assert not browser_log.blocked, browser_log.blocked


# The section's canvases on screen (one chart draws on a few layered canvases), each as whether it
# was marked before: charts are built when their feature is first chosen, so an index in the page
# does not name the same canvas before and after.
MARK_SHOWN = """(elements) => elements.forEach((element) => {
  const box = element.getBoundingClientRect()
  if (box.width > 0 && box.height > 0) element.dataset.shownBefore = "yes"
})"""
SHOWN_MARKS = """(elements) => elements.flatMap((element) => {
  const box = element.getBoundingClientRect()
  return box.width > 0 && box.height > 0 ? [element.dataset.shownBefore === "yes"] : []
})"""


def test_drift_comparison_switches_offline(page, browser_log, exported):
    out, monitor = exported
    features = data_report(monitor)["features"]
    section = open_section(page, out, "Drift Monitoring", "Reference vs production distribution")
    chooser = section.locator("select")
    first = chooser.input_value()
    assert first in features
    wait_for_drawn_in(section, 1)

    canvases = section.locator("canvas")
    canvases.evaluate_all(MARK_SHOWN)
    assert canvases.evaluate_all(SHOWN_MARKS)
    other = next(name for name in chooser.locator("option").all_inner_texts() if name != first)
    chooser.select_option(other)
    expect(chooser).to_have_value(other)
    # Another feature's chart is on screen, and the first one's is hidden.
    for _ in range(120):
        after = canvases.evaluate_all(SHOWN_MARKS)
        if after and not any(after):
            break
        page.wait_for_timeout(250)
    assert after and not any(after), after
    wait_for_drawn_in(section, 1)
    assert not browser_log.blocked, browser_log.blocked


LOADED = """() => ({
  documents: (window.Bokeh?.documents ?? []).length,
  models: (window.Bokeh?.documents ?? []).reduce((n, doc) => n + doc.all_models.size, 0),
})"""


def test_export_opens_with_the_open_page_only_and_draws_the_rest_on_demand(
    page, browser_log, exported
):
    """Not a timing test: it checks what makes the file fast (one small document built on load,
    the rest drawn when shown) and that what is drawn on demand is really drawn."""
    out, _monitor = exported
    page.goto(out.as_uri())
    wait_for_drawn(page, 1)
    loaded = page.evaluate(LOADED)
    assert loaded["documents"] == 1
    assert loaded["models"] <= LOADED_MODELS, loaded

    # A chart on another page, for a feature the page did not show: built and drawn when chosen.
    section = open_section(page, out, "Drift Monitoring", "Reference vs production distribution")
    chooser = section.locator("select")
    first = chooser.input_value()
    wait_for_drawn_in(section, 1)
    other = next(name for name in chooser.locator("option").all_inner_texts() if name != first)
    before = page.evaluate(LOADED)["models"]
    chooser.select_option(other)
    expect(chooser).to_have_value(other)
    wait_for_drawn_in(section, 1)
    assert page.evaluate(LOADED)["models"] > before  # its view was built now, not on load
    assert not browser_log.blocked, browser_log.blocked


def wait_for_drawn_in(section: Locator, count: int, timeout_ms: int = 60_000) -> None:
    """Wait until ``section`` has ``count`` drawn canvases on screen."""
    page = section.page
    for _ in range(timeout_ms // 250):
        if section.evaluate(DRAWN_CANVASES) >= count:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"fewer than {count} chart(s) drawn in the section")
