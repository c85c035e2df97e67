"""The production time window [start, end) and the time buckets that split it."""

from __future__ import annotations

import math
from dataclasses import dataclass
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
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


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
