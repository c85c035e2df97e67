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
from app.accuracy import logged_accuracy, production_version
from app.mlflow_location import store_location
from app.mlflow_reader import MLflowUnavailable
from app.pages import blocks, charts
from app.pages.base import MonitorPage, accuracy_history, data_report, history_over_time
from app.pages.cards import (
    METRIC_CELL,
    MIN_SECTION_WIDTH,
    NUMBER_CELL,
    TABLE_CSS,
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
from app.window import Window

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
        self.traffic_stream: hv.streams.BoundsX | None = None
        self._traffic_buckets: list[dict] = []
        self._traffic_width = charts.bucket_width(None)
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
                    charts.with_time_axes(chart),
                    sizing_mode="stretch_width",
                    height=charts.HEIGHT,
                    backend="bokeh",
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

    def _draw_estimated(self, report: dict) -> None:
        self.estimated_cards, self.estimated_body.objects = estimated_accuracy(report)

    # -- model versions -------------------------------------------------------------------
    def _read_versions(self) -> dict:
        report = data_report(self.monitor)
        out: dict[str, Any] = {
            "versions": report.get("versions") or {},
            "ab_tests": list(report.get("ab_tests") or []),
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
        self.traffic_stream = None
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
        chart = charts.version_traffic_timeline(traffic, self.shaded_window(), names)
        if chart is None:
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
            if self.static:
                chart = charts.without_selection(chart)
            else:
                self.traffic_stream = hv.streams.BoundsX(source=chart, boundsx=None)
                self.traffic_stream.add_subscriber(self._traffic_selected)
            objects.append(blocks.subheading("Traffic share per time bucket"))
            objects.append(charts.plot_pane(chart, charts.HEIGHT))
        level = self.monitor.config.thresholds["psi"]
        objects += versions_view(versions, result["registry"], level)
        objects += ab_tests_view(versions, result["ab_tests"])
        self.versions_body.objects = objects
        self.versions_card.visible = True

    def _traffic_selected(self, boundsx: tuple | None = None, **_: Any) -> None:
        if boundsx:
            self.select_window(
                charts.snap_to_buckets(*boundsx, self._traffic_buckets, self._traffic_width)
            )


def version_traffic_history(monitor: Any) -> dict | None:
    """Rows per model version per time bucket over every production row, whatever the window:
    the traffic chart shows the whole history with the window shaded (as the other timelines)."""
    from app.versions import model_versions

    return model_versions(monitor.engine, Window())["version_traffic"]


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
        if canonical == "accuracy":  # read as the Overview and the accuracy baseline read it
            value = logged_accuracy(source)[0]
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
        *experiment_note(runs),
        pn.pane.HoloViews(
            charts.with_time_axes(chart),
            sizing_mode="stretch_width",
            height=charts.HEIGHT,
            backend="bokeh",
        ),
    ]


def experiment_note(runs: Any) -> list:
    """A line saying which experiment the runs come from when it is not the configured one."""
    note = getattr(runs, "attrs", {}).get("experiment_note")
    return [note_pane(f"MLflow: {note}.")] if note else []


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
    # Metrics as every card and chart writes them (theme.format_metric), the rest as numbers.
    metric_columns = {*headline, *metrics}
    formatters = {
        c: METRIC_CELL if c in metric_columns else NUMBER_CELL
        for c in frame.columns
        if frame[c].dtype.kind == "f"
    }
    experiment = runs.attrs.get("experiment")
    return [
        note_pane(
            f"{len(frame):,} runs"
            + (f" of experiment '{experiment}'" if experiment else "")
            + ", newest first; metrics as logged, parameters marked (param)."
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
            stylesheets=[TABLE_CSS],
        ),
    ]


def registry_view(registry: Any) -> list:
    """Aliases as chips, then one row per registered version with its source run's metrics."""
    problem = _problem(registry, "registered model versions", REGISTRY_HINT)
    if problem:
        return [problem]
    aliases = registry.attrs.get("aliases") or {}
    metric_names = [c for c in HEADLINE_LABELS if c in registry.columns]
    # The aliases are the chips above the table; stages are deprecated in MLflow (aliases replace
    # them) and a version is almost always READY: those columns show only when they tell
    # something, so the table fits its card in a 1000 px window.
    staged = any(_text(s) != theme.NO_VALUE for s in registry.get("stage", []))
    statuses = {_text(s) for s in registry.get("status", [])}
    unusual = bool(statuses - {"READY"})
    headers = ["Version", *(["Stage"] if staged else []), *(["Status"] if unusual else [])]
    headers += ["Source run", "Created", *(HEADLINE_LABELS[m] for m in metric_names)]
    rows = []
    for _, v in registry.iloc[::-1].iterrows():
        rows.append(
            [
                f"v{v['version']}",
                *([_text(v.get("stage"))] if staged else []),
                *([_text(v.get("status"))] if unusual else []),
                v.get("run_name") or v.get("run_id") or theme.NO_VALUE,
                theme.format_date(charts.naive_utc(v.get("created"))),
            ]
            + [theme.format_metric(_float(v.get(m))) for m in metric_names]
        )
    created = headers.index("Created")
    name = registry["name"].iloc[0]
    note = f"Registered model '{name}', newest version first"
    note += "." if unusual else "; every version is READY."
    objects: list = [note_pane(note)]
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
        blocks.html_pane(
            blocks.table(
                headers,
                rows,
                numeric=list(range(created + 1, len(headers))),
                nowrap=[created],
                text=[created - 1],
            )
        )
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
        pn.pane.HoloViews(
            charts.with_time_axes(plot),
            sizing_mode="stretch_width",
            height=charts.HEIGHT,
            backend="bokeh",
        ),
    ]


