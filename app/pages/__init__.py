"""The six pages in navigation order: URL slug → title and the Viewer that draws the page.

A page is a ``pn.viewable.Viewer`` built as ``view(monitor=monitor)``: it declares
``monitor = param.ClassSelector(class_=Monitor)`` and returns a plain layout from
``__panel__`` (no template), so it embeds in any Panel app; the shell (``app.pages.shell``)
and the static export wrap it. Pages share the Monitor's time window (``monitor.start``,
``monitor.end``) and only draw what the Monitor returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from app.pages.alerts import Alerts
from app.pages.drift import DriftMonitoring
from app.pages.features import FeatureStatistics
from app.pages.overview import Overview
from app.pages.performance import PerformanceMetrics
from app.pages.production import ProductionData


class PageEntry(NamedTuple):
    """One navigation entry: its title and what builds the page from a Monitor."""

    title: str
    view: Callable[..., Any]


PAGES: dict[str, PageEntry] = {
    "overview": PageEntry("Overview", Overview),
    "drift": PageEntry("Drift Monitoring", DriftMonitoring),
    "features": PageEntry("Feature Statistics", FeatureStatistics),
    "performance": PageEntry("Performance Metrics", PerformanceMetrics),
    "production": PageEntry("Production Data", ProductionData),
    "alerts": PageEntry("Alerts", Alerts),
}

DEFAULT_PAGE = "overview"


def build_page(slug: str, monitor: Any) -> Any:
    """The page at ``slug`` drawing from ``monitor``; a clear error for an unknown slug."""
    try:
        entry = PAGES[slug]
    except KeyError:
        raise ValueError(f"unknown page {slug!r} (expected one of: {', '.join(PAGES)})") from None
    return entry.view(monitor=monitor)
