"""Colours and number formats shared by every page, chart and the Alerts page."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

ACCENT = "#0f6e8c"
"""Driftdeck's accent: header, active navigation, primary buttons."""

SEVERITY_COLORS: dict[str, str] = {
    "critical": "#d1342f",
    "warning": "#e8a33d",
    "ok": "#2e9e5b",
}
"""One colour per severity; drift charts, KPI cards and the Alerts page all use these."""

MISSING_COLOR = "#9aa0a6"
"""Bars and cells for values that could not be computed."""

REFERENCE_COLOR = "#5b7d9a"
PRODUCTION_COLOR = "#e07b39"
"""Reference vs production in overlaid distributions and class shares."""

CATEGORY_COLORS = (
    "#0f6e8c",
    "#e07b39",
    "#6a4c93",
    "#2e9e5b",
    "#c2185b",
    "#8d6e63",
    "#00897b",
    "#7cb342",
)
"""Cycle for classes and categories (prediction classes, districts...)."""

SYSTEM_FONTS = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "Noto Sans", '
    '"Liberation Sans", Arial, sans-serif'
)
"""The font stack: installed fonts only, so no page ever fetches a web font."""

NO_VALUE = "—"


def severity_color(level: str | None) -> str:
    """The colour of a severity; grey for an unknown or missing one."""
    return SEVERITY_COLORS.get(level or "", MISSING_COLOR)


def is_number(value: Any) -> bool:
    """True for a finite int or float (not bool, None or NaN)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_count(value: Any) -> str:
    """Whole counts with thousands separators: ``1,234,567``."""
    if not is_number(value):
        return NO_VALUE
    return f"{round(value):,}"


def format_compact(value: Any) -> str:
    """Large counts shortened for KPI cards: ``950``, ``12.3k``, ``4.57M``, ``1.2B``."""
    if not is_number(value):
        return NO_VALUE
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            scaled = value / size
            digits = 2 if abs(scaled) < 10 else 1 if abs(scaled) < 100 else 0
            return f"{scaled:.{digits}f}".rstrip("0").rstrip(".") + suffix
    return f"{round(value):,}"


def format_share(value: Any, digits: int = 1) -> str:
    """A share in [0, 1] as a percentage: ``0.1234`` → ``12.3%``; tiny non-zero shares stay visible."""
    if not is_number(value):
        return NO_VALUE
    percent = value * 100
    smallest = 10**-digits
    if 0 < abs(percent) < smallest:
        return f"<{smallest:.{digits}f}%"
    return f"{percent:.{digits}f}%"


METRIC_DIGITS = 3
"""Decimals of a drift measure or model score, in text, cards, hovers and tables alike."""
NUMBER_DIGITS = 2
"""Decimals of a statistic of a float column (mean, minimum, a logged value...)."""


def format_metric(value: Any, digits: int = METRIC_DIGITS) -> str:
    """A drift measure or score (PSI, KL, KS D, JS, accuracy...): always ``digits`` decimals, as
    the tables show it (a PSI of 0.0002 reads 0.000 everywhere, not 2.0e-04 in one place)."""
    if not is_number(value):
        return NO_VALUE
    return f"{value:.{digits}f}"


def format_pvalue(value: Any) -> str:
    """p-values as statisticians write them: ``<0.001``, ``0.042``, ``0.38``."""
    if not is_number(value):
        return NO_VALUE
    if value < 0.001:
        return "<0.001"
    if value < 0.01:
        return f"{value:.3f}"
    return f"{value:.2f}"


def format_number(value: Any, digits: int = NUMBER_DIGITS) -> str:
    """A statistic (mean, std, quantile): separators, compact when huge; a whole number (int)
    without decimals, a float always with ``digits`` (a minimum of 29.0 reads 29.00 beside
    27.20, not 29)."""
    if not is_number(value) and not _is_numpy_number(value):
        return NO_VALUE
    if abs(value) >= 1e6:
        return format_compact(value)
    if _is_whole_type(value):
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def format_ratio(value: Any) -> str:
    """A ratio such as the cardinality growth: ``2.61×``."""
    text = format_number(value)
    return text if text == NO_VALUE else f"{float(value):,.{NUMBER_DIGITS}f}×"


def _is_numpy_number(value: Any) -> bool:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy comes with pandas
        return False
    return isinstance(value, np.integer | np.floating) and math.isfinite(float(value))


def _is_whole_type(value: Any) -> bool:
    """An integer type (Python or NumPy): counts and integer columns, not floats that are whole."""
    if isinstance(value, int):
        return True
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return False
    return isinstance(value, np.integer)


def format_duration(value: timedelta | float | None) -> str:
    """An age or latency in words a person reads at a glance: ``45 s``, ``12 min``, ``3 h 20 min``, ``4 d``."""
    if value is None:
        return NO_VALUE
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not is_number(seconds):
        return NO_VALUE
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    hours, minutes = divmod(round(minutes), 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d"


def format_timestamp(value: Any) -> str:
    """A timestamp to the minute (``2026-01-03 14:05``); dates alone when the time is midnight."""
    if value is None:
        return NO_VALUE
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(value, datetime):
        try:
            value = value.to_pydatetime()  # pandas timestamps
        except AttributeError:
            return str(value)
    if value != value:  # NaT
        return NO_VALUE
    if (value.hour, value.minute, value.second) == (0, 0, 0):
        return value.strftime("%Y-%m-%d")
    return value.strftime("%Y-%m-%d %H:%M")


def format_date(value: Any) -> str:
    """The day of a timestamp: ``2026-01-03`` (where the minute does not matter, as a version's
    creation in a narrow table)."""
    text = format_timestamp(value)
    return text if text == NO_VALUE else text[:10]


def format_window(start: Any, end: Any, span: str | None = None) -> str:
    """The production window in one line; an open end reads as the first or latest row, and
    the monitoring window names its span ("last 7d")."""
    if start is None and end is None:
        return "All production rows"
    left = format_timestamp(start) if start is not None else "first row"
    right = format_timestamp(end) if end is not None else "latest row"
    if span and span != "all":
        return f"Last {span} ({left} → {right})"
    return f"{left} → {right}"
