"""A PSI read beside its sample-size floor (docs/metrics.md, "Is a PSI significant?"): under
the floor the report calls it not significant (noise at these sample sizes), and the pages draw it
grey, never in an alert colour.

The judgement is the report's (``severity``, ``significant`` and ``psi_floor`` beside each PSI,
per feature, segment and time bucket, made by ``app.severity``); these helpers only turn it into
a colour and words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import holoviews as hv
import pandas as pd

from app import theme
from app.config import Level
from app.pages import charts
from app.severity import NOT_SIGNIFICANT

__all__ = ["NOT_SIGNIFICANT"]


def not_significant_text(floor: Any) -> str:
    """Why a PSI is grey: ``not significant at this sample size (floor 0.231)``."""
    if theme.is_number(floor):
        return f"{NOT_SIGNIFICANT} at this sample size (floor {theme.format_metric(floor)})"
    return f"{NOT_SIGNIFICANT} at this sample size"


def psi_status(severity: str | None, floor: Any) -> str:
    """A PSI's status (the report's ``severity``) in words for a table cell or a tooltip."""
    if severity == NOT_SIGNIFICANT:
        return not_significant_text(floor)
    return severity or theme.NO_VALUE


def status_style(value: Any) -> str:
    """CSS of a status cell: its severity colour, grey when not significant."""
    if value in theme.SEVERITY_COLORS:
        return f"color: {theme.severity_color(value)}; font-weight: 600"
    if str(value).startswith(NOT_SIGNIFICANT):
        return f"color: {theme.MISSING_COLOR}"
    return ""


def psi_bars(
    rows: Sequence[Mapping[str, Any]],
    level: Level,
    extra_hover: Sequence[tuple[str, str]] = (),
) -> hv.Bars:
    """One bar per feature (``rows``: feature, psi, severity, psi_floor and extra columns) in
    its severity colour, grey when not significant, with the thresholds as dashed lines."""
    frame = pd.DataFrame(list(rows))
    frame["status"] = [
        psi_status(s, f) for s, f in zip(frame["severity"], frame["psi_floor"], strict=True)
    ]
    frame["severity"] = [s or "n/a" for s in frame["severity"]]
    frame["color"] = [theme.severity_color(s) for s in frame["severity"]]
    frame["text"] = [theme.format_metric(v) for v in frame["psi"]]
    frame = frame.drop(columns=["psi_floor"])
    extra = [c for c in frame.columns if c not in ("feature", "psi")]
    top = max([level.critical * 1.2, *[v * 1.08 for v in frame["psi"] if theme.is_number(v)]])
    bars = hv.Bars(
        frame,
        hv.Dimension("feature", label="Feature"),
        [hv.Dimension("psi", label="PSI"), *extra],
    )
    return bars.opts(
        color="color",
        line_color=None,
        hover_tooltips=[
            ("Feature", "@feature"),
            ("PSI", "@text"),
            ("Severity", "@status"),
            *extra_hover,
        ],
        xrotation=30 if len(frame) > 6 else 0,
        ylim=(0, top),
        show_legend=False,
        hooks=[charts.threshold_spans(level)],
        responsive=True,
        height=charts.HEIGHT,
        default_tools=[],
        tools=["hover", "save", "reset"],
    )


def psi_heatmap(over_time: Mapping[str, Any], level: Level) -> hv.HeatMap | None:
    """PSI per feature and time bucket in the severity colours; grey where a bucket is too small
    or its PSI is not significant at the bucket's sample size.

    The colour is the ``judged`` value (NaN where grey); ``psi`` keeps every bucket's PSI for the
    tooltip. Features are ordered by their highest judged PSI, so drifting features come first.
    """
    buckets = list(over_time.get("buckets") or [])
    features = dict(over_time.get("features") or {})
    if not buckets or not features:
        return None
    floors = dict(over_time.get("psi_floor") or {})
    severities = dict(over_time.get("severity") or {})

    def cells(name: str) -> Any:
        """(bucket, PSI, floor, severity) of each time bucket of a feature."""
        none = [None] * len(buckets)
        return zip(
            buckets,
            features[name],
            floors.get(name) or none,
            severities.get(name) or none,
            strict=False,
        )

    def judged(bucket: dict, psi: Any, severity: Any) -> float:
        small = bucket["rows"] < charts.MIN_BUCKET_ROWS
        if small or severity == NOT_SIGNIFICANT or not theme.is_number(psi):
            return float("nan")
        return float(psi)

    def peak(name: str) -> float:
        values = [judged(b, p, s) for b, p, _, s in cells(name)]
        return max([v for v in values if v == v], default=0.0)

    names = sorted(features, key=lambda n: (-peak(n), str(n)))
    width = charts.bucket_width(over_time.get("width"))
    rows = []
    for name in names:
        for bucket, psi, floor, severity in cells(name):
            small = bucket["rows"] < charts.MIN_BUCKET_ROWS
            value = judged(bucket, psi, severity)
            if small:
                status = f"too few rows ({bucket['rows']})"
            else:
                status = psi_status(severity, floor)
            rows.append(
                {
                    "start": charts.naive_utc(bucket["start"]) + width / 2,
                    "feature": str(name),
                    "judged": value,
                    "psi": float(psi) if theme.is_number(psi) else float("nan"),
                    "rows": bucket["rows"],
                    "bucket": theme.format_timestamp(bucket["start"]),
                    "text": theme.format_metric(psi),
                    "severity": status,
                }
            )
    frame = pd.DataFrame(rows)
    for column in ("feature", "bucket", "text", "severity"):
        # HeatMap reshapes its value columns, which pandas' Arrow-backed strings refuse.
        frame[column] = frame[column].astype(object)
    upper = level.critical * 2
    heat = hv.HeatMap(
        frame,
        [
            hv.Dimension("start", label="Time"),
            hv.Dimension("feature", label="Feature", values=[str(n) for n in names]),
        ],
        [hv.Dimension("judged", label="PSI"), "psi", "rows", "bucket", "text", "severity"],
    )
    return heat.opts(
        cmap=[
            theme.SEVERITY_COLORS["ok"],
            theme.SEVERITY_COLORS["warning"],
            theme.SEVERITY_COLORS["critical"],
        ],
        color_levels=[0, level.warning, level.critical, upper],
        clim=(0, upper),
        clipping_colors={"NaN": theme.MISSING_COLOR, "max": theme.SEVERITY_COLORS["critical"]},
        colorbar=True,
        colorbar_opts={"title": "PSI"},
        line_color=None,
        hover_tooltips=[
            ("Feature", "@feature"),
            ("Bucket", "@bucket"),
            ("PSI", "@text"),
            ("Severity", "@severity"),
            ("Rows", "@rows{0,0}"),
        ],
        responsive=True,
        height=max(charts.HEIGHT, 60 + 34 * len(names)),
        default_tools=[],
        tools=["hover", "xbox_select", "save", "reset"],
        active_tools=["xbox_select"],
        invert_yaxis=True,
    )
