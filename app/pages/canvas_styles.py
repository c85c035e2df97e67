"""Bokeh's canvas without CSS theming: plots take their colours, lines and fonts from Python.

Bokeh 3.9 lets ``--bk-*`` CSS variables restyle what it paints on a canvas, so before every line,
fill and text property it reads (``VisualProperties._get_css_value``) it asks the browser for the
element's computed style: some 70,000 reads for the six pages of the demo world, each of which
can make the browser recompute the document's styles. Driftdeck defines no such variable (its
themes are Bokeh themes set from Python), so every read answers "". ``canvas_styles.js``, loaded
by the served template right after BokehJS, answers "" without asking: measured on the demo
world, the browser's main thread spends about an eighth less time on the pages a session builds
(bokeh/bokeh#15286, open; bokeh/bokeh#15205 caches the reads in a Bokeh not yet released). If a
Bokeh release moves the method, the script does nothing and plots look the same.
"""

from __future__ import annotations

from pathlib import Path

SCRIPT = Path(__file__).with_suffix(".js")
