"""Choosing another feature (from a feature list or a row of the Feature Statistics table) redraws
what the page shows in place: no new Bokeh figure or data source reaches the browser, and the
detail's cards and tables take their new texts, so a switch costs one patch and one redraw
instead of building plots (issue 18: 0.8–2.3 s a switch)."""

from __future__ import annotations

import pytest
from bokeh.document import Document
from bokeh.document.events import ModelChangedEvent
from bokeh.models import ColumnDataSource, Plot

from app.pages.distribution_charts import SIDES
from app.pages.drift import DriftMonitoring
from app.pages.features import FeatureStatistics
from app.pages.production import ProductionData
from tests.page_helpers import shown_chart

# A numerical, a categorical and a high-cardinality feature, and back (both figures change).
SWITCHES = ("area", "district", "address", "age", "district")


def drawn(page) -> tuple[Document, object]:
    """The page rendered into a document of its own, as a session holds it."""
    doc = Document()
    layout = page.__panel__()
    doc.add_root(layout.get_root(doc))
    return doc, layout


def plot_models(doc: Document) -> set[str]:
    """The ids of the document's plots and data sources."""
    return {m.id for m in doc.models if isinstance(m, Plot | ColumnDataSource)}


@pytest.mark.parametrize(
    ("page_class", "body"),
    [
        (FeatureStatistics, "distribution_body"),
        (DriftMonitoring, "distribution_body"),
        (ProductionData, "distribution"),
    ],
)
def test_a_feature_switch_builds_no_plot(monitor, page_class, body):
    page = page_class(monitor=monitor)
    doc, _ = drawn(page)
    before = plot_models(doc)
    assert before
    for name in SWITCHES:
        page.feature.value = name
        assert plot_models(doc) == before, f"new plots for {name}"
        # The figure shown draws the chosen feature.
        chart, dist = shown_chart(getattr(page, body)), monitor.distribution(name)
        if "value" in chart:
            counted = {str(v) for side in SIDES for v in dist[side]}
            assert set(chart["value"]) <= counted | {str(v) for v in dist.get("values") or []}
        else:
            assert list(chart["left"].drop_duplicates()) == dist["edges"][:-1]


def test_a_table_row_click_patches_the_detail(monitor):
    page = FeatureStatistics(monitor=monitor)
    doc, _ = drawn(page)
    table, table_model = page.table, page.table._models.copy()
    page.feature.value = "area"
    plots = plot_models(doc)
    cards = list(page.detail_cards.objects)
    summary = list(page.summary_body.objects)
    for name in ("age", "area"):
        frame = page.table.value
        page.table.selection = [int(frame.index[frame["feature"] == name][0])]
        assert page.feature.value == name
        # The same table, the same plots, the same cards and statistics table with new texts.
        assert page.table is table and page.table._models == table_model
        assert plot_models(doc) == plots
        assert page.detail_cards.objects == cards and page.summary_body.objects == summary
    texts = [card.object for card in cards]
    page.table.selection = [int(frame.index[frame["feature"] == "age"][0])]
    assert [card.object for card in cards] != texts


def test_next_page_sends_the_rows_once(monitor):
    page = ProductionData(monitor=monitor)
    doc, _ = drawn(page)
    table = page.table
    (model, _) = next(iter(table._models.values()))
    sent = []
    doc.on_change(
        lambda event: (
            sent.append(event)
            if getattr(event, "model", None) is model.source and event.attr == "data"
            else None
        )
    )
    table.page = 2
    # The new page's rows, once (a page number alone sent the page held before again).
    assert len(sent) == 1
    assert page.table is table and table.value.index[0] == page.page_size


# Properties whose change makes BokehJS lay out the whole document (every page of the session)
# again at once, each change on its own (``LayoutDOMView.invalidate_layout``): a switch shows and
# hides panes by their style instead and keeps its children (a chart's height may follow its bars).
RELAYOUT = {
    "visible",
    "children",
    "css_classes",
    "stylesheets",
    "margin",
    "sizing_mode",
    "width",
    "min_width",
    "max_width",
    "min_height",
    "max_height",
}


@pytest.mark.parametrize(
    "page_class", [FeatureStatistics, DriftMonitoring, ProductionData], ids=lambda c: c.__name__
)
def test_a_feature_switch_changes_nothing_that_lays_out_every_page(monitor, page_class):
    page = page_class(monitor=monitor)
    doc, _ = drawn(page)
    changed = []
    doc.on_change(
        lambda event: (
            changed.append(f"{type(event.model).__name__}.{event.attr}")
            if isinstance(event, ModelChangedEvent) and event.attr in RELAYOUT
            else None
        )
    )
    for name in SWITCHES:
        page.feature.value = name
    assert changed == []
