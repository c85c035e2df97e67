"""Drawing on demand in the static export: the document the browser builds on load holds only what
is shown; hidden views and closed tabs wait in the file as patches, each loadable when shown."""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from typing import Any

import panel as pn
import pytest
from bokeh.models import ColumnDataSource
from bokeh.plotting import figure

from app import export, export_lazy
from app.export import external_references, render_html
from app.export_lazy import (
    DEFERRED_PREFIX,
    LOADER_ID,
    defer_hidden,
    deferred_parts,
    restored_documents,
)

HOSTILE = "</script><script>alert(1)</script>"


def plot(source: ColumnDataSource | None = None, title: str = "") -> pn.pane.Bokeh:
    chart = figure(title=title, height=200, width=300)
    chart.line("x", "y", source=source or ColumnDataSource({"x": [1, 2, 3], "y": [3, 1, 2]}))
    return pn.pane.Bokeh(chart)


def loaded_document(page: str) -> dict:
    """The Bokeh documents the page embeds when it opens (the deferred parts left out)."""
    (docs,) = [
        json.loads(html.unescape(m.group(2)))
        for m in export_lazy._DOCS_SCRIPT.finditer(page)
        if DEFERRED_PREFIX not in m.group(1)
    ]
    return docs


def names(node: Any) -> Counter:
    return Counter(rep["name"] for rep in export_lazy._walk_models(node))


def stylesheets(docs: dict) -> set[str]:
    """Every stylesheet text of the documents, given as text or as an InlineStyleSheet."""
    found = set()
    for rep in export_lazy._walk_models(docs):
        attributes = rep.get("attributes", {})
        if rep["name"] == "InlineStyleSheet":
            found.add(attributes["css"])
        found |= {s for s in attributes.get("stylesheets", []) if isinstance(s, str)}
    return found


def layout_with_hidden_parts() -> pn.Tabs:
    shared = ColumnDataSource({"x": [1, 2, 3], "y": [1, 4, 9]})
    hidden = pn.Column(plot(shared, "hidden a"), pn.pane.HTML(html.escape(HOSTILE)), visible=False)
    also_hidden = pn.Column(plot(shared, "hidden b"), visible=False)
    return pn.Tabs(
        ("Open", pn.Column(plot(title="open"), hidden, also_hidden)),
        ("Closed", pn.Column(plot(title="closed"), pn.Column(plot(title="nested"), visible=False))),
    )


@pytest.fixture(scope="module")
def pages() -> tuple[str, str]:
    """The same layout saved with parts drawn on demand, and saved whole (the old export)."""
    lazy = render_html(layout_with_hidden_parts())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(export, "defer_hidden", lambda page: page, raising=False)
        whole = render_html(layout_with_hidden_parts())
    return lazy, whole


def test_only_the_open_tab_and_its_shown_parts_are_built_on_load(pages):
    lazy, whole = pages
    assert names(loaded_document(whole))["Figure"] == 5
    on_load = names(loaded_document(lazy))
    assert on_load["Figure"] == 1  # "open": not the hidden views, not the closed tab
    # The closed tab and the two hidden views; the view hidden inside the closed tab too.
    assert len(deferred_parts(lazy)) == 4


def test_the_deferred_parts_hold_everything_the_whole_page_held(pages):
    lazy, whole = pages
    restored, saved = names(restored_documents(lazy)), names(loaded_document(whole))
    # Plus the loader, and stylesheet texts repeated in the page are shared models.
    assert restored.pop("CustomJS") == saved.pop("CustomJS", 0) + 1
    assert restored.pop("InlineStyleSheet") > saved.pop("InlineStyleSheet")
    assert restored == saved
    assert stylesheets(restored_documents(lazy)) == stylesheets(loaded_document(whole))
    assert external_references(lazy) == []


