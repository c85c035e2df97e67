"""Stand-in pages that show their title until the real page lands in ``app.pages``."""

from __future__ import annotations

import panel as pn
import param


class Placeholder(pn.viewable.Viewer):
    """A page that only says what it will show; replaced page by page."""

    monitor = param.ClassSelector(
        class_=object, doc="""The Monitor whose results the page draws."""
    )

    title = param.String(default="Page", doc="""The page's title.""")

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(f"## {self.title}"),
            pn.pane.Markdown("This page is being built.", styles={"opacity": "0.7"}),
            sizing_mode="stretch_width",
        )


class Overview(Placeholder):
    title = param.String(default="Overview")


class DriftMonitoring(Placeholder):
    title = param.String(default="Drift Monitoring")


class FeatureStatistics(Placeholder):
    title = param.String(default="Feature Statistics")


class PerformanceMetrics(Placeholder):
    title = param.String(default="Performance Metrics")


class ProductionData(Placeholder):
    title = param.String(default="Production Data")


class Alerts(Placeholder):
    title = param.String(default="Alerts")
