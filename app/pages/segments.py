"""Segments on the pages (docs/metrics.md, "Segments: where did it drift?"): where a feature
drifted (its drift attribution, the verdict and the mix shift, from the report's
``drift_attribution``, ``attribution_verdicts`` and ``mix_shift``), and the choice of one
segment's rows (``Window.segment``) for Feature Statistics.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn

from app import theme
from app.pages import charts
from app.pages.cards import (
    NOTE_CSS,
    escape,
    note_pane,
    severity_label,
    stats_table,
    wrapping_row,
)
from app.pages.significance import psi_status
from app.report_types import Report
from app.window import Window

TOP_SEGMENTS = 10
"""Segments drawn per feature, largest contribution first."""
OTHER = "(other)"
"""The pooled rest of a segment column's values: no segment of its own to choose."""
ALL_ROWS = "All rows"

Segment = tuple[str, str]


# -- where did it drift ---------------------------------------------------------------------------
def attributed_features(report: Report) -> list[str]:
    """The features with a drift attribution, the one whose top segment contributes most first."""
    attribution = report.drift_attribution

    def top(name: str) -> float:
        entries = attribution[name] or [{}]
        value = entries[0].get("contribution")
        return value if theme.is_number(value) else 0.0

    return sorted((n for n in attribution if attribution[n]), key=lambda n: (-top(n), str(n)))


def segment_label(entry: Mapping[str, Any]) -> str:
    """``district = Kadikoy``."""
    return f"{entry.get('segment')} = {entry.get('value')}"


def attribution_bars(entries: Sequence[Mapping[str, Any]]) -> hv.Bars | None:
    """The segments of a feature's drift attribution, largest contribution on top, coloured by
    the severity of the PSI inside each segment (grey when not significant)."""
    rows = [
        {
            "segment": segment_label(e),
            "contribution": float(e["contribution"]),
            "contribution_text": theme.format_metric(e["contribution"]),
            "psi_text": theme.format_metric(e.get("psi")),
            "status": psi_status(e.get("severity"), e.get("psi_floor")),
            "share": theme.format_share(e.get("production_share")),
            "color": theme.severity_color(e.get("severity")),
        }
        for e in entries
        if theme.is_number(e.get("contribution"))
    ]
    if not rows:
        return None
    # Horizontal bars draw the first row at the bottom: the largest contribution goes last.
    frame = pd.DataFrame(list(reversed(rows)))
    frame["segment"] = frame["segment"].astype(object)
    bars = hv.Bars(
        frame,
        hv.Dimension("segment", label="Segment"),
        [
            hv.Dimension("contribution", label="Contribution (production share × PSI)"),
            "contribution_text",
            "psi_text",
            "status",
            "share",
            "color",
        ],
    )
    return bars.opts(
        color="color",
        line_color=None,
        invert_axes=True,
        hover_tooltips=[
            ("Segment", "@segment"),
            ("Contribution", "@contribution_text"),
            ("PSI inside", "@psi_text"),
            ("Severity", "@status"),
            ("Production share", "@share"),
        ],
        show_legend=False,
        responsive=True,
        height=max(charts.HEIGHT, 70 + 28 * len(rows)),
        default_tools=[],
        tools=["hover", "save", "reset"],
    )


def verdict_pane(text: str | None) -> pn.pane.HTML:
    """The report's one-sentence verdict on where a feature drifted (escaped)."""
    sentence = text or "No segment could be compared for this feature."
    return pn.pane.HTML(
        f'<p class="verdict" style="font-size: 1.05em; font-weight: 600; margin: 4px 0">'
        f"{escape(sentence)}</p>",
        stylesheets=[NOTE_CSS],
        sizing_mode="stretch_width",
        margin=(0, 10),
    )