# -- estimated accuracy -------------------------------------------------------------------------


def _accuracy_alert(report: dict, feature: str) -> str | None:
    """The severity of the report's active accuracy-drop alert on ``feature`` ("accuracy":
    realized, "estimated_accuracy"), "ok" when the drop was measured without alert, else None."""
    for alert in report.get("alerts") or []:
        if alert.get("metric") == "accuracy_drop" and alert.get("feature") == feature:
            return alert.get("severity")
    accuracy = report.get("accuracy") or {}
    drop = accuracy.get("estimated_drop" if feature == "estimated_accuracy" else "drop")
    return "ok" if theme.is_number(drop) else None


def estimated_accuracy(report: dict) -> tuple[dict[str, KpiCard], list]:
    """Cards (estimated, realized, baseline, calibration) and the estimated-vs-realized chart of
    the report's ``estimated_performance``; without an estimate, what to log for one."""
    estimate = report.get("estimated_performance") or {}
    accuracy = report.get("accuracy") or {}
    value = estimate.get("accuracy")
    if not theme.is_number(value):
        reason = str(estimate.get("reason") or "no estimate for this time window")
        return {}, [
            empty_state(
                "No estimated accuracy for this time window.",
                reason[:1].upper() + reason[1:] + ".",
            )
        ]
    realized, labelled = accuracy.get("realized"), accuracy.get("labelled_rows")
    baseline = accuracy.get("baseline")
    unscored = estimate.get("unscored_rows") or 0
    cards = {
        "estimated": blocks.kpi(
            "Estimated accuracy",
            value,
            theme.format_share(value),
            f"95 % band {theme.format_share(estimate.get('lower'))}–"
            f"{theme.format_share(estimate.get('upper'))}, "
            f"{theme.format_count(estimate.get('rows'))} predictions",
            _accuracy_alert(report, "estimated_accuracy"),
        ),
        "realized": blocks.kpi(
            "Realized accuracy",
            realized,
            theme.format_share(realized),
            f"{theme.format_count(labelled)} labelled predictions"
            if theme.is_number(realized)
            else "no labels in the time window yet",
            _accuracy_alert(report, "accuracy"),
        ),
        "baseline": blocks.kpi(
            "Accuracy baseline",
            baseline,
            theme.format_share(baseline),
            str(accuracy.get("baseline_source") or accuracy.get("reason") or ""),
        ),
        "calibration": blocks.kpi(
            "Calibration rows",
            estimate.get("calibration_rows"),
            theme.format_count(estimate.get("calibration_rows")),
            "labelled predictions with a confidence"
            + (f"; {theme.format_count(unscored)} rows without one" if unscored else ""),
        ),
    }
    objects: list = [blocks.kpi_row(cards.values())]
    chart = charts.estimated_accuracy_chart(
        estimate.get("over_time") or [], estimate.get("width"), baseline
    )
    if chart is None:
        objects.append(
            empty_state(
                "No time buckets to draw.",
                "The estimate over time needs the predictions' timestamp column ([columns] "
                f"timestamp) and time buckets of at least {charts.MIN_BUCKET_ROWS} predictions.",
            )
        )
    else:
        objects.append(charts.plot_pane(chart, charts.HEIGHT))
    return cards, objects


