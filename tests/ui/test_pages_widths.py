"""Charts keep room for their data at any window width: at 1000 px sections stack instead of
squeezing a chart to a sliver, at 1440 px they still share a row; the donut is drawn whole and the
alert-history legend lists every feature beside its plot, not over it (server side:
tests/test_pages_layout.py)."""

from __future__ import annotations

import pytest

from app.pages import PAGES
from benchmarks.harness import MIN_PLOTS
from tests.ui.helpers import wait_for_drawn, wait_until_loaded

pytestmark = pytest.mark.ui

NARROW, WIDE = 1000, 1440
MIN_FRAME_WIDTH = 250
"""Narrowest data area (Bokeh's frame, inside the axes and legends) a chart may get, in pixels."""

# Every Bokeh figure shown on the page: its title, whether it draws a donut, its element box, data frame box (both
# in page coordinates), the boxes of its legends and of their entries, and whether the figure's
# canvas has paint in its outermost pixels (a glyph cut off at the edge).
FIGURES = """() => {
  const out = []
  const seen = new Set()
  const box = (b) => ({left: b.left, top: b.top, right: b.right, bottom: b.bottom,
                       width: b.width, height: b.height})
  // Elements matching ``selector`` below ``el``, through every shadow root (Bokeh nests them).
  const inShadow = (el, selector) => {
    const found = []
    const walk = (node) => {
      if (node.shadowRoot) walk(node.shadowRoot)
      for (const child of node.children ?? []) {
        if (child.matches?.(selector)) found.push(child)
        walk(child)
      }
    }
    walk(el)
    return found
  }
  const edgePainted = (canvas) => {
    const context = canvas.getContext("2d")
    const {width, height} = canvas
    const data = context.getImageData(0, 0, width, height).data
    const painted = (x, y) => {
      const i = 4 * (y * width + x)
      return data[i + 3] > 0 && (data[i] < 235 || data[i + 1] < 235 || data[i + 2] < 235)
    }
    for (let d = 0; d < 3; d++) {
      for (let x = 0; x < width; x++) if (painted(x, d) || painted(x, height - 1 - d)) return true
      for (let y = 0; y < height; y++) if (painted(d, y) || painted(width - 1 - d, y)) return true
    }
    return false
  }
  const visit = (view) => {
    if (!view || seen.has(view)) return
    seen.add(view)
    if (view.model?.type === "Figure" && view.frame?.bbox) {
      const el = view.el.getBoundingClientRect()
      if (el.width > 0 && el.height > 0) {
        const frame = view.frame.bbox
        const canvases = inShadow(view.el, "canvas").filter((c) => c.width > 50)
        const legends = inShadow(view.el, ".bk-Legend").map((legend) => ({
          box: box(legend.getBoundingClientRect()),
          entries: inShadow(legend, "canvas").map((c) => box(c.getBoundingClientRect())),
        }))
        out.push({
          title: view.model.title?.text ?? "",
          donut: view.model.renderers.some((r) => r.glyph?.type === "AnnularWedge"),
          box: box(el),
          frame: {left: el.left + frame.left, top: el.top + frame.top,
                  right: el.left + frame.right, bottom: el.top + frame.bottom,
                  width: frame.width, height: frame.height},
          legends,
          edge_painted: canvases.length ? edgePainted(canvases[0]) : null,
        })
      }
    }
    for (const child of view.child_views ?? []) visit(child)
  }
  for (const root of window.Bokeh.index.roots) visit(root)
  return out
}"""


def open_page(page, server_url, wait_for_page, slug: str, width: int) -> list[dict]:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{server_url}?page={slug}")
    wait_for_page(page, slug)
    wait_for_drawn(page, MIN_PLOTS[slug])
    wait_until_loaded(page)
    return page.evaluate(FIGURES)


@pytest.mark.parametrize("slug", list(PAGES))
def test_no_chart_is_squeezed_at_1000_px(page, server_url, wait_for_page, slug):
    figures = open_page(page, server_url, wait_for_page, slug, NARROW)
    assert figures
    squeezed = [(f["title"], round(f["frame"]["width"])) for f in figures]
    squeezed = [(title, width) for title, width in squeezed if width < MIN_FRAME_WIDTH]
    assert not squeezed, f"charts with less than {MIN_FRAME_WIDTH} px for their data: {squeezed}"


def _lower_pair(figures: list[dict]) -> tuple[dict, dict]:
    """The Overview's donut and performance trend (the timeline is the figure on top)."""
    donut = next(f for f in figures if f["donut"])
    timeline = min(figures, key=lambda f: f["box"]["top"])
    trend = next(f for f in figures if f is not donut and f is not timeline)
    return donut, trend


def test_overview_sections_stack_when_narrow_and_share_a_row_when_wide(
    page, server_url, wait_for_page
):
    donut, trend = _lower_pair(open_page(page, server_url, wait_for_page, "overview", NARROW))
    assert trend["box"]["top"] >= donut["box"]["bottom"], "stacked at 1000 px"
    donut, trend = _lower_pair(open_page(page, server_url, wait_for_page, "overview", WIDE))
    assert trend["box"]["top"] < donut["box"]["bottom"], "side by side at 1440 px"
    assert trend["box"]["left"] >= donut["box"]["right"]


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_the_donut_is_whole(page, server_url, wait_for_page, width):
    figures = open_page(page, server_url, wait_for_page, "overview", width)
    donut = next(f for f in figures if f["donut"])
    assert donut["edge_painted"] is False, "the donut reaches the edge of its canvas: cut off"
    frame, box = donut["frame"], donut["box"]
    assert box["top"] <= frame["top"] and frame["bottom"] <= box["bottom"]


@pytest.mark.parametrize("width", [NARROW, WIDE])
def test_feature_psi_legend_is_beside_the_plot_with_every_entry(
    page, server_url, wait_for_page, width
):
    figures = open_page(page, server_url, wait_for_page, "alerts", width)
    psi = next(f for f in figures if f["title"] == "Feature PSI per check")
    (legend,) = [legend for legend in psi["legends"] if legend["entries"]]
    assert len(legend["entries"]) >= 5  # one per feature of the demo's monitoring history
    assert legend["box"]["left"] >= psi["frame"]["right"] - 1, "the legend covers the plot"
    for entry in legend["entries"]:
        assert psi["box"]["top"] <= entry["top"] and entry["bottom"] <= psi["box"]["bottom"]
