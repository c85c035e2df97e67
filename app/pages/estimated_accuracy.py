"""Estimated vs realized accuracy, drawn for the Performance page: the report's estimate without
labels (CBPE, docs/metrics.md "Accuracy now") beside the accuracy the delayed labels give."""

from __future__ import annotations

from app import theme
from app.pages import blocks, charts, timelines
from app.pages.cards import KpiCard, empty_state


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
    chart = timelines.estimated_accuracy_chart(
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
