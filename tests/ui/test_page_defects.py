"""The defects a user test of every page found (issue 18), each checked in Chromium as a user
meets it: the address distribution, the registry table at 1000 px, time-axis labels, the alert
history, and one look for numbers, missing values, selected rows and the two sides."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
import pytest

from app import theme
from app.config import load_config
from app.monitor import Monitor
from app.pages.feature_detail import NUMERICAL_STATS
from app.pages.production import PAGE_SIZE
from tests.ui.helpers import wait_for_drawn, wait_until_loaded
from tests.ui.test_pages import MIN_PLOTS

pytestmark = pytest.mark.ui

NARROW, WIDE = 1000, 1440
WIDTHS = [NARROW, WIDE]
SIDES = ("reference", "production")
EXPORT_MS = 150_000

# Every Bokeh figure on screen, read from its view: title, frame and legend boxes in page
# coordinates, the factors of its categorical ranges, the bars it draws (value, side, share),
# its horizontal spans and the range they must fall in, and its datetime axes.
FIGURES = """() => {
  const out = []
  const seen = new Set()
  const box = (b) => ({left: b.left, top: b.top, right: b.right, bottom: b.bottom,
                       width: b.width, height: b.height})
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
  const factors = (range) => (Array.isArray(range?.factors) ? range.factors.map(
    (f) => (Array.isArray(f) ? f.map(String) : [String(f)])) : null)
  const column = (data, name) => (data[name] ? Array.from(data[name]).map(String) : null)
  const visit = (view) => {
    if (!view || seen.has(view)) return
    seen.add(view)
    const model = view.model
    if (model?.type === "Figure" && view.frame?.bbox) {
      const el = view.el.getBoundingClientRect()
      if (el.width > 0 && el.height > 0) {
        const frame = view.frame.bbox
        const bars = []
        const legendLabels = []
        for (const r of model.renderers) {
          const data = r.data_source?.data ?? {}
          if (r.glyph?.type === "VBar" || r.glyph?.type === "HBar") {
            const values = column(data, "value") ?? column(data, "class") ?? []
            const sides = column(data, "side") ?? []
            const shares = data.share ? Array.from(data.share) : []
            values.forEach((v, i) => bars.push({value: v, side: sides[i], share: shares[i]}))
          }
        }
        for (const legend of model.below.concat(model.above, model.left, model.right, model.center)) {
          if (legend?.type !== "Legend") continue
          for (const item of legend.items) {
            const label = item.label
            if (label?.value != null) legendLabels.push(String(label.value))
            else if (label?.field) {
              const data = item.renderers[0]?.data_source?.data ?? {}
              for (const v of column(data, label.field) ?? []) {
                if (!legendLabels.includes(v)) legendLabels.push(v)
              }
            }
          }
        }
        // Horizontal levels: Span annotations (HoloViews draws an HLine as one among renderers).
        const spans = [...model.center, ...model.renderers]
          .filter((a) => a.type === "Span" && a.dimension === "width")
          .map((a) => a.location)
        const axes = [...model.below, ...model.above, ...model.left, ...model.right]
          .filter((a) => a.type === "DatetimeAxis")
          .map((a) => ({policy: a.major_label_policy?.type ?? null,
                        context: a.formatter?.context?.type ?? null,
                        hours: a.formatter?.hours ?? null}))
        out.push({
          title: model.title?.text ?? "",
          box: box(el),
          frame: {left: el.left + frame.left, top: el.top + frame.top,
                  right: el.left + frame.right, bottom: el.top + frame.bottom,
                  width: frame.width, height: frame.height},
          legends: inShadow(view.el, ".bk-Legend").map((legend) => ({
            box: box(legend.getBoundingClientRect()),
            entries: inShadow(legend, "canvas").length,
          })),
          legendLabels,
          x_factors: factors(model.x_range),
          y_factors: factors(model.y_range),
          y_range: [model.y_range.start, model.y_range.end],
          bars,
          spans,
          axes,
          lines: model.renderers.filter((r) => r.glyph?.type === "Line").length,
        })
      }
    }
    for (const child of view.child_views ?? []) visit(child)
  }
  for (const root of window.Bokeh.index.roots) visit(root)
  return out
}"""


def open_page(page, server_url, wait_for_page, slug: str, width: int, theme_name: str = ""):
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{server_url}?page={slug}" + (f"&theme={theme_name}" if theme_name else ""))
    wait_for_page(page, slug)
    wait_for_drawn(page, MIN_PLOTS[slug])
    wait_until_loaded(page)


SHOWN_TEXT = """() => {
  const parts = []
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot)
    for (const child of node.childNodes ?? []) {
      if (child.nodeType === Node.TEXT_NODE) parts.push(child.textContent)
      else walk(child)
    }
  }
  walk(document.body)
  return parts.join(" ")
}"""


def shown_text(page) -> str:
    """Every text of the page, inside Panel's and Bokeh's shadow roots too."""
    return page.evaluate(SHOWN_TEXT)


def figures(page) -> list[dict]:
    return page.evaluate(FIGURES)


def choose_feature(page, name: str) -> None:
    """Pick ``name`` in the Feature detail's select (the one that lists every feature)."""
    select = page.locator("select").filter(has=page.locator(f"option[value='{name}']")).last
    select.select_option(name)
    page.wait_for_timeout(300)
    wait_until_loaded(page, settle=0.5)


