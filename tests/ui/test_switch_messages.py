"""A feature chosen again (its distribution computed before) reaches the browser as one message
that shows no loading indicator and changes no property that makes BokehJS lay out the whole
document again: each such change, and each message on its own, cost the browser a layout of
every page the session holds (issue 18: a switch took 0.8–1.5 s)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from benchmarks.page_timing import feature_select
from tests.ui.helpers import wait_until_loaded

pytestmark = pytest.mark.ui

# Every PATCH-DOC the browser receives, as its list of events.
RECORD = """
window.__patches = []
const Socket = window.WebSocket
window.WebSocket = class extends Socket {
  constructor(...args) {
    super(...args)
    this.addEventListener("message", (event) => {
      if (typeof event.data === "string" && event.data.startsWith('{"events"')) {
        window.__patches.push(event.data)
      }
    })
  }
}
"""
# Properties whose change makes BokehJS lay out the whole document again, each on its own.
RELAYOUT = {"visible", "children", "css_classes", "stylesheets", "margin", "sizing_mode"}


def busy_indicator(event: dict) -> bool:
    """The template's busy indicator, which spins while any callback runs (not the page's)."""
    return event.get("attr") == "css_classes" and "loader" in (event.get("new") or [])


@pytest.mark.parametrize("slug", ["features", "drift", "production"])
def test_a_feature_chosen_again_is_one_message_that_lays_out_nothing(
    page, server_url, wait_for_page, slug
):
    page.add_init_script(RECORD)
    page.goto(f"{server_url}?page={slug}")
    wait_for_page(page, slug)
    select = feature_select(page, slug)
    options = select.locator("option")
    expect(options.nth(1)).to_be_attached()  # the features are listed
    values = select.evaluate("(s) => Array.from(s.options).map((o) => o.value)")
    first, other = select.input_value(), next(v for v in values if v != select.input_value())
    select.select_option(other)  # computes the other feature's distribution, if not yet done
    wait_until_loaded(page)
    page.evaluate("window.__patches = []")
    select.select_option(first)
    wait_until_loaded(page)
    page.wait_for_timeout(1000)
    patches = [json.loads(p)["events"] for p in page.evaluate("window.__patches")]
    ours = [[e for e in events if not busy_indicator(e)] for events in patches]
    ours = [events for events in ours if events]
    assert len(ours) == 1, ours
    relayout = [f"{e['model']['id']}.{e['attr']}" for e in ours[0] if e.get("attr") in RELAYOUT]
    assert relayout == []