def mix_shift_view(report: Report) -> pn.Column:
    """The mix shift of each segment column: the PSI of the column itself, how much the mix of its
    segments changed between the reference and production."""
    rows = [
        [
            str(column),
            theme.format_metric(psi),
            severity_label(report.mix_shift_severity.get(column)),
        ]
        for column, psi in report.mix_shift.items()
    ]
    return pn.Column(
        _heading("Mix shift"),
        stats_table(["Segment column", "PSI", "Severity"], rows, raw_html_columns=(2,)),
        note_pane("PSI of each segment column: how much the mix of its segments changed."),
        sizing_mode="stretch_width",
    )


def ranked_table(entries: Sequence[Mapping[str, Any]]) -> pn.pane.HTML:
    """The ranked segments as text: PSI inside each (in its severity colour; grey, with the
    floor, when not significant), production share and contribution."""

    def psi_cell(entry: Mapping[str, Any]) -> str:
        psi, severity = entry.get("psi"), entry.get("severity")
        color = theme.severity_color(severity)
        status = psi_status(severity, entry.get("psi_floor"))
        return (
            f'<span style="color: {color}" title="{escape(status)}">'
            f"{escape(theme.format_metric(psi))}</span>"
        )

    rows = [
        [
            segment_label(e),
            psi_cell(e),
            escape(theme.format_share(e.get("production_share"))),
            escape(theme.format_metric(e.get("contribution"))),
        ]
        for e in entries
    ]
    return stats_table(
        ["Segment", "PSI inside", "Production share", "Contribution"],
        rows,
        raw_html_columns=(1, 2, 3),
    )


def where_it_drifted(report: Report, feature: str) -> list[Any]:
    """The verdict, the ranked segments (chart and table) and the mix shift of one feature."""
    entries = list(report.drift_attribution.get(feature) or [])
    segments = report.segments
    shown = [
        # The floor the segment's PSI was judged by, from the segment itself.
        {**e, "psi_floor": _inside(segments, e, feature).get("psi_floor")}
        for e in entries[:TOP_SEGMENTS]
    ]
    chart = attribution_bars(shown)
    if chart is None:
        ranked: list[Any] = [note_pane("No segment of this feature has a PSI in this window.")]
    else:
        ranked = [charts.plot_pane(chart)]
        if len(entries) > len(shown):
            ranked.append(
                note_pane(f"The {len(shown)} largest contributions of {len(entries)} segments.")
            )
    verdict = report.attribution_verdicts.get(feature)
    return [
        verdict_pane(verdict),
        wrapping_row(
            pn.Column(_heading("Segments by contribution"), *ranked, sizing_mode="stretch_width"),
            pn.Column(
                *([ranked_table(shown)] if shown else []),
                mix_shift_view(report),
                sizing_mode="stretch_width",
            ),
            min_width=(420, 360),
        ),
    ]


# -- one segment's rows -----------------------------------------------------------------------------
def segment_choices(report: Report) -> dict[str, Segment | None]:
    """``All rows`` and each segment of the report, as options of a Select (label: segment)."""
    choices: dict[str, Segment | None] = {ALL_ROWS: None}
    for column, values in report.segments.items():
        for value in values:
            if value != OTHER:
                choices[f"{column} = {value}"] = (column, value)
    return choices


def segment_window(window: Window, segment: Segment | None) -> Window:
    """``window`` restricted to the rows of ``segment`` (on both sides); itself without one."""
    return window if segment is None else dataclasses.replace(window, segment=segment)


def _inside(segments: Mapping[str, Any], entry: Mapping[str, Any], feature: str) -> dict:
    """What the report says of ``feature``'s PSI inside the segment of an attribution entry."""
    found = (segments.get(entry.get("segment")) or {}).get(entry.get("value")) or {}
    return (found.get("features") or {}).get(feature) or {}


def _heading(text: str) -> pn.pane.HTML:
    return pn.pane.HTML(
        f"<h4 style='margin: 4px 10px'>{escape(text)}</h4>", sizing_mode="stretch_width"
    )
