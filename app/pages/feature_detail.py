"""One feature's detail on Feature Statistics: its summary statistics on both sides, its new
categories, its data-quality findings, and the layout that puts them under its cards and charts."""

from __future__ import annotations

from typing import Any

import panel as pn

from app import theme
from app.feature_drift import SCHEMA_SEVERITY, Cardinality, FeatureDrift
from app.pages.cards import chips, note_pane, severity_label, show, stats_table, wrapping_row
from app.report_types import Report

NUMERICAL_STATS = (
    ("mean", "Mean"),
    ("std", "Std (ddof=1)"),
    ("min", "Min"),
    ("p25", "25th percentile"),
    ("median", "Median"),
    ("p75", "75th percentile"),
    ("max", "Max"),
)


def side_summary(feature: FeatureDrift | None, side: str) -> dict:
    """The summary of one side ("reference" or "production") of a feature's profile."""
    return (feature.summary.get(side) if feature is not None else None) or {}


def summary_statistics(feature: FeatureDrift) -> Any:
    """The feature's statistics, reference beside production: rows, missing, distinct values, then
    the numerical statistics or the top categories."""
    ref, prod = side_summary(feature, "reference"), side_summary(feature, "production")
    rows = [
        ["Rows", theme.format_count(ref.get("rows")), theme.format_count(prod.get("rows"))],
        [
            "Missing",
            theme.format_count(ref.get("missing")),
            theme.format_count(prod.get("missing")),
        ],
        [
            "Missing share",
            theme.format_share(ref.get("missing_share")),
            theme.format_share(prod.get("missing_share")),
        ],
        [
            "Distinct values",
            theme.format_count(ref.get("distinct")),
            theme.format_count(prod.get("distinct")),
        ],
    ]
    if feature.kind == "numerical":
        rows += [
            [label, theme.format_number(ref.get(key)), theme.format_number(prod.get(key))]
            for key, label in NUMERICAL_STATS
        ]
    else:
        ref_top, prod_top = ref.get("top") or [], prod.get("top") or []
        for i in range(min(5, max(len(ref_top), len(prod_top)))):
            rows.append(
                [
                    f"Top value {i + 1}",
                    *(
                        f"{top[i]['value']} ({theme.format_share(top[i].get('share'))})"
                        if i < len(top)
                        else theme.NO_VALUE
                        for top in (ref_top, prod_top)
                    ),
                ]
            )
    return stats_table(["Statistic", "Reference", "Production"], rows)


def quality_findings(name: str, report: Report) -> list[Any]:
    """The feature's data-quality findings in ``report`` (schema, missing share, out of range,
    unseen categories), each with the status the report judged."""
    quality = report.data_quality
    found = quality.features.get(name)
    feature = report.features.get(name)
    rows = [
        [check, finding, severity_label(SCHEMA_SEVERITY)]
        for check, finding in quality.schema_findings(name)
    ]
    if feature is not None and feature.reason:
        rows.append(["Note", str(feature.reason), theme.NO_VALUE])
    if found is not None:
        rows.append(
            [
                "Missing share",
                f"{theme.format_share(found.missing_share_reference)} → {theme.format_share(found.missing_share_production)}",
                severity_label(found.missing_severity),
            ]
        )
        if found.kind == "numerical":
            rows.append(
                [
                    "Outside the reference range",
                    theme.format_share(found.out_of_range_share, 2),
                    theme.NO_VALUE,
                ]
            )
        else:
            rows.append(
                [
                    "Unseen categories",
                    theme.format_share(found.unseen_share, 2),
                    severity_label(found.unseen_severity)
                    if found.kind != "high_cardinality"
                    else "by cardinality",
                ]
            )
    if not rows:
        return [note_pane("No data-quality findings for this feature in this window.")]
    return [stats_table(["Check", "Finding", "Status"], rows, raw_html_columns=(2,))]


def new_categories(feature: FeatureDrift | None, hidden: bool = False) -> list[Any]:
    """The production values a categorical feature never had in the reference, as chips with their
    share; for a high-cardinality feature, the share of rows with a new value.

    Always three panes (heading, chips, note; the chips hidden when there are none), so that a
    live page refills the same panes for every feature; ``hidden``: all three hidden and empty,
    the panes a live page starts with."""
    unseen = side_summary(feature, "production").get("unseen") or []
    header = heading("New categories (never in the reference)")
    items = [(str(u.get("value")), theme.format_share(u.get("share"))) for u in unseen]
    if hidden:
        text = ""
    elif feature is not None and feature.kind == "high_cardinality":
        c = feature.cardinality or Cardinality()
        text = (
            f"{theme.format_share(c.new_value_share)} of production rows carry a value never seen in the "
            f"reference ({theme.format_count(c.production)} distinct values in production, "
            f"{theme.format_count(c.reference)} in the reference)."
        )
        items = []
    elif not items:
        text = "None: every production value occurs in the reference."
    else:
        text = "Share of non-missing production rows."
    panes = [header, chips(items, theme.PRODUCTION_COLOR), note_pane(text)]
    for pane in panes:
        show(pane, not hidden)
    show(panes[1], bool(items) and not hidden)
    return panes


def detail_layout(
    cards: pn.FlexBox,
    distribution: pn.Column,
    ecdf: pn.Column,
    summary: pn.Column,
    quality: pn.Column,
) -> list[Any]:
    """A feature's detail: cards, then distribution beside ECDF, then statistics beside findings."""
    return [
        cards,
        wrapping_row(distribution, ecdf),
        wrapping_row(
            pn.Column(heading("Summary statistics"), summary, sizing_mode="stretch_width"),
            pn.Column(heading("Data quality"), quality, sizing_mode="stretch_width"),
        ),
    ]


def heading(text: str) -> pn.pane.HTML:
    """A heading inside a feature's detail."""
    return pn.pane.HTML(f"<h4 style='margin: 4px 10px'>{text}</h4>", sizing_mode="stretch_width")
