"""Estimated vs realized accuracy, drawn for the Performance page: the report's estimate without
labels (CBPE, docs/metrics.md "Accuracy now") beside the accuracy the delayed labels give."""

from __future__ import annotations

from app import theme
from app.pages import blocks, charts, timelines
from app.pages.cards import KpiCard, empty_state
from app.report_types import Report


def estimated_accuracy(report: Report) -> tuple[dict[str, KpiCard], list]:
    """Cards (estimated, realized, baseline, calibration) and the estimated-vs-realized chart of
    the report's ``estimated_performance``; without an estimate, what to log for one."""
    estimate = report.estimated_performance
    accuracy = report.accuracy
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
            report.accuracy_severity("estimated_accuracy"),
        ),
        "realized": blocks.kpi(
            "Realized accuracy",
            realized,
            theme.format_share(realized),
            f"{theme.format_count(labelled)} labelled predictions"
            if theme.is_number(realized)
            else "no labels in the time window yet",
            report.accuracy_severity("accuracy"),
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
