"""Performance Metrics (SPEC §7.4): the model as MLflow knows it, and its predictions in production.

MLflow sections (latest model, trends across runs, all training runs, registry) read through
the shared MLflow cache; when MLflow is down they say "MLflow unreachable at <URI>" while the
data sections (prediction statistics, production accuracy) still draw from the Monitor.
"""

from __future__ import annotations

from typing import Any, ClassVar

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401 - the Bokeh backend draws every plot
import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import NumberFormatter

from app import theme
from app.accuracy import production_version
from app.mlflow_reader import MLflowUnavailable, store_location
from app.pages import blocks, charts
from app.pages.base import MonitorPage, accuracy_history, data_report, history_over_time
from app.pages.cards import (
    MIN_SECTION_WIDTH,
    KpiCard,
    chips,
    data_problems,
    empty_state,
    error_state,
    missing_production,
    note_pane,
    plain_titles,
    section,
    wrapping_row,
)
from app.pages.mlflow_cache import MLflowCache, unavailable_note

# Headline metrics in the order a reader scans them, with their card labels.
HEADLINE_LABELS = {
    "accuracy": "Accuracy",
    "macro_f1": "Macro F1",
    "weighted_f1": "Weighted F1",
    "f1": "F1",
    "roc_auc": "ROC AUC",
    "precision": "Precision",
    "recall": "Recall",
    "log_loss": "Log loss",
}
TREND_METRICS = ("accuracy", "macro_f1", "weighted_f1", "f1")
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
        self.timeline_stream: hv.streams.BoundsX | None = None
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
            "drift": report.get("prediction_drift") or {},
            "rows": report.get("rows") or {},
            "over_time": over_time,
            "level": self.monitor.config.thresholds["prediction_kl"],
        }

    def _draw_predictions(self, result: dict) -> None:
        self.prediction_cards, objects = prediction_statistics(result, self.monitor)
        over_time = result["over_time"]
        chart = (
            charts.predictions_timeline(over_time, self.shaded_window())
            if over_time.get("predictions")
            else None
        )
        self.timeline_stream = None
        if chart is not None and len(objects) > 1:
            self._buckets = list(over_time.get("buckets") or [])
            self._width = charts.bucket_width(over_time.get("width"))
            if self.static:
                chart = charts.without_selection(chart)
            else:
                self.timeline_stream = hv.streams.BoundsX(source=chart, boundsx=None)
                self.timeline_stream.add_subscriber(self._timeline_selected)
            objects.append(
                pn.pane.HoloViews(
                    chart, sizing_mode="stretch_width", height=charts.HEIGHT, backend="bokeh"
                )
            )
        self.predictions_body.objects = objects

    def _timeline_selected(self, boundsx: tuple | None = None, **_: Any) -> None:
        if boundsx:
            self.select_window(charts.snap_to_buckets(*boundsx, self._buckets, self._width))

    def _draw_accuracy(self, result: dict) -> None:
        self.accuracy_cards, self.accuracy_body.objects = production_accuracy(
            result["window"],
            self.monitor.config,
            result["history"],
            self.shaded_window(),
            result["extent"],
        )


# -- MLflow blocks ------------------------------------------------------------------------------

RUNS_HINT = (
    "Log training runs with mlflow to the experiment named by [mlflow] training_experiment in "
    "driftdeck.toml (default 'training'), or set that key to your experiment's name; see README, "
    "section MLflow."
)
REGISTRY_HINT = (
    "Register the model in MLflow (mlflow.register_model) and set aliases such as 'production' "
    "and 'staging', or set [mlflow] registered_model in driftdeck.toml to its name."
)


def _problem(frame: Any, what: str, hint: str) -> pn.pane.HTML | None:
    """A note when a read failed or found nothing; None when there is something to draw."""
    if isinstance(frame, MLflowUnavailable):
        return error_state(f"Could not read the {what} from MLflow.", str(frame))
    if frame is None or len(frame) == 0:
        message = getattr(frame, "attrs", {}).get("message") or "none in MLflow"
        return empty_state(f"No {what}: {message}.", hint)
    return None