# -- 1. address distribution -------------------------------------------------------------------


def _top_values(demo_world: Path) -> tuple[list[str], dict[str, dict[str, float]], int]:
    """Each side's 10 most frequent addresses (ties by value) in the page's time window, their
    union, and every value's share of its side's non-missing rows, counted by DuckDB here."""
    config = load_config(demo_world)
    window = Monitor(config).window
    where, params = window.predicate(config.columns.timestamp)
    files = {
        "reference": (str(config.base_dir / config.reference), "TRUE", {}),
        "production": (str(config.base_dir / config.inputs), where, params),
    }
    con = duckdb.connect()
    tops, shares = [], {}
    for side, (path, clause, bound) in files.items():
        # The window's own predicate (quoted column, bound values); the file path is bound.
        sql = "SELECT CAST(address AS VARCHAR) AS value, count(*) AS n FROM read_parquet($path) "
        sql += f"WHERE address IS NOT NULL AND ({clause}) GROUP BY 1 ORDER BY n DESC, value"  # noqa: S608
        frame = con.execute(sql, {**bound, "path": path}).fetchdf()
        present = int(frame["n"].sum())
        tops += list(frame["value"].head(10))
        shares[side] = {v: n / present for v, n in zip(frame["value"], frame["n"], strict=True)}
    union = list(dict.fromkeys(tops))
    return union, shares, 10


@pytest.mark.parametrize("width", WIDTHS)
def test_address_distribution_shows_both_shares_of_either_sides_top_values(
    page, server_url, wait_for_page, demo_world, width
):
    union, shares, top = _top_values(demo_world)
    open_page(page, server_url, wait_for_page, "features", width)
    choose_feature(page, "address")
    page.wait_for_function(
        "() => [...Bokeh.documents].some((d) => [...d.all_models].some("
        "(m) => m.type === 'Title' && m.text.startsWith('Top ')))"
    )
    wait_for_drawn(page, 1)
    chart = next(f for f in figures(page) if f["title"].startswith("Top "))
    assert chart["title"] == f"Top {top} values of either side"
    drawn: dict[str, dict[str, float]] = {}
    for bar in chart["bars"]:
        drawn.setdefault(bar["value"], {})[bar["side"]] = bar["share"]
    assert set(drawn) == set(union), "the union of both sides' top values, nothing else"
    for value, by_side in drawn.items():
        assert set(by_side) == set(SIDES), f"{value}: a share on both sides"
        for side in SIDES:
            assert by_side[side] == pytest.approx(shares[side].get(value, 0.0))
    # Readable: the bars keep room at this width, the legend sits outside them, each value
    # has a row tall enough for its label.
    frame = chart["frame"]
    assert frame["width"] >= 200, f"only {frame['width']:.0f} px for the bars"
    for legend in chart["legends"]:
        box = legend["box"]
        inside = (
            box["left"] < frame["right"]
            and box["right"] > frame["left"]
            and box["top"] < frame["bottom"]
            and box["bottom"] > frame["top"]
        )
        assert not inside, "the legend covers the bars"
    assert frame["height"] / len(union) >= 18, "value labels run together"


# -- 2. registry table at 1000 px --------------------------------------------------------------

