"""The production time window [start, end) and the time buckets that split it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.errors import DriftdeckError
from queries import ident

# Bucket widths tried for "auto", smallest first; the one giving closest to 30 buckets
# within 10–60 wins (30 days → one bucket per day).
BUCKET_WIDTHS = {
    "hour": timedelta(hours=1),
    "2 hours": timedelta(hours=2),
    "3 hours": timedelta(hours=3),
    "6 hours": timedelta(hours=6),
    "12 hours": timedelta(hours=12),
    "day": timedelta(days=1),
    "2 days": timedelta(days=2),
    "week": timedelta(days=7),
    "2 weeks": timedelta(days=14),
    "30 days": timedelta(days=30),
}


@dataclass(frozen=True)
class Window:
    """Production rows with ``start <= timestamp < end``; None means unbounded."""

    start: datetime | None = None
    end: datetime | None = None
    # The monitoring window's span ("7d") when this is the trailing default window; a label
    # only: the same rows compare equal (and share cached results) however they were chosen.
    span: str | None = field(default=None, compare=False)
    # (column, value): only the rows of that segment, on both sides (see Engine.window_sql).
    segment: tuple[str, str] | None = None

    def __post_init__(self):
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise DriftdeckError(
                f"window start {self.start.isoformat()} must be before end {self.end.isoformat()}"
            )

    def predicate(self, timestamp: str | None, table: str | None = None) -> tuple[str, dict]:
        """A SQL predicate on the quoted timestamp column (of ``table``) with its bound parameters."""
        if timestamp is None or (self.start is None and self.end is None):
            return "TRUE", {}
        col = f"{ident(table)}.{ident(timestamp)}" if table else ident(timestamp)
        parts, params = [], {}
        if self.start is not None:
            parts.append(f"{col} >= CAST($window_start AS TIMESTAMP)")
            params["window_start"] = self.start
        if self.end is not None:
            parts.append(f"{col} < CAST($window_end AS TIMESTAMP)")
            params["window_end"] = self.end
        return " AND ".join(parts), params

    def as_dict(self) -> dict:
        out = {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }
        if self.span is not None:
            out["span"] = self.span
        if self.segment is not None:
            out["segment"] = {"column": self.segment[0], "value": self.segment[1]}
        return out

    @property
    def whole(self) -> bool:
        """True when the window holds every production row."""
        return self.start is None and self.end is None


ALL_ROWS = "all"
SEGMENT_MISSING = "(missing)"
"""The segment of rows whose segment column is missing."""
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(h|d|w)\s*$", re.IGNORECASE)
_SPAN_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def parse_span(text: str, what: str) -> timedelta | None:
    """A monitoring-window span such as ``"7d"``, ``"36h"`` or ``"2w"``; None for ``"all"``."""
    if isinstance(text, str) and text.strip().lower() == ALL_ROWS:
        return None
    match = _SPAN.match(text) if isinstance(text, str) else None
    if not match or float(match.group(1)) <= 0:
        raise DriftdeckError(
            f'{what}: {text!r} is not a window span (use e.g. "7d", "36h", "2w" or "all")'
        )
    return float(match.group(1)) * _SPAN_UNITS[match.group(2).lower()]


def trailing_window(newest: datetime | None, span: str) -> Window:
    """The monitoring window: the ``span`` up to and including the newest production row
    (every row when the span is "all" or nothing has a timestamp)."""
    width = parse_span(span, "monitoring.window")
    if width is None or not isinstance(newest, datetime):
        return Window(span=ALL_ROWS)
    return Window(newest - width, None, span=span)


def parse_timestamp(text: str, what: str) -> datetime:
    """An ISO timestamp as naive UTC; a one-line error naming ``what`` otherwise."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DriftdeckError(
            f"{what}: '{text}' is not an ISO timestamp (e.g. 2026-01-31T00:00:00)"
        ) from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def bucket_width(start: datetime, end: datetime, bucket: str = "auto") -> tuple[str, timedelta]:
    """The time-bucket width for a span: a named width, or auto (10–60 buckets)."""
    if bucket != "auto":
        if bucket not in BUCKET_WIDTHS:
            raise DriftdeckError(
                f"bucket '{bucket}' is unknown (use auto, {', '.join(BUCKET_WIDTHS)})"
            )
        return bucket, BUCKET_WIDTHS[bucket]
    span = max(end - start, timedelta(seconds=1))
    counts = {name: math.ceil(span / width) for name, width in BUCKET_WIDTHS.items()}
    fitting = [name for name, n in counts.items() if 10 <= n <= 60]
    if fitting:
        name = min(fitting, key=lambda n: abs(counts[n] - 30))
    else:
        name = next((n for n, c in counts.items() if c <= 60), "30 days")
    return name, BUCKET_WIDTHS[name]
