"""Static export: the saved page is rewritten so it loads nothing from outside the file."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import panel as pn
import pytest

from app.export import (
    BOKEH_JS,
    PANEL_DIST,
    export_html,
    external_references,
    local_file,
    make_offline,
    render_html,
    without_unused_webgl,
)
from app.export_lazy import restored_documents

HOLOVIZ = "https://cdn.holoviz.org/panel/1.9.4/dist/"


def small_dashboard():
    import hvplot.pandas  # noqa: F401  (registers .hvplot)

    frame = pd.DataFrame({"day": range(10), "rows": [5, 7, 6, 9, 12, 11, 15, 14, 18, 20]})
    frame["district"] = ["north", "south"] * 5
    return {
        "Plot": pn.Column("## Rows per day", frame.hvplot.line("day", "rows")),
        "Table": pn.widgets.Tabulator(frame, pagination="local", page_size=5),
    }


def json_doc(sheets: list[dict]) -> str:
    doc = {"roots": [{"type": "object", "name": "Column", "attributes": {"stylesheets": sheets}}]}
    return html.escape(json.dumps(doc), quote=False)


def test_local_file_maps_cdn_urls_into_the_installed_packages():
    assert (
        local_file(HOLOVIZ + "css/loading.css?v=1.9.4")
        == (PANEL_DIST / "css/loading.css").resolve()
    )
    assert local_file("//cdn.holoviz.org/panel/1.9.4/dist/bundled/theme/default.css") is not None
    bokeh = local_file("https://cdn.bokeh.org/bokeh/release/bokeh-widgets-3.9.2.min.js")
    assert bokeh == (BOKEH_JS / "bokeh-widgets.min.js").resolve()
    assert local_file("https://cdn.jsdelivr.net/npm/notyf@3/notyf.min.js") is not None
    assert local_file(HOLOVIZ + "../../../../../etc/passwd") is None
    assert local_file("https://example.com/app.js") is None


def test_links_scripts_and_fonts_are_inlined_or_dropped():
    page = (
        "<html><head>"
        f'<link rel="icon" href="{HOLOVIZ}images/favicon.ico">'
        f'<link rel="stylesheet" href="{HOLOVIZ}css/loading.css?v=1.9.4">'
        '<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Open+Sans">'
        '<script src="https://cdn.bokeh.org/bokeh/release/bokeh-3.9.2.min.js"></script>'
        '<script src="https://example.com/tracker.js"></script>'
        # Markup inside JavaScript is code, not a tag: it must stay as it is.
        '<script>const tag = \'<link rel="stylesheet" href="https://cdn.holoviz.org/x.css">\'</script>'
        "</head><body><a href='https://panel.holoviz.org'>docs</a></body></html>"
    )
    out = make_offline(page)
    assert external_references(out) == []
    assert "data:image/vnd.microsoft.icon;base64," in out
    assert "arc_spinner" not in out and "data:image/svg+xml;base64," in out  # loading.css url()s
    assert "fonts.googleapis" not in out and "example.com" not in out
    assert "Bokeh" in out and "<\\/script" not in out.split("const tag")[1]
    assert 'href="https://cdn.holoviz.org/x.css">\'</script>' in out
    assert "href='https://panel.holoviz.org'" in out  # a text link is content, not a resource


def test_imported_stylesheets_in_documents_become_inline():
    sheet = {
        "type": "object",
        "name": "ImportedStyleSheet",
        "id": "p1",
        "attributes": {"url": HOLOVIZ + "bundled/font-awesome/css/all.min.css"},
    }
    raw = "@import url('https://fonts.googleapis.com/css?family=Lato'); .x { color: red }"
    page = f'<script type="application/json" id="d">{json_doc([sheet, raw])}</script>'
    out = make_offline(page)
    assert external_references(out) == []
    body = out.split('id="d">', 1)[1].rsplit("</script>", 1)[0]
    doc = json.loads(html.unescape(body))
    inline, text = doc["roots"][0]["attributes"]["stylesheets"]
    assert inline["name"] == "InlineStyleSheet" and inline["id"] == "p1"
    css = inline["attributes"]["css"]
    # Font Awesome: the woff2 sources only, embedded; no other format left.
    assert css.count("data:font/woff2;base64,") == 3
    assert ".ttf" not in css and ".eot" not in css and "url(../webfonts" not in css
    assert text.strip() == ".x { color: red }"


def test_relative_urls_in_inlined_package_css_are_embedded():
    css = "@font-face{font-family:X;src:url(../webfonts/fa-solid-900.woff2) format('woff2')}"
    css += ".spin{background:url('../assets/arc_spinner.svg')} .gone{background:url(nowhere.png)}"
    out = make_offline(f"<style>{css}</style>")
    assert external_references(out) == []
    assert "data:font/woff2;base64," in out and "data:image/svg+xml;base64," in out
    assert "background:none" in out


def test_external_references_sees_what_a_browser_would_fetch():
    page = (
        '<link rel="stylesheet" href="https://cdn.example.org/a.css">'
        '<script src="//cdn.example.org/b.js"></script>'
        "<style>@import 'https://cdn.example.org/c.css'; .y{background:url(https://x.org/d.png)}</style>"
        f'<script type="application/json" id="d">{json_doc([{"type": "object", "name": "ImportedStyleSheet", "id": "p2", "attributes": {"url": "https://cdn.example.org/e.css"}}])}</script>'
        "<p>https://example.com/plain-text</p>"
        "<script type='module'>import {x} from '../../lib/x.js'; const y = import(\"./y.js\")</script>"
        "<style>.z{background:url(fonts/z.woff2)} .d{background:url('data:image/png;base64,AA')}</style>"
    )
    assert external_references(page) == [
        "https://cdn.example.org/a.css",
        "//cdn.example.org/b.js",
        "https://cdn.example.org/c.css",
        "https://x.org/d.png",
        "https://cdn.example.org/e.css",
        "../../lib/x.js",
        "./y.js",
        "fonts/z.woff2",
    ]


def test_saved_dashboard_has_no_remote_resources(tmp_path):
    out = export_html(small_dashboard(), tmp_path / "sub" / "dashboard.html", title="Test export")
    text = out.read_text(encoding="utf-8")
    assert external_references(text) == []
    assert "<title>Test export</title>" in text
    assert "cdn.holoviz.org/panel" not in text.split('type="application/json"')[1]


def test_the_webgl_bundle_is_left_out_unless_a_plot_draws_with_webgl():
    core = '<script type="text/javascript">/* BEGIN bokeh.min.js */ core()</script>'
    gl = '<script type="text/javascript">\n  /* BEGIN bokeh-gl.min.js */ gl()\n</script>'
    doc = '<script type="application/json" id="d">{"output_backend": "webgl"}</script>'
    assert without_unused_webgl(core + gl + "<p>x</p>") == core + "<p>x</p>"
    assert without_unused_webgl(core + gl + doc) == core + gl + doc


@pytest.mark.parametrize("content", ["# Just markdown", pn.pane.Markdown("**bold**")])
def test_any_viewable_renders(content):
    assert external_references(render_html(content)) == []


def test_templates_are_refused_with_a_reason():
    with pytest.raises(TypeError, match="not a Panel template"):
        render_html(pn.template.BootstrapTemplate(main=["x"]))


# -- the pages' controls work in the file ------------------------------------------------------


def saved_models(page: str) -> dict[str, dict]:
    """Every model of the saved page's Bokeh documents, by id, with the parts drawn on demand
    (hidden views, closed tabs) in place, as the browser has them once they are shown."""
    docs = restored_documents(page)
    models: dict[str, dict] = {}

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "id" in node and "name" in node:
                models[node["id"]] = node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(docs)
    return models


def named(models: dict[str, dict], name: str) -> list[dict]:
    return [m for m in models.values() if m["name"] == name]


def entries(attribute: dict) -> dict:
    """A Bokeh map attribute as a dict."""
    return dict(attribute["entries"])


def _hidden(attributes: dict) -> bool:
    """Whether a saved model is hidden: not visible, or by its inline style (``cards.show``)."""
    styles = attributes.get("styles") or {}
    entries = dict(styles.get("entries", [])) if isinstance(styles, dict) else {}
    return attributes.get("visible") is False or entries.get("display") == "none"


def shown_markup(model: dict, models: dict[str, dict]) -> list[str]:
    """The markup of every HTML pane under ``model``, in document order, as the page drew it."""
    found, seen = [], set()

    def walk(node):
        if isinstance(node, dict):
            if set(node) == {"id"}:
                node = models[node["id"]]
            if "id" in node:
                if node["id"] in seen:
                    return
                seen.add(node["id"])
            if node is not model and _hidden(node.get("attributes") or {}):
                return  # a pane the page keeps hidden for another feature
            if node.get("name") == "panel.models.markup.HTML":
                found.append(html.unescape(node["attributes"]["text"]))
            for value in node.get("attributes", node).values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(model)
    return found


def test_exported_feature_list_switches_the_detail_without_a_server(world):
    from app.export import render_pages
    from app.pages.features import FeatureStatistics
    from tests.page_helpers import html_texts, monitor_on

    monitor = monitor_on(world)
    page = render_pages(monitor, "features")
    assert external_references(page) == []
    models = saved_models(page)
    live = FeatureStatistics(monitor=monitor)
    live.__panel__().get_root()
    order = list(live.table.value["feature"])

    (select,) = named(models, "panel.models.widgets.CustomSelect")
    (switch,) = entries(select["attributes"]["js_property_callbacks"])["change:value"]
    args = entries(models[switch["id"]]["attributes"]["args"])
    assert args["names"] == order == select["attributes"]["options"]
    views = [models[args[f"view_{i}"]["id"]] for i in range(len(order))]
    shown = [n for n, v in zip(order, views, strict=True) if v["attributes"].get("visible", True)]
    assert shown == [select["attributes"]["value"]]
    # Each view holds what the live page shows once that feature is chosen.
    for name, view in zip(order, views, strict=True):
        live.feature.value = name
        assert shown_markup(view, models) == html_texts(pn.Column(*live.detail_body.objects[1:]))

    (table,) = named(models, "panel.models.tabulator.DataTabulator")
    source = models[table["attributes"]["source"]["id"]]
    selected = models[source["attributes"]["selected"]["id"]]
    (click,) = entries(selected["attributes"]["js_property_callbacks"])["change:indices"]
    click_args = entries(models[click["id"]]["attributes"]["args"])
    assert click_args["rows"] == order and click_args["select"]["id"] == select["id"]


def test_exported_rows_page_and_the_explorer_switches_in_the_browser(world):
    from app.export import render_pages
    from app.pages.base import data_report
    from app.pages.production import EXPORT_ROWS, PAGE_SIZE
    from tests.page_helpers import monitor_on

    monitor = monitor_on(world)
    page = render_pages(monitor, "production")
    models = saved_models(page)
    (table,) = named(models, "panel.models.tabulator.DataTabulator")
    assert table["attributes"]["pagination"] == "local"
    assert table["attributes"]["page_size"] == PAGE_SIZE
    data = entries(models[table["attributes"]["source"]["id"]]["attributes"]["data"])
    newest = monitor.production_rows(0, EXPORT_ROWS)
    ids = data["request_id"]  # an object ndarray: its values are listed
    assert ids.get("array", ids) == list(newest["request_id"])
    assert len(newest) == EXPORT_ROWS < monitor.engine.window_rows(monitor.window)["inputs"]
    text = "".join(
        html.unescape(m["attributes"]["text"]) for m in named(models, "panel.models.markup.HTML")
    )
    assert f"This file holds the {EXPORT_ROWS} most recent of them" in text

    # The distribution explorer: one view per feature, switched by the feature list.
    (select,) = named(models, "panel.models.widgets.CustomSelect")
    (switch,) = entries(select["attributes"]["js_property_callbacks"])["change:value"]
    args = entries(models[switch["id"]]["attributes"]["args"])
    options = [value for value, _label in select["attributes"]["options"]]
    assert args["names"] == options and set(options) == set(data_report(monitor)["features"])
    views = [models[args[f"view_{i}"]["id"]] for i in range(len(options))]
    shown = [n for n, v in zip(options, views, strict=True) if v["attributes"].get("visible", True)]
    assert shown == [select["attributes"]["value"]]


def test_exported_drift_comparison_switches_in_the_browser(world, monkeypatch):
    from app.export import render_pages
    from app.pages.features import FeatureStatistics
    from tests.page_helpers import export_at_most, monitor_on

    # Fewer than the world's features: the file holds the same most drifted ones as Feature
    # Statistics.
    export_at_most(monkeypatch, 3)
    monitor = monitor_on(world)
    page = render_pages(monitor, "drift")
    assert external_references(page) == []
    models = saved_models(page)
    detailed = FeatureStatistics(monitor=monitor, static=True)
    detailed.__panel__().get_root()
    order = list(detailed.details)  # the features whose detail the file holds
    assert len(order) == 3

    (select,) = named(models, "panel.models.widgets.CustomSelect")
    (switch,) = entries(select["attributes"]["js_property_callbacks"])["change:value"]
    args = entries(models[switch["id"]]["attributes"]["args"])
    assert args["names"] == order == select["attributes"]["options"]
    views = [models[args[f"view_{i}"]["id"]] for i in range(len(order))]
    shown = [n for n, v in zip(order, views, strict=True) if v["attributes"].get("visible", True)]
    assert shown == [select["attributes"]["value"]]
    # A view per feature, each drawing its reference-vs-production chart.
    assert all(has_figure(view, models) for view in views)


def has_figure(model: dict, models: dict[str, dict]) -> bool:
    """Whether a Bokeh figure is drawn anywhere under ``model``."""
    stack, seen = [model], set()
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            if set(node) == {"id"}:
                node = models.get(node["id"], node)
            if node.get("id") in seen:
                continue
            seen.add(node.get("id"))
            if node.get("name") == "Figure":
                return True
            stack.extend(node.get("attributes", node).values())
    return False


def test_export_names_its_window(world):
    from app.export import render_pages
    from tests.page_helpers import monitor_on

    def header(monitor) -> str:
        models = saved_models(render_pages(monitor, "overview"))
        texts = [
            html.unescape(m["attributes"]["text"])
            for m in named(models, "panel.models.markup.HTML")
        ]
        return next(t for t in texts if "exported" in t)

    monitor = monitor_on(world)
    assert monitor.window_label().startswith("Last 7d (")
    assert f"Time window: {monitor.window_label()} · exported" in header(monitor)
    monitor.all_rows()
    assert "Time window: All production rows · exported" in header(monitor)


def test_export_leaves_out_controls_only_a_server_answers(world):
    from app.export import render_pages
    from tests.page_helpers import monitor_on

    page = render_pages(monitor_on(world))
    text = html.unescape(page)
    for control in ("Reset time window", "All rows", "Reload from MLflow", "Drag across"):
        assert control not in text, control
    models = saved_models(page)
    assert not named(models, "Button")
    # Nor the time-range selection of the timelines and the drift heatmap (it sets the window).
    assert not named(models, "BoxSelectTool")
    assert named(models, "HoverTool")  # the charts are there, with their other tools
    # The live pages do have them: only the file leaves them out.
    from bokeh.models import BoxSelectTool

    from app.pages.drift import DriftMonitoring
    from app.pages.overview import Overview
    from app.pages.performance import PerformanceMetrics

    labels = {}
    for view in (Overview, PerformanceMetrics, DriftMonitoring):
        layout = view(monitor=monitor_on(world)).__panel__()
        labels[view] = [b.label for b in layout.select(pn.widgets.Button)]
        assert {"Reset time window", "All rows"} <= set(labels[view])
        assert list(layout.get_root().select({"type": BoxSelectTool})), view.__name__
    assert "Reload from MLflow" in labels[PerformanceMetrics]


# -- the file opens fast: only the open page is built on load ----------------------------------

LOADED_FIGURES = 6
LOADED_MODELS = 400
LOADED_JSON_CHARS = 600_000


def test_export_builds_only_the_open_page_when_it_opens(world):
    """Built whole, the six pages took 20-50 s to draw a first chart: BokehJS builds a view for
    every model of the document, hidden or not. The document the file embeds on load holds the
    open page (Overview) only; the other pages and the hidden per-feature views wait in the file."""
    from app.export import render_pages
    from app.export_lazy import DEFERRED_PREFIX, deferred_parts
    from tests.page_helpers import monitor_on

    page = render_pages(monitor_on(world))
    scripts = re.findall(
        r'<script type="application/json" id="([^"]*)">(.*?)</script>', page, flags=re.DOTALL
    )
    (loaded,) = [body for ident, body in scripts if not ident.startswith(DEFERRED_PREFIX)]
    on_load = json.loads(html.unescape(loaded))
    models = walk_models(on_load)
    assert sum(m["name"] == "Figure" for m in models) <= LOADED_FIGURES
    assert len(models) <= LOADED_MODELS
    assert len(loaded) <= LOADED_JSON_CHARS
    # Everything else is still in the file, drawn when shown: every page and feature view.
    everything = saved_models(page)
    assert len(named(everything, "Figure")) >= 20
    assert len(deferred_parts(page)) >= 10
    # Data and styles once: no model written twice in the file, no stylesheet text repeated.
    written = [m for _ident, body in scripts for m in walk_models(json.loads(html.unescape(body)))]
    assert len({m["id"] for m in written}) == len(written)
    sheets = [m["attributes"]["css"] for m in written if m["name"] == "InlineStyleSheet"]
    sheets += [
        s
        for m in written
        for s in m.get("attributes", {}).get("stylesheets", [])
        if isinstance(s, str)
    ]
    assert len(set(sheets)) == len(sheets)
    # The JavaScript once, whatever the number of parts.
    assert page.count("/* BEGIN bokeh.min.js */") == 1
    assert page.count("/* BEGIN panel.min.js */") == 1
    assert "/* BEGIN bokeh-gl.min.js */" not in page  # the charts draw on a canvas
    assert external_references(page) == []


def walk_models(node) -> list[dict]:
    """Every model written in full in a Bokeh document JSON."""
    found = []
    if isinstance(node, dict):
        if node.get("type") == "object" and "id" in node and "name" in node:
            found.append(node)
        for value in node.values():
            found += walk_models(value)
    elif isinstance(node, list):
        for value in node:
            found += walk_models(value)
    return found