# -- model versions -----------------------------------------------------------------------------

REGISTRY_METRICS = ("accuracy", "macro_f1", "weighted_f1", "f1", "roc_auc")
"""The registry's logged metrics shown beside each version's production behaviour (at most three)."""


def version_name(name: Any) -> str:
    """A model version in words, as the A/B verdicts name it: "version 2", or the variant's name."""
    return f"version {name}" if str(name).isdigit() else str(name)


def registry_entry(registry: Any, name: str) -> Any:
    """The registry row of the version numbered ``name`` ("2" or "v2"); None when none is."""
    if registry is None or isinstance(registry, MLflowUnavailable) or not len(registry):
        return None
    number = str(name).removeprefix("v").removeprefix("V")
    for _, row in registry.iterrows():
        if str(row.get("version")) == number:
            return row
    return None


MAX_PSI_FLAGS = 4
"""Inputs flagged per version; the rest (never a significant one) are counted in one more flag."""


def psi_flags(input_psi: dict, level: Any) -> str:
    """Each input's PSI against the inputs the other versions served as HTML flags: the
    significant ones first, in their severity colour, then the highest of the rest greyed (under
    their sample-size floor), up to ``MAX_PSI_FLAGS``; the others in one "+N more" flag whose
    tooltip lists them. Values are escaped."""
    if not input_psi:
        return f'<span class="dd-muted">{theme.NO_VALUE}</span>'
    ranked = sorted(
        input_psi.items(),
        key=lambda kv: (not kv[1].get("significant"), -(kv[1].get("psi") or 0.0), str(kv[0])),
    )
    significant = sum(1 for _, entry in ranked if entry.get("significant"))
    shown, rest = (
        ranked[: max(MAX_PSI_FLAGS, significant)],
        ranked[max(MAX_PSI_FLAGS, significant) :],
    )
    flags = []
    for name, entry in shown:
        psi, floor = entry.get("psi"), entry.get("psi_floor")
        if entry.get("significant"):
            color = theme.severity_color(theme.severity(psi, level.critical, level.warning))
            kind, title = "dd-flag", f"significant (floor {theme.format_metric(floor)})"
        else:
            color = theme.MISSING_COLOR
            kind = "dd-flag dd-insignificant"
            title = f"not significant at this sample size (floor {theme.format_metric(floor)})"
        flags.append(
            f'<span class="{kind}" style="--dd-color: {color}" title="{blocks.esc(title)}">'
            f"{blocks.esc(name)} <b>{blocks.esc(theme.format_metric(psi))}</b></span>"
        )
    if rest:
        listed = ", ".join(f"{name} {theme.format_metric(e.get('psi'))}" for name, e in rest)
        flags.append(
            f'<span class="dd-flag dd-insignificant" style="--dd-color: {theme.MISSING_COLOR}" '
            f'title="{blocks.esc("not significant: " + listed)}">+{len(rest)} more</span>'
        )
    return "".join(flags)


