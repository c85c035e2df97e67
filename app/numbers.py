"""Numbers read from logs, MLflow and reports: a finite float, or None for anything else."""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> float | None:
    """``value`` as a finite float; None for missing, NaN, ±inf and text that is no number
    (MLflow hands metrics and params back as numbers, strings or NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
