"""Browser-side checks shared by the UI tests: spinners gone, Bokeh canvases really drawn, KPIs."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Locator, Page

# Counts the canvases (Bokeh draws into shadow roots) that have a size and at least one
# painted pixel: a plot whose canvas exists but stayed blank does not count.
DRAWN_CANVASES = """() => {
  let drawn = 0
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot)
    for (const child of node.children ?? []) walk(child)
    if (node.tagName !== "CANVAS" || !node.width || !node.height) return
    const box = node.getBoundingClientRect()
    if (box.width <= 0 || box.height <= 0) return
    const context = node.getContext("2d")
    if (!context) return
    const pixels = context.getImageData(0, 0, node.width, node.height).data
    for (let i = 3; i < pixels.length; i += 4 * 7) {
      if (pixels[i] !== 0) { drawn += 1; return }
    }
  }
  walk(document.documentElement)
  return drawn
}"""

# Every string the page's Bokeh documents hold as categorical axis factors.
BOKEH_FACTORS = """() => {
  const out = []
  for (const doc of window.Bokeh?.documents ?? []) {
    for (const model of doc.all_models) {
      if (Array.isArray(model.factors)) out.push(...model.factors.flat(3).map(String))
    }
  }
  return out
}"""


def wait_until_loaded(page: Page, timeout: float = 90.0, settle: float = 1.0) -> None:
    """Wait until no loading indicator has been shown for ``settle`` seconds."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    spinners = page.locator(".pn-loading")
    while time.monotonic() < deadline:
        if spinners.count() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return
        else:
            quiet_since = None
        page.wait_for_timeout(200)
    raise AssertionError(f"{spinners.count()} section(s) still loading after {timeout}s")


def drawn_canvases(page: Page) -> int:
    return page.evaluate(DRAWN_CANVASES)


def wait_for_drawn(page: Page, count: int, timeout: float = 60.0) -> int:
    """Wait until at least ``count`` canvases have painted pixels; return how many have."""
    deadline = time.monotonic() + timeout
    drawn = drawn_canvases(page)
    while drawn < count and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        drawn = drawn_canvases(page)
    assert drawn >= count, f"only {drawn} of at least {count} plot canvas(es) drawn in {timeout}s"
    return drawn


def kpi_value(page: Page, label: str) -> Locator:
    """The value shown on the KPI card labelled exactly ``label`` (on the page shown: hidden
    pages may have a card with the same label)."""
    card = (
        page.locator(".kpi")
        .filter(visible=True)
        .filter(has=page.locator(".label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    )
    return card.locator(".value")
