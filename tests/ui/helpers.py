"""Browser-side checks shared by the UI tests: spinners gone and Bokeh canvases really drawn (from
the harness the benchmarks share, ``benchmarks/harness.py``), axis factors, KPIs."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page

from benchmarks.harness import DRAWN_CANVASES, drawn_canvases, wait_for_drawn, wait_until_loaded

__all__ = [
    "BOKEH_FACTORS",
    "DRAWN_CANVASES",
    "drawn_canvases",
    "kpi_value",
    "wait_for_drawn",
    "wait_until_loaded",
]

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


def kpi_value(page: Page, label: str) -> Locator:
    """The value shown on the KPI card labelled exactly ``label`` (on the page shown: hidden
    pages may have a card with the same label)."""
    card = (
        page.locator(".kpi")
        .filter(visible=True)
        .filter(has=page.locator(".label", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$")))
    )
    return card.locator(".value")