def headline_columns(runs: Any) -> dict[str, str]:
    """Canonical metric name → run column, for the metrics the reader recognised."""
    metrics = getattr(runs, "attrs", {}).get("metrics") or {}
    return dict(metrics.get("headline") or {})


def latest_metrics(runs: Any, registry: Any) -> tuple[dict[str, float], str] | None:
    """The headline metrics of the production version's run (else the newest finished run),
    and a line saying where they come from; None when MLflow has neither."""
    columns = headline_columns(runs) if not isinstance(runs, MLflowUnavailable) else {}
    version = production_version(registry)
    if version is not None:
        source = version
        alias = version.get("aliases") or version.get("stage") or "production"
        run = version.get("run_name") or version.get("run_id") or "unknown run"
        origin = f"v{version['version']} ({alias}) · run {run}"
        if not columns:
            columns = {c: c for c in HEADLINE_LABELS if c in version.index}
    elif not isinstance(runs, MLflowUnavailable) and runs is not None and len(runs):
        finished = runs[runs["status"] == "FINISHED"] if "status" in runs else runs
        source = (finished if len(finished) else runs).iloc[-1]
        origin = f"newest run {source.get('run_name') or source.get('run_id')}"
        started = charts.naive_utc(source.get("start_time"))
        if started is not None:
            origin += f" · {theme.format_timestamp(started)}"
    else:
        return None
    values = {}
    for canonical in HEADLINE_LABELS:
        column = columns.get(canonical)
        value = _float(source.get(column)) if column else None
        if value is not None:
            values[canonical] = value
    return values, origin


def latest_model(runs: Any, registry: Any) -> tuple[dict[str, KpiCard], list]:
    """KPI cards of the latest model's headline metrics."""
    found = latest_metrics(runs, registry)
    if found is None:
        problem = _problem(runs, "training runs", RUNS_HINT)
        return {}, [problem] if problem else []
    values, origin = found
    if not values:
        return {}, [
            empty_state(
                f"The latest model ({origin}) has no recognised metrics.",
                "Log accuracy, f1, macro_f1, weighted_f1 or roc_auc to its MLflow run.",
            )
        ]
    cards = {
        name: blocks.kpi(HEADLINE_LABELS[name], value, theme.format_metric(value), origin)
        for name, value in values.items()
    }
    return cards, [blocks.kpi_row(cards.values())]


def trend_points(runs: Any) -> list[dict]:
    """Accuracy and F1 scores of every run: ``{start, run, metric, value}`` for the trend chart."""
    columns = headline_columns(runs)
    shown = [(HEADLINE_LABELS[c], columns[c]) for c in TREND_METRICS if c in columns]
    points = []
    for _, run in runs.iterrows():
        start = charts.naive_utc(run.get("start_time"))
        name = str(run.get("run_name") or run.get("run_id") or "")
        for label, column in shown:
            value = _float(run.get(column))
            if start is not None and value is not None:
                points.append({"start": start, "run": name, "metric": label, "value": value})
    return points


def run_trends(runs: Any) -> list:
    """Accuracy and F1 metrics of every training run over its start time."""
    problem = _problem(runs, "training runs", RUNS_HINT)
    if problem:
        return [problem]
    points = trend_points(runs)
    chart = charts.performance_trend(points) if points else None
    if chart is None:
        return [
            empty_state(
                f"The {len(runs)} training runs log neither accuracy nor F1.",
                "Log accuracy, macro_f1 or weighted_f1 to each run to see their trend.",
            )
        ]
    return [
        pn.pane.HoloViews(chart, sizing_mode="stretch_width", height=charts.HEIGHT, backend="bokeh")
    ]


