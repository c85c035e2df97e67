"""Severity: the one place a measured value is judged against its thresholds (docs/metrics.md,
Thresholds). The typed report (``app.report_types``) and the alert rules ask here; renderers read
the severity the report carries and never compare a value with a threshold themselves."""

from __future__ import annotations

import math
from typing import Any, Literal

from app.config import Level

CRITICAL = "critical"
WARNING = "warning"
OK = "ok"
NOT_SIGNIFICANT = "not significant"
"""A PSI under its sample-size floor: noise at these sample sizes, drawn grey, never alerted."""

Severity = Literal["critical", "warning", "ok"]


def as_number(value: Any) -> float | None:
    """A finite-or-infinite float, or None for missing, NaN and non-numbers."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def severity(value: Any, level: Level) -> Severity | None:
    """``critical`` at or over the critical level, ``warning`` at or over the warning level, else
    ``ok``; None when there is no value to judge."""
    number = as_number(value)
    if number is None:
        return None
    if number >= level.critical:
        return CRITICAL
    if number >= level.warning:
        return WARNING
    return OK


def crossed(value: Any, level: Level) -> tuple[Severity, float] | None:
    """The severity and the threshold a value reached, or None below the warning level."""
    found = severity(value, level)
    if found in (CRITICAL, WARNING):
        return found, level.critical if found == CRITICAL else level.warning
    return None


def psi_severity(psi: Any, significant: Any, level: Level) -> str | None:
    """A PSI's status: ``NOT_SIGNIFICANT`` when it is under its sample-size floor, else its
    severity against the PSI thresholds (None without a PSI)."""
    if significant is False and as_number(psi) is not None:
        return NOT_SIGNIFICANT
    return severity(psi, level)


def dataset_drift_severity(drifted: Any, drifted_features: Any, judged_features: Any) -> str | None:
    """Critical when the dataset drifted (the drifted share at or over its level), warning when
    some feature drifted, ok when none did; None when no feature could be judged."""
    if not judged_features:
        return None
    if drifted:
        return CRITICAL
    return WARNING if drifted_features else OK