REGISTRY_TABLE = """() => {
  let found = null
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot)
    for (const child of node.children ?? []) walk(child)
    if (node.tagName === 'TABLE' && [...node.querySelectorAll('th')].some(
        (th) => th.textContent === 'Source run')) {
      const host = node.getRootNode().host
      const style = getComputedStyle(node.querySelector('td'))
      found = {
        table: node.getBoundingClientRect().right,
        card: host.getBoundingClientRect().right,
        line: parseFloat(style.lineHeight) || 1.2 * parseFloat(style.fontSize),
        heads: [...node.querySelectorAll('th')].map((th) => th.textContent),
        cells: [...node.querySelectorAll('tbody tr')].map((tr) => [...tr.children].map(
          (td) => {
            const range = document.createRange()
            range.selectNodeContents(td)
            return {text: td.textContent, height: range.getBoundingClientRect().height,
                    right: td.getBoundingClientRect().right}
          })),
      }
    }
  }
  walk(document.documentElement)
  return found
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_registry_table_fits_its_card(page, server_url, wait_for_page, width):
    open_page(page, server_url, wait_for_page, "performance", width)
    page.wait_for_function(f"() => ({REGISTRY_TABLE})() !== null")
    table = page.evaluate(REGISTRY_TABLE)
    assert table["cells"], "the registry lists its versions"
    assert table["table"] <= table["card"] + 1, "the table runs past its card"
    created = table["heads"].index("Created")
    line = table["line"]
    for row in table["cells"]:
        assert row[-1]["right"] <= table["card"] + 1, "the last metric is clipped"
        assert row[created]["height"] <= 1.5 * line, f"date wraps: {row[created]['text']}"
        for cell in row:
            assert cell["height"] <= 2.5 * line, f"'{cell['text']}' wraps onto 3 lines or more"


# -- 4. time axes ----------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["overview", "drift", "performance", "alerts"])
def test_time_axis_labels_cannot_collide(page, server_url, wait_for_page, slug):
    open_page(page, server_url, wait_for_page, slug, WIDE)
    axes = [(f["title"], axis) for f in figures(page) for axis in f["axes"]]
    assert axes, "the page draws time axes"
    for title, axis in axes:
        # Bokeh drops a label that would overlap its neighbour, and no line of whole dates
        # under hour ticks (Bokeh's contextual default that drew "Oct 30, 2026" over "Oct 31").
        assert axis["policy"] == "NoOverlap", f"{title}: labels may overlap"
        assert "%Y" not in (axis["hours"] or "") and "%b" in (axis["hours"] or "")


# -- 5. alert history ------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_alert_history_charts_have_room_legends_and_their_levels(
    page, server_url, wait_for_page, width
):
    open_page(page, server_url, wait_for_page, "alerts", width)
    charts = {f["title"]: f for f in figures(page)}
    psi = charts["Feature PSI per check"]
    assert psi["frame"]["width"] >= 400, f"PSI plot squeezed to {psi['frame']['width']:.0f} px"
    (legend,) = [legend for legend in psi["legends"] if legend["entries"]]
    assert legend["entries"] == psi["lines"], "one legend entry per feature line"
    assert legend["box"]["right"] <= psi["box"]["right"] + 1, "legend cut off"
    assert legend["box"]["left"] >= psi["frame"]["right"] - 1, "legend over the lines"
    for title in (
        "Feature PSI per check",
        "Prediction drift (KL) per check",
        "Cardinality ratio per check",
    ):
        chart = charts[title]
        low, high = chart["y_range"]
        shown = [s for s in chart["spans"] if low <= s <= high]
        assert len(shown) >= 2, f"{title}: its warning and critical lines are not in view"
    # A chart without levels says so under it rather than promising dashed lines.
    share = charts["New-value share per check"]
    assert not share["spans"]
    assert "No dashed line" in shown_text(page)


# -- 6. consistency --------------------------------------------------------------------------


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# The colour of a cell's text and the opaque colour behind it (translucent layers blended).
CELL_COLOURS = """(cell) => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number)
  let layers = []
  for (let el = cell; el; el = el.parentElement || el.getRootNode().host) {
    const [r, g, b, a = 1] = parse(getComputedStyle(el).backgroundColor)
    if (a > 0) layers.push([r, g, b, a])
    if (a >= 1) break
  }
  let bg = [255, 255, 255]
  for (const [r, g, b, a] of layers.reverse()) {
    bg = [r * a + bg[0] * (1 - a), g * a + bg[1] * (1 - a), b * a + bg[2] * (1 - a)]
  }
  return {text: parse(getComputedStyle(cell).color).slice(0, 3), background: bg}
}"""


@pytest.mark.parametrize("theme_name", ["", "dark"])
def test_a_selected_row_keeps_its_severity_readable(
    page, server_url, wait_for_page, demo_world, theme_name
):
    open_page(page, server_url, wait_for_page, "features", WIDE, theme_name)
    row = page.locator(".tabulator-row").filter(has_text="critical").first
    row.locator(".tabulator-cell[tabulator-field=feature]").click()
    page.wait_for_timeout(500)
    cell = row.locator(".tabulator-cell[tabulator-field=drift]")
    assert "critical" in cell.inner_text()
    colours = cell.evaluate(CELL_COLOURS)
    lighter, darker = sorted(
        (_luminance(colours["text"]), _luminance(colours["background"])), reverse=True
    )
    contrast = (lighter + 0.05) / (darker + 0.05)
    assert contrast >= 2.5, f"'critical' at contrast {contrast:.2f} on the selected row"


def test_sides_in_one_order_in_every_legend_and_pair_of_bars(page, server_url, wait_for_page):
    seen = []
    open_page(page, server_url, wait_for_page, "drift", WIDE)
    seen += figures(page)
    open_page(page, server_url, wait_for_page, "features", WIDE)
    for name in ("district", "gross_sqm"):
        choose_feature(page, name)
        seen += figures(page)
    checked = 0
    for chart in seen:
        labels = [label for label in chart["legendLabels"] if label in SIDES]
        if len(labels) == 2:
            checked += 1
            assert labels == list(SIDES), f"{chart['title']}: legend {labels}"
        # Inside each group of bars, the reference is drawn first (left, or above).
        for key, first in (("x_factors", 0), ("y_factors", -1)):
            groups: dict[str, list[str]] = {}
            for factor in chart[key] or []:
                if len(factor) == 2 and factor[1] in SIDES:
                    groups.setdefault(factor[0], []).append(factor[1])
            for group, sides in groups.items():
                if len(sides) == 2:
                    assert sides[first] == "reference", f"{chart['title']}: {group} {sides}"
    assert checked >= 2, "legends of both sides seen"


def test_numbers_read_alike_in_tables_and_cards(page, server_url, wait_for_page):
    open_page(page, server_url, wait_for_page, "features", WIDE)
    # The PSI of each feature in the table is written as its card writes it.
    table = page.locator(".tabulator-row")
    rows = {
        row.locator("[tabulator-field=feature]").inner_text(): row.locator(
            "[tabulator-field=psi]"
        ).inner_text()
        for row in table.all()
        if row.is_visible()
    }
    assert rows
    for text in rows.values():
        assert text == theme.NO_VALUE or "e-" not in text and len(text.split(".")[-1]) == 3
    # A float feature's statistics carry the same decimals on both sides and every row.
    choose_feature(page, "gross_sqm")
    stats = (
        page.locator("table.stats")
        .filter(has_text="Summary")
        .or_(page.locator("table.stats").filter(has_text="Statistic"))
        .first
    )
    decimals = set()
    for row in stats.locator("tr").all():
        cells = row.locator("td").all_inner_texts()
        if cells and cells[0] in {label for _, label in NUMERICAL_STATS}:
            for text in cells[1:]:
                decimals.add(len(text.split(".")[1]) if "." in text else 0)
    assert decimals == {2}, f"decimals of gross_sqm's statistics: {decimals}"


def _first_page_with_a_missing_value(demo_world: Path) -> int:
    """The table page (1-based) of the newest production row in the window missing a text value."""
    rows = Monitor(load_config(demo_world)).production_rows(0, 20 * PAGE_SIZE)
    # Text columns: a missing number already read as — (the table's number cells say so).
    missing = rows.select_dtypes(exclude="number").isna().any(axis=1).to_numpy().nonzero()[0]
    assert len(missing), "the demo world's newest rows have no missing value"
    return int(missing[0]) // PAGE_SIZE + 1


def _go_to_page(page, number: int) -> None:
    """Press the rows table's "Next" until page ``number`` is shown."""
    first_row = page.locator(".tabulator-row").filter(visible=True).first
    for _ in range(2, number + 1):
        before = first_row.inner_text()
        page.locator(".tabulator-page[data-page=next]").filter(visible=True).first.click()
        deadline = time.monotonic() + 30
        while first_row.inner_text() == before:
            assert time.monotonic() < deadline, "the next page never came"
            page.wait_for_timeout(50)
        wait_until_loaded(page, settle=0.3)


