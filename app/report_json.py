"""The report as strict JSON: what ``monitor --json`` prints and MLflow keeps."""

from __future__ import annotations

import json
import math
from datetime import date, datetime


def jsonable(value):
    """Report values as strict JSON: datetimes as ISO text, NaN/inf as null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return jsonable(value.item())
    return value


def to_json(report: dict) -> str:
    return json.dumps(jsonable(report), indent=2, allow_nan=False, ensure_ascii=False)