def test_each_part_refers_only_to_models_the_document_has_when_it_is_shown(pages):
    lazy, _whole = pages
    main = loaded_document(lazy)
    defined = {rep["id"] for rep in export_lazy._walk_models(main)}
    parts = deferred_parts(lazy)
    assert parts
    inside = {}  # part -> the part whose content lays it out (None: the document)
    for cid, patch in parts.items():
        for rep in export_lazy._walk_models(patch):
            if rep["id"] in parts:
                inside[rep["id"]] = cid

    def chain(cid):
        return [*chain(inside[cid]), cid] if cid in inside else [cid]

    for cid in parts:
        known = set(defined)
        for step in chain(cid):
            (event,) = parts[step]["events"]
            assert event["model"]["id"] in known
            assert_resolves(event["new"], known)
    # A data source two hidden views share is in the document once, not in each part.
    sources = [r for r in export_lazy._walk_models(main) if r["name"] == "ColumnDataSource"]
    shared = [s for s in sources if s["attributes"]["data"]["entries"][0][1] == [1, 2, 3]]
    assert any(json.dumps([1, 4, 9]) in json.dumps(s) for s in shared)
    assert all(json.dumps([1, 4, 9]) not in json.dumps(p) for p in parts.values())


def assert_resolves(value: Any, known: set[str]) -> None:
    """Decode ``value`` as BokehJS does (in order): every reference by id names a known model."""
    if isinstance(value, list):
        for item in value:
            assert_resolves(item, known)
    elif isinstance(value, dict):
        ident = value.get("id")
        if set(value) == {"id"}:
            assert ident in known, f"reference to a model the document does not have: {ident}"
        elif value.get("type") == "object" and isinstance(ident, str):
            known.add(ident)
            assert_resolves(value.get("attributes", {}), known)
        else:
            for item in value.values():
                assert_resolves(item, known)


def test_loader_is_wired_to_what_shows_each_part(pages):
    lazy, _whole = pages
    models = {r["id"]: r for r in export_lazy._walk_models(restored_documents(lazy))}

    def callbacks(rep, event):
        entries = dict(rep["attributes"].get("js_property_callbacks", {}).get("entries", []))
        return [c["id"] for c in entries.get(event, [])]

    assert deferred_parts(lazy)
    for cid in deferred_parts(lazy):
        rep = models[cid]
        shown_by = callbacks(rep, "change:visible")
        tabs = [
            m
            for m in models.values()
            if m["name"].endswith("Tabs")
            and any(
                models[p["id"]]["attributes"]["child"]["id"] == cid for p in m["attributes"]["tabs"]
            )
        ]
        assert LOADER_ID in shown_by or any(
            LOADER_ID in callbacks(t, "change:active") for t in tabs
        )


def test_deferred_parts_stay_escaped(pages):
    lazy, _whole = pages
    assert "<script>alert(1)" not in lazy
    assert len(deferred_parts(lazy)) == 4
    for m in re.finditer(rf'<script type="application/json" id="{DEFERRED_PREFIX}[^"]*">', lazy):
        body = lazy[m.end() : lazy.index("</script>", m.end())]
        assert "<" not in body
    texts = [
        r["attributes"].get("text", "")
        for r in export_lazy._walk_models(restored_documents(lazy))
        if r["name"] == "panel.models.markup.HTML"
    ]
    assert any("alert(1)" in text for text in texts)  # the text is there, as text


def test_a_page_without_hidden_parts_is_left_as_it_was():
    page = render_html(pn.Column(plot(title="one")))
    assert deferred_parts(page) == {}
    assert LOADER_ID not in page


def column(ident: str, children: list, **attributes) -> dict:
    return {
        "type": "object",
        "name": "Column",
        "id": ident,
        "attributes": {"children": children, **attributes},
    }


def saved_page(roots: list) -> str:
    docs = {"d": {"version": "3", "title": "t", "roots": roots}}
    body = html.escape(json.dumps(docs), quote=False)
    return f'<script type="application/json" id="docs">{body}</script>'


def test_a_closed_tab_shown_elsewhere_too_is_not_deferred():
    """A layout the open tab draws stays in the document: moving its children would leave the
    open tab empty."""
    child = column("child", [{"type": "object", "name": "Div", "id": "text"}])
    tabs = {
        "type": "object",
        "name": "Tabs",
        "id": "tabs",
        "attributes": {
            "tabs": [
                {"type": "object", "name": "TabPanel", "id": "t0", "attributes": {"child": child}},
                {
                    "type": "object",
                    "name": "TabPanel",
                    "id": "t1",
                    "attributes": {"child": {"id": "child"}},
                },
                {
                    "type": "object",
                    "name": "TabPanel",
                    "id": "t2",
                    "attributes": {
                        "child": column("closed", [{"type": "object", "name": "Div", "id": "x"}])
                    },
                },
            ]
        },
    }
    page = defer_hidden(saved_page([tabs]))
    assert set(deferred_parts(page)) == {"closed"}