def _blank_cells(page) -> list[str]:
    cells = page.locator(".tabulator-row .tabulator-cell").filter(visible=True)
    fields = cells.evaluate_all(
        "(cs) => cs.map((c) => [c.getAttribute('tabulator-field'), c.innerText])"
    )
    return [field for field, text in fields if field and not text.strip()]


def test_a_missing_value_reads_as_a_dash_in_the_live_rows_table(
    page, server_url, wait_for_page, demo_world
):
    number = _first_page_with_a_missing_value(demo_world)
    open_page(page, server_url, wait_for_page, "production", WIDE)
    _go_to_page(page, number)
    assert not _blank_cells(page), "a missing value shows as a blank cell"
    rows = page.locator(".tabulator-row").filter(visible=True).all_inner_texts()
    assert theme.NO_VALUE in " ".join(rows), "the page's missing value reads as —"


def test_the_exported_rows_table_reads_like_the_live_one(page, demo_world, tmp_path):
    from app.export import export_pages

    number = _first_page_with_a_missing_value(demo_world)
    out = export_pages(load_config(demo_world), tmp_path / "production.html", page="production")
    page.goto(out.as_uri())
    page.locator(".tabulator-row").first.wait_for(timeout=EXPORT_MS)
    _go_to_page(page, number)
    assert not _blank_cells(page), "a missing value shows as a blank cell in the export"
    text = shown_text(page)
    assert "when you open it" not in text, "the file claims to read rows when opened"
    assert "exported" in text
