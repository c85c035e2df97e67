"""Performance Metrics: the model as MLflow knows it, and its predictions in production.

MLflow sections (latest model, trends across runs, all training runs, registry) read through
the shared MLflow cache; when MLflow is down they say "MLflow unreachable at <URI>" while the
data sections (prediction statistics, production accuracy, estimated accuracy, model versions)
still draw from the Monitor. The estimated accuracy, the model versions and their A/B tests are
the report's (docs/metrics.md, "Accuracy now" and "Model versions and A/B tests"): this page
only draws them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - the Bokeh backend draws every plot
import pandas as pd
import panel as pn

from app import theme
from app.mlflow_location import store_location
from app.mlflow_reader import MLflowUnavailable
from app.pages import blocks, charts, distribution_charts, timelines
from app.pages.base import MonitorPage, accuracy_history, data_report, history_over_time
from app.pages.cards import (
    MIN_SECTION_WIDTH,
    KpiCard,
    data_problems,
    empty_state,
    missing_production,
    section,
    wrapping_row,
)
from app.pages.estimated_accuracy import estimated_accuracy
from app.pages.mlflow_cache import MLflowCache, unavailable_note
from app.pages.mlflow_sections import latest_model, registry_view, run_trends, runs_table
from app.pages.model_versions import ab_tests_view, version_name, versions_view
from app.report_types import PredictionDrift, Report
from app.window import Window

TABLE_WIDTH = 360
"""Width of the class-share table beside the class-share chart."""


class PerformanceMetrics(MonitorPage):
    """Training runs, registry and production prediction statistics of the monitored model."""

    title: ClassVar[str] = "Performance Metrics"

    def _build(self) -> list[Any]:
        uri = store_location(self.monitor.config).display
        latest, self.latest_body = section(
            "Latest model metrics",
            note=f"From MLflow at {uri}: the model version with the production alias, else the "
            "newest training run.",
        )
        trend, self.trend_body = section("Trends across training runs", min_height=charts.HEIGHT)
        runs, self.runs_body = section("All training runs")
        registry, self.registry_body = section("Registry versions and aliases")
        predictions, self.predictions_body = section(
            "Production prediction statistics",
            note="Predicted classes in the selected time window against the reference; the "
            "timeline shows every production row with the time window shaded."
            + ("" if self.static else " Drag across the timeline to set the window of every page."),
            min_height=charts.HEIGHT,
        )
        accuracy, self.accuracy_body = section(
            "Production accuracy over time",
            note="Predictions compared with the delayed labels that have arrived for them: the "
            "cards over the time window, the chart over every production row with the time "
            "window shaded.",
        )
        estimated, self.estimated_body = section(
            "Estimated vs realized accuracy",
            note="Accuracy without labels, estimated from the model's confidence in each "
            "prediction (CBPE, calibrated on every labelled prediction), per time bucket of the "
            "time window with its 95 % band, beside the realized accuracy where delayed labels "
            "have arrived; the dashed line is the accuracy baseline.",
            min_height=charts.HEIGHT,
        )
        self.versions_card, self.versions_body = section(
            "Model versions",
            note="The versions named in the predictions' model version column: each one's share "
            "of the traffic over every production row (time window shaded"
            + ("" if self.static else "; drag across the chart to set the window of every page")
            + "), its predictions in the time window beside the metrics MLflow's registry holds "
            "for that version number, and the A/B tests between them.",
            visible=False,
        )
        self.reload_mlflow = pn.widgets.Button(
            label="Reload from MLflow",
            color="primary",
            variant="outline",
            width=170,
            margin=(8, 10),
        )
        self.reload_mlflow.on_click(self._reload_mlflow)
        self.latest_cards: dict[str, KpiCard] = {}
        self.prediction_cards: dict[str, KpiCard] = {}
        self.accuracy_cards: dict[str, KpiCard] = {}
        self.estimated_cards: dict[str, KpiCard] = {}
        # The traffic and predictions timelines' Bokeh figures (None until drawn): a drag across
        # either sets the window.
        self.traffic_plot: Any = None
        self._traffic_buckets: list[dict] = []
        self._traffic_width = charts.bucket_width(None)
        self.timeline_plot: Any = None
        self._buckets: list[dict] = []
        self._width = charts.bucket_width(None)
        # A static file has no server to reload from.
        reload_row = (
            []
            if self.static
            else [pn.Row(pn.layout.HSpacer(), self.reload_mlflow, sizing_mode="stretch_width")]
        )
        return [
            *reload_row,
            latest,
            trend,
            runs,
            registry,
            predictions,
            accuracy,
            estimated,
            self.versions_card,
        ]

    def reload(self) -> None:
        self._load_mlflow()
        monitor = self.monitor
        self.load(
            "predictions", self._read_predictions, self._draw_predictions, self.predictions_body
        )
        self.load(
            "accuracy",
            lambda: {
                "window": monitor.accuracy_over_time(),
                "history": accuracy_history(monitor),
                "extent": monitor.full_range(),
            },
            self._draw_accuracy,
            self.accuracy_body,
        )
        self.load(
            "estimated", lambda: data_report(monitor), self._draw_estimated, self.estimated_body
        )
        self.load("versions", self._read_versions, self._draw_versions, self.versions_body)

    def _load_mlflow(self) -> None:
        bodies = (self.latest_body, self.trend_body, self.runs_body, self.registry_body)
        self.load("mlflow", self._read_mlflow, self._draw_mlflow, *bodies)

    def _reload_mlflow(self, _event: Any = None) -> None:
        MLflowCache.clear(self.monitor.config)
        self._load_mlflow()

    # -- MLflow ---------------------------------------------------------------------------
    def _read_mlflow(self) -> dict:
        config = self.monitor.config
        out: dict[str, Any] = {}
        for what in ("training_runs", "registry"):
            try:
                out[what] = MLflowCache.get(config, what)
            except MLflowUnavailable as exc:
                out[what] = exc
        return out

    def _draw_mlflow(self, result: dict) -> None:
        runs, registry = result["training_runs"], result["registry"]
        bodies = (self.latest_body, self.trend_body, self.runs_body, self.registry_body)
        if isinstance(runs, MLflowUnavailable) and isinstance(registry, MLflowUnavailable):
            self.latest_cards = {}
            for body in bodies:
                body.objects = [unavailable_note(runs, self.monitor.config)]
            return
        self.latest_cards, self.latest_body.objects = latest_model(runs, registry)
        self.trend_body.objects = run_trends(runs)
        self.runs_body.objects = runs_table(runs)
        self.registry_body.objects = registry_view(registry)

    # -- production -----------------------------------------------------------------------
    def _read_predictions(self) -> dict:
        report = data_report(self.monitor)
        over_time = history_over_time(self.monitor)
        return {
            "drift": report.prediction_drift,
            "rows": report.rows,
            "over_time": over_time,
            "level": self.monitor.config.thresholds["prediction_kl"],
        }

    def _draw_predictions(self, result: dict) -> None:
        self.prediction_cards, objects = prediction_statistics(result, self.monitor)
        over_time = result["over_time"]
        plot = (
            timelines.predictions_timeline(
                over_time, self.shaded_window(), selectable=not self.static
            )
            if over_time.get("predictions")
            else None
        )
        self.timeline_plot = None
        if plot is not None and len(objects) > 1:
            self._buckets = list(over_time.get("buckets") or [])
            self._width = charts.bucket_width(over_time.get("width"))
            self.timeline_plot = plot
            if not self.static:
                charts.on_time_range_selected(plot, self._timeline_selected)
            objects.append(charts.figure_pane(plot))
        self.predictions_body.objects = objects

    def _timeline_selected(self, start: Any, end: Any) -> None:
        self.select_window(charts.snap_to_buckets(start, end, self._buckets, self._width))

    def _draw_accuracy(self, result: dict) -> None:
        self.accuracy_cards, self.accuracy_body.objects = production_accuracy(
            result["window"],
            self.monitor.config,
            result["history"],
            self.shaded_window(),
            result["extent"],
        )

    def _draw_estimated(self, report: Report) -> None:
        self.estimated_cards, self.estimated_body.objects = estimated_accuracy(report)

    # -- model versions -------------------------------------------------------------------
    def _read_versions(self) -> dict:
        report = data_report(self.monitor)
        out: dict[str, Any] = {
            "versions": report.versions,
            "ab_tests": list(report.sections.get("ab_tests") or []),
            "traffic": None,
            "registry": None,
        }
        if not out["versions"]:
            return out
        out["traffic"] = version_traffic_history(self.monitor)
        try:
            out["registry"] = MLflowCache.get(self.monitor.config, "registry")
        except MLflowUnavailable as exc:
            out["registry"] = exc
        return out

    def _draw_versions(self, result: dict) -> None:
        versions = result["versions"]
        self.traffic_plot = None
        if not versions:
            # The section stays hidden; its body says what would show it (for anyone embedding it).
            self.versions_card.visible = False
            self.versions_body.objects = [
                empty_state(
                    "The predictions name no model version.",
                    "Log the version (or A/B variant) that served each prediction in a column "
                    "named model_version or variant, or name it in [columns] model_version.",
                )
            ]
            return
        objects: list = []
        traffic = result["traffic"] or {}
        served = [*versions, *(k for b in traffic.get("buckets") or [] for k in b["rows"])]
        names = {str(name): version_name(name) for name in served}
        plot = timelines.version_traffic_timeline(
            traffic, self.shaded_window(), names, selectable=not self.static
        )
        if plot is None:
            objects.append(
                empty_state(
                    "No traffic over time to show.",
                    "Each version's share over time needs the predictions' timestamp column "
                    "([columns] timestamp).",
                )
            )
        else:
            self._traffic_buckets = list(traffic.get("buckets") or [])
            self._traffic_width = charts.bucket_width(traffic.get("width"))
            self.traffic_plot = plot
            if not self.static:
                charts.on_time_range_selected(plot, self._traffic_selected)
            objects.append(blocks.subheading("Traffic share per time bucket"))
            objects.append(charts.figure_pane(plot))
        objects += versions_view(versions, result["registry"])
        objects += ab_tests_view(versions, result["ab_tests"])
        self.versions_body.objects = objects
        self.versions_card.visible = True

    def _traffic_selected(self, start: Any, end: Any) -> None:
        self.select_window(
            charts.snap_to_buckets(start, end, self._traffic_buckets, self._traffic_width)
        )


def version_traffic_history(monitor: Any) -> dict | None:
    """Rows per model version per time bucket over every production row, whatever the window:
    the traffic chart shows the whole history with the window shaded (as the other timelines)."""
    from app.versions import model_versions

    return model_versions(monitor.engine, Window())["version_traffic"]


# -- production blocks --------------------------------------------------------------------------


def prediction_statistics(result: dict, monitor: Any) -> tuple[dict[str, KpiCard], list]:
    """KPI cards (rows, KL, JS, top class), class shares against the reference, and a table."""
    drift: PredictionDrift = result["drift"]
    rows = result["rows"]
    production = drift.production or {}
    reference = drift.reference or {}
    if not rows.get("inputs") and not rows.get("predictions"):
        return {}, [missing_production(monitor)]
    if not production:
        return {}, [
            empty_state(
                "No production predictions in this window.",
                f"{data_problems(monitor, 'predictions')}"
                f"Driftdeck reads predictions from {monitor.config.predictions} (the column named in "
                "[columns] prediction); widen the time window or check that predictions are logged.",
            )
        ]
    level = result["level"]
    kl = drift.kl
    top = max(production.items(), key=lambda kv: kv[1])
    predictions = rows.get("predictions")
    cards = {
        "predictions": blocks.kpi(
            "Predictions", predictions, theme.format_count(predictions), "in the time window"
        ),
        "kl": blocks.kpi(
            "Prediction drift (KL)",
            kl,
            theme.format_metric(kl),
            f"warning at {level.warning:g}, critical at {level.critical:g}",
            drift.severity,
        ),
        "js": blocks.kpi(
            "Jensen–Shannon",
            drift.js,
            theme.format_metric(drift.js),
            "reference vs production",
        ),
        "top_class": blocks.kpi(
            "Most predicted class",
            top[1],
            str(top[0]),
            f"{theme.format_share(top[1])} of predictions",
        ),
    }
    classes = sorted(set(reference) | set(production), key=str)
    table_rows = [
        [
            cls,
            theme.format_share(reference.get(cls)),
            theme.format_share(production.get(cls)),
            _change(reference.get(cls), production.get(cls)),
        ]
        for cls in classes
    ]
    bars = distribution_charts.class_share_bars(reference, production)
    table = blocks.html_pane(
        blocks.table(["Class", "Reference", "Production", "Change"], table_rows, numeric=[1, 2, 3]),
        width=TABLE_WIDTH,
        sizing_mode=None,
    )
    row = (
        [table]
        if bars is None
        else [
            pn.pane.HoloViews(
                bars, sizing_mode="stretch_width", height=charts.HEIGHT, backend="bokeh"
            ),
            table,
        ]
    )
    widths = [MIN_SECTION_WIDTH, TABLE_WIDTH][-len(row) :]
    return cards, [blocks.kpi_row(cards.values()), wrapping_row(*row, min_width=widths)]


def _change(before: Any, after: Any) -> str:
    if not theme.is_number(before) or not theme.is_number(after):
        return theme.NO_VALUE
    return f"{(after - before) * 100:+.1f} pp"


def production_accuracy(
    result: dict,
    config: Any,
    history: dict | None = None,
    window: tuple[Any, Any] | None = None,
    extent: tuple[Any, Any] | None = None,
) -> tuple[dict[str, KpiCard], list]:
    """Accuracy of the logged predictions against delayed labels: cards over the time window
    (``result``), and a chart per time bucket of ``history`` (default: the window's buckets) with
    ``window`` shaded, its time axis covering at least ``extent`` (the production rows)."""
    history = result if history is None else history
    buckets = [b for b in history.get("buckets") or [] if theme.is_number(b.get("accuracy"))]
    labels = config.labels or "data/production/labels.parquet"
    if not buckets:
        return {}, [
            empty_state(
                "No delayed labels yet.",
                f"Production accuracy needs ground truth: Driftdeck joins {labels} to the "
                "predictions by the id column ([columns] id) and compares its true class "
                "([columns] target) with the prediction. Add labels there (README, Data "
                "contract).",
            )
        ]
    labelled, accuracy = result.get("labelled"), result.get("accuracy")
    width = history.get("width") or "bucket"
    if labelled and theme.is_number(accuracy):
        cards = {
            "accuracy": blocks.kpi(
                "Production accuracy",
                accuracy,
                theme.format_share(accuracy),
                "over the labelled predictions in the time window",
            ),
            "labelled": blocks.kpi(
                "Labelled predictions",
                labelled,
                theme.format_count(labelled),
                "with a delayed label, in the time window",
            ),
            "buckets": blocks.kpi(
                "Labelled time buckets",
                len(buckets),
                theme.format_count(len(buckets)),
                f"one per {width}, in the chart",
            ),
        }
        head: list = [blocks.kpi_row(cards.values())]
    else:
        cards = {}
        head = [
            empty_state(
                "No delayed labels for this time window yet.",
                "Labels arrive after their predictions: the chart shows the accuracy of every "
                "labelled time bucket, and a window over them gives its cards.",
            )
        ]
    frame = pd.DataFrame(
        {
            "start": [charts.naive_utc(b["start"]) for b in buckets],
            "accuracy": [float(b["accuracy"]) for b in buckets],
            "labelled": [int(b["labelled"]) for b in buckets],
            "text": [theme.format_share(b["accuracy"]) for b in buckets],
        }
    )
    start = hv.Dimension("start", label="Time")
    value = hv.Dimension("accuracy", label="Accuracy")
    base = {"responsive": True, "height": charts.HEIGHT, "default_tools": [], "show_grid": True}
    curve = hv.Curve(frame, start, [value, "labelled", "text"]).opts(
        color=theme.ACCENT, line_width=2, tools=["save", "reset"], **base
    )
    points = hv.Scatter(frame, start, [value, "labelled", "text"]).opts(
        color=theme.ACCENT,
        size=6,
        tools=["hover", "save", "reset"],
        hover_tooltips=[
            ("Bucket", "@start{%F %H:%M}"),
            ("Accuracy", "@text"),
            ("Labelled", "@labelled{0,0}"),
        ],
        hover_formatters={"@start": "datetime"},
        **base,
    )
    low = max(0.0, float(frame["accuracy"].min()) - 0.05)
    plot = (curve * points).opts(
        ylim=(low, 1.0),
        show_legend=False,
        hooks=[] if window is None else [charts.window_band(*window)],
    )
    times = [t for t in (*(extent or ()), *(window or ())) if t is not None]
    if times:
        last = frame["start"].max() + charts.bucket_width(width)
        plot = plot.opts(xlim=(min(*times, frame["start"].min()), max(*times, last)))
    return cards, [
        *head,
        pn.pane.HoloViews(
            charts.with_time_axes(plot),
            sizing_mode="stretch_width",
            height=charts.HEIGHT,
            backend="bokeh",
        ),
    ]
