"""What the pages that list features share: the order of the most drifted first, a number
format for drift metrics, and for a static export the distributions of the most drifted features
with the browser-side switch between them. Drift Monitoring, Feature Statistics and Production
Data import it; no page imports another.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import panel as pn

from app import theme
from app.errors import DriftdeckError
from app.feature_drift import FeatureDrift
from app.pages.cards import METRIC_CELL, error_state
from app.pages.significance import NOT_SIGNIFICANT

log = logging.getLogger(__name__)

METRIC = METRIC_CELL
"""A drift measure in a table cell (``cards.METRIC_CELL``)."""


def drift_order(features: Mapping[str, FeatureDrift]) -> list[str]:
    """Feature names, most drifted first (the report's severity, then PSI or cardinality ratio);
    a PSI that is not significant ranks with the features that did not drift."""
    rank = {"critical": 0, "warning": 1, "ok": 2, NOT_SIGNIFICANT: 2, None: 3}

    def key(name: str) -> tuple:
        f = features[name]
        score = f.score
        return (rank[f.severity], -(score if theme.is_number(score) else 0), name)

    return sorted(features, key=key)


EXPORT_FEATURES = 20
"""Features whose detail a static export holds, most drifted first: each brings one or two plots,
and the details of hundreds of features would make the file slow to open."""

# Shows the detail of the chosen feature and hides the others (``views[i]`` is ``names[i]``'s).
SHOW_CHOSEN_JS = """
const chosen = select.value
names.forEach((name, i) => { views[i].visible = name === chosen })
"""


def distributions(monitor: Any, names: list[str]) -> dict[str, dict | Exception]:
    """The distribution of every feature named, or why it could not be computed: in a static
    export one feature's failure leaves the others drawn."""
    found: dict[str, dict | Exception] = {}
    for name in names:
        try:
            found[name] = monitor.distribution(name)
        except Exception as exc:
            log.warning("distribution of %s failed: %s", name, exc)
            found[name] = exc
    return found


def distribution_failed(exc: Exception) -> pn.pane.HTML:
    """What a static export shows in place of a distribution that could not be computed."""
    message = str(exc) if isinstance(exc, DriftdeckError) else f"{type(exc).__name__}: {exc}"
    return error_state("The distribution could not be computed.", message)


def show_chosen_in_browser(select: pn.widgets.Select, views: Mapping[str, Any]) -> Any:
    """Let the browser show the view of the option chosen in ``select`` and hide the others, for a
    static file with no server to redraw. ``views`` are keyed by option value. Returns the Panel
    callback."""
    # What the browser's select holds for each option: Panel sends str(value) when those are
    # unique, else the label.
    unique = len(set(select.unicode_values)) == len(select.values)
    sent = dict(zip(select.values, select.unicode_values if unique else select.labels, strict=True))
    named = {f"view_{i}": view for i, view in enumerate(views.values())}
    code = f"const views = [{', '.join(named)}]\n{SHOW_CHOSEN_JS}"
    names = [sent[value] for value in views]
    return select.jscallback(args={"select": select, "names": names, **named}, value=code)