def runs_table(runs: Any) -> list:
    """Every training run with its metrics and parameters, newest first."""
    problem = _problem(runs, "training runs", RUNS_HINT)
    if problem:
        return [problem]
    headline = list(dict.fromkeys(headline_columns(runs).values()))
    base = ["run_name", "start_time", "status"]
    params = [c for c in runs.columns if str(c).startswith("param.")]
    metrics = [c for c in runs.columns if c not in (*base, "run_id", "end_time", *params)]
    ordered = base + headline + [c for c in metrics if c not in headline] + params + ["run_id"]
    frame = runs[[c for c in ordered if c in runs.columns]].iloc[::-1].reset_index(drop=True)
    frame["start_time"] = [theme.format_timestamp(charts.naive_utc(t)) for t in frame["start_time"]]
    frame = frame.rename(columns={c: c.removeprefix("param.") + " (param)" for c in params})
    formatters = {
        c: NumberFormatter(format="0.0000", nan_format="—", null_format="—")
        for c in frame.columns
        if frame[c].dtype.kind == "f"
    }
    return [
        note_pane(
            f"{len(frame):,} runs, newest first; metrics as logged, parameters marked (param)."
        ),
        pn.widgets.Tabulator(
            frame,
            show_index=False,
            disabled=True,
            pagination="local",
            page_size=10,
            formatters=formatters,
            title_formatters=plain_titles(frame.columns),
            layout="fit_data_stretch",
            frozen_columns=["run_name"],
            sizing_mode="stretch_width",
            margin=(5, 10),
        ),
    ]


def registry_view(registry: Any) -> list:
    """Aliases as chips, then one row per registered version with its source run's metrics."""
    problem = _problem(registry, "registered model versions", REGISTRY_HINT)
    if problem:
        return [problem]
    aliases = registry.attrs.get("aliases") or {}
    metric_names = [c for c in HEADLINE_LABELS if c in registry.columns]
    headers = ["Version", "Aliases", "Stage", "Status", "Source run", "Created"]
    headers += [HEADLINE_LABELS[m] for m in metric_names]
    rows = []
    for _, v in registry.iloc[::-1].iterrows():
        rows.append(
            [
                f"v{v['version']}",
                v.get("aliases") or "",
                _text(v.get("stage")),
                _text(v.get("status")),
                v.get("run_name") or v.get("run_id") or "",
                theme.format_timestamp(charts.naive_utc(v.get("created"))),
            ]
            + [theme.format_metric(_float(v.get(m))) for m in metric_names]
        )
    name = registry["name"].iloc[0]
    objects: list = [note_pane(f"Registered model '{name}', newest version first.")]
    if aliases:
        objects.append(
            chips(
                [(alias, f"v{version}") for alias, version in sorted(aliases.items())], theme.ACCENT
            )
        )
    else:
        objects.append(
            empty_state("No aliases set.", "Set 'production' and 'staging' aliases in MLflow.")
        )
    objects.append(
        blocks.html_pane(blocks.table(headers, rows, numeric=list(range(6, len(headers)))))
    )
    return objects


def _text(value: Any) -> str:
    """A registry field as text; MLflow writes a missing stage as the string "None"."""
    return theme.NO_VALUE if value is None or str(value) in ("", "None", "nan") else str(value)


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if theme.is_number(number) else None


# -- production blocks --------------------------------------------------------------------------


def prediction_statistics(result: dict, monitor: Any) -> tuple[dict[str, KpiCard], list]:
    """KPI cards (rows, KL, JS, top class), class shares against the reference, and a table."""
    drift, rows = result["drift"], result["rows"]
    production = drift.get("production") or {}
    reference = drift.get("reference") or {}
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
    kl = drift.get("kl")
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
            theme.severity(kl, level.critical, level.warning),
        ),
        "js": blocks.kpi(
            "Jensen–Shannon",
            drift.get("js"),
            theme.format_metric(drift.get("js")),
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
    bars = charts.class_share_bars(reference, production)
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
        pn.pane.HoloViews(plot, sizing_mode="stretch_width", height=charts.HEIGHT, backend="bokeh"),
    ]
