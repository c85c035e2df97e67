"""Performance Metrics in a real browser on a world whose predictions name their model version:
the estimate against the realized accuracy, each version's traffic over time and the A/B verdict."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.monitor import Monitor
from app.pages.base import data_report
from tests.page_helpers import versions_world
from tests.ui.helpers import wait_for_drawn, wait_until_loaded

pytestmark = pytest.mark.ui

# Every legend label of the page's Bokeh documents (legends are drawn on the canvas, not in HTML).
LEGEND_LABELS = """() => {
  const out = []
  for (const doc of window.Bokeh?.documents ?? []) {
    for (const model of doc.all_models) {
      if (model.type === "LegendItem" || model.constructor?.name === "LegendItem") {
        const label = model.label
        out.push(String(label?.value ?? label))
      }
    }
  }
  return out
}"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The driftdeck.toml of the small world served by versions 1 and 2, labels three days late."""
    root = tmp_path_factory.mktemp("versions-world")
    versions_world(root)
    return root / "driftdeck.toml"


def test_performance_shows_the_versions_traffic_and_verdict(page, world, launch_server):
    report = data_report(Monitor.from_config(world))
    (test,) = report["ab_tests"]
    assert test["verdict"].startswith("version 2 is more accurate than version 1")

    command = [sys.executable, "-m", "panel", "serve", "panel_serve.py", "--port", "{port}"]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", "127.0.0.1:{port}"]
    url = launch_server(command, world, path="/panel_serve")
    page.goto(f"{url}?page=performance")
    shown = page.locator(".driftdeck-page-performance")
    versions = shown.locator(".card").filter(has_text="Traffic share per time bucket")
    expect(versions.get_by_text(test["verdict"], exact=True)).to_be_visible()
    wait_until_loaded(page)

    # The traffic chart is drawn, its legend naming both versions.
    chart = versions.locator(".bk-Canvas, canvas").first
    expect(chart).to_be_visible()
    wait_for_drawn(page, 4)
    labels = page.evaluate(LEGEND_LABELS)
    assert {"version 1", "version 2"} <= set(labels), labels
    # The estimate beside the realized accuracy, the days without labels marked as estimated.
    estimated = shown.locator(".card").filter(has_text="Estimated vs realized accuracy")
    expect(estimated.locator(".kpi .label", has_text="Estimated accuracy")).to_be_visible()
    assert "estimated, no labels yet" in labels
