"""The model as MLflow knows it, drawn for the Performance page: the latest model's metrics,
trends across training runs, every training run, and the registry's versions and aliases.

Each function takes what ``MLflowCache`` returned (a frame, or the ``MLflowUnavailable`` it
raised) and returns the section's objects; a failed or empty read becomes a note with a hint.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from app import theme
from app.accuracy import logged_accuracy, production_version
from app.mlflow_reader import MLflowUnavailable
from app.numbers import finite_number
from app.pages import blocks, charts, timelines
from app.pages.cards import (
    METRIC_CELL,
    NUMBER_CELL,
    TABLE_CSS,
    KpiCard,
    chips,
    empty_state,
    error_state,
    note_pane,
    plain_titles,
)

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
        value = finite_number(source.get(column)) if column else None
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
            value = finite_number(run.get(column))
            if start is not None and value is not None:
                points.append({"start": start, "run": name, "metric": label, "value": value})
    return points


def run_trends(runs: Any) -> list:
    """Accuracy and F1 metrics of every training run over its start time."""
    problem = _problem(runs, "training runs", RUNS_HINT)
    if problem:
        return [problem]
    points = trend_points(runs)
    chart = timelines.performance_trend(points) if points else None
    if chart is None:
        return [
            empty_state(
                f"The {len(runs)} training runs log neither accuracy nor F1.",
                "Log accuracy, macro_f1 or weighted_f1 to each run to see their trend.",
            )
        ]
    return [
        *experiment_note(runs),
        charts.figure_pane(chart),
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
            + [theme.format_metric(finite_number(v.get(m))) for m in metric_names]
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