def versions_view(versions: dict, registry: Any, level: Any) -> list:
    """One row per version: its traffic, accuracy realized and estimated, prediction KL and the
    PSI of the inputs it served, beside the aliases and metrics the registry holds for it."""
    joined = registry is not None and not isinstance(registry, MLflowUnavailable) and len(registry)
    metrics = [m for m in REGISTRY_METRICS if m in registry.columns][:3] if joined else []
    headers = [
        "Version",
        "Rows",
        "Share",
        "Accuracy",
        "Labelled",
        "Estimated accuracy",
        "Prediction KL",
        *(["Aliases (MLflow)"] if joined else []),
        *(f"{HEADLINE_LABELS[m]} (MLflow)" for m in metrics),
        "Inputs vs the other versions (PSI)",
    ]
    rows = []
    for name, entry in versions.items():
        row = registry_entry(registry, name)
        rows.append(
            [
                f'<span style="white-space: nowrap">{blocks.esc(version_name(name))}</span>',
                theme.format_count(entry.get("rows")),
                theme.format_share(entry.get("share")),
                theme.format_share(entry.get("accuracy")),
                theme.format_count(entry.get("labelled")),
                theme.format_share(entry.get("estimated_accuracy")),
                theme.format_metric(entry.get("prediction_kl")),
                (row.get("aliases") or theme.NO_VALUE)
                if row is not None
                else "not in the registry",
                *(
                    theme.format_metric(_float(row.get(m)) if row is not None else None)
                    for m in metrics
                ),
                psi_flags(entry.get("input_psi") or {}, level),
            ]
        )
    objects: list = [
        blocks.subheading("Versions in the time window"),
        blocks.html_pane(
            blocks.table(headers, rows, numeric=[1, 2, 3, 4, 5, 6], raw=[0, len(headers) - 1])
        ),
    ]
    if isinstance(registry, MLflowUnavailable):
        objects.append(
            blocks.note("The registry's metrics are not shown.", str(registry), "missing")
        )
    elif registry is not None and not len(registry):
        message = getattr(registry, "attrs", {}).get("message") or "no registered versions"
        objects.append(
            blocks.note(
                f"The registry's metrics are not shown: {message}.", REGISTRY_HINT, "missing"
            )
        )
    return objects


def _registry_aliases(row: Any) -> str:
    if row is None:
        return "not in the registry"
    return str(row.get("aliases") or theme.NO_VALUE)


def ab_tests_view(versions: dict, tests: list[dict]) -> list:
    """Each pair of versions with labels: the report's verdict, the difference of accuracy with
    its 95 % interval, and the p-value; or why there is no test."""
    objects: list = [blocks.subheading("A/B tests")]
    if not tests:
        if len(versions) < 2:
            objects.append(
                blocks.note(
                    "One version served the time window: nothing to compare.", kind="missing"
                )
            )
        else:
            objects.append(
                blocks.note(
                    "No A/B test yet.",
                    "Comparing versions needs delayed labels for the predictions of at least "
                    "two versions in the time window.",
                    "missing",
                )
            )
        return objects
    rows = []
    for test in tests:
        rows.append(
            [
                f"{version_name(test['a'])} → {version_name(test['b'])}",
                test.get("verdict") or "",
                theme.format_share(test.get("accuracy_a")),
                theme.format_share(test.get("accuracy_b")),
                _points(test.get("difference"), signed=True),
                _interval(test.get("lower"), test.get("upper")),
                _pvalue(test.get("pvalue")),
                f"{theme.format_count(test.get('n_a'))} / {theme.format_count(test.get('n_b'))}",
            ]
        )
    objects.append(
        blocks.html_pane(
            blocks.table(
                [
                    "A → B",
                    "Verdict",
                    "Accuracy A",
                    "Accuracy B",
                    "Difference B − A",
                    "95 % interval",
                    "p-value",
                    "Labelled A / B",
                ],
                rows,
                numeric=[2, 3, 4, 5, 6, 7],
            )
        )
    )
    return objects


def _pvalue(value: Any) -> str:
    """A p-value as the verdicts write it (two significant digits: ``4.6e-10``, ``0.31``)."""
    return f"{value:.2g}" if theme.is_number(value) else theme.NO_VALUE


def _interval(lower: Any, upper: Any) -> str:
    """A 95 % interval of a difference of accuracies: ``4.3 to 8.3 points``."""
    if not (theme.is_number(lower) and theme.is_number(upper)):
        return theme.NO_VALUE
    return f"{lower * 100:.1f} to {upper * 100:.1f} points"


def _points(value: Any, signed: bool = False) -> str:
    """A difference of two accuracies in percentage points: ``+6.3 points``."""
    if not theme.is_number(value):
        return theme.NO_VALUE
    return f"{value * 100:{'+' if signed else ''}.1f} points"
