"""Panel's Fast template as the dashboard serves it air-gapped: no Google Fonts, no MathJax, no
stylesheet from a CDN; everything a browser loads comes from this server."""

from __future__ import annotations

from typing import Any

import panel as pn
from panel.io import resources as panel_resources
from panel.io.resources import CDN_DIST
from panel.theme.fast import Fast

from app.pages import canvas_styles

if hasattr(panel_resources, "_panel_use_mathjax"):
    # Panel adds Bokeh's MathJax bundle (1.8 MB of script for every browser to parse) to any page
    # holding an HTML pane, in case it shows LaTeX; Driftdeck's text never does, and without the
    # bundle Bokeh's MathJax provider just reports itself unavailable (no request leaves the server).
    panel_resources._panel_use_mathjax = lambda roots: False


class OfflineFast(Fast):
    """Panel's Fast design without its Google Fonts stylesheet (pages use system fonts)."""

    _resources = {
        **{key: value for key, value in Fast._resources.items() if key != "font"},
        # Panel prefixes relative resources with the class name; name the bundled file fully
        # so this subclass resolves it where Fast does (served from this server, not a CDN).
        "js_modules": {
            **Fast._resources["js_modules"],
            "fast-design": f"{CDN_DIST}bundled/fast/js/fast_design.js",
        },
    }


class DashboardTemplate(pn.template.FastListTemplate):
    """Panel's Fast list template, plus the script that spares Bokeh its CSS lookups."""

    _js = [pn.template.FastListTemplate._js, canvas_styles.SCRIPT]


def local_stylesheets(doc: Any) -> None:
    """Point a served session's stylesheets at this server before any model is made.

    Panel records where its stylesheets live when it renders the page's HTML; a session whose
    models exist before that, or that never gets it (seen with twenty concurrent sessions on two
    cores), falls back to cdn.holoviz.org, which an air-gapped browser cannot reach.
    """
    if doc is None or doc.session_context is None:
        return
    rel = pn.state.rel_path
    doc.template_variables.setdefault(
        "dist_url", f"{rel}/{panel_resources.LOCAL_DIST}" if rel else panel_resources.LOCAL_DIST
    )
