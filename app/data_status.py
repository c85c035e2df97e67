"""System status of the data components: reference, inputs, predictions, labels."""

from __future__ import annotations

from datetime import datetime

from app.config import ROLES
from app.engine import Engine


def _age(newest: datetime | None, now: datetime) -> str:
    if newest is None:
        return "no timestamp"
    seconds = (now - newest).total_seconds()
    if seconds < 0:
        return "newest row is in the future"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"newest row {n} {unit}{'s' if n != 1 else ''} old"
    return "newest row just now"


def data_status(engine: Engine, now: datetime | None = None) -> list[dict]:
    """One entry per data role: exists, readable, rows, newest timestamp and staleness."""
    now = now or datetime.utcnow()  # noqa: DTZ003 - timestamps in the views are naive UTC
    out = []
    for role in ("reference", "inputs", "predictions", "labels"):
        state = engine.sources.state(role)
        entry = {
            "component": role,
            "ok": False,
            "message": "",
            "location": state.location,
            "files": len(state.files),
        }
        if not engine.sources.available(role):
            optional = role == "labels"
            entry["ok"] = optional and not state.skipped
            entry["message"] = state.problem or "no data"
            if optional and entry["ok"]:
                entry["message"] = f"optional, none yet ({state.problem})"
            out.append(entry)
            continue
        rows, _first, newest = (
            engine.time_range(role) if role != "reference" else (None, None, None)
        )
        if role == "reference":
            rows = engine.window_rows_all()["reference"]
        entry.update(
            {
                "ok": bool(rows),
                "rows": rows,
                "newest": newest.isoformat() if newest else None,
                "age_seconds": (now - newest).total_seconds() if newest else None,
            }
        )
        parts = [f"{rows:,} rows in {len(state.files)} file{'s' if len(state.files) != 1 else ''}"]
        if role != "reference":
            parts.append(_age(newest, now))
        if not rows:
            parts.append("no rows")
        if state.skipped:
            parts.append(f"skipped {len(state.skipped)} unreadable: {state.skipped[0]}")
            entry["ok"] = False
        entry["message"] = "; ".join(parts)
        out.append(entry)
    return out


def columns_status(engine: Engine) -> list[dict]:
    """A configured column that is in none of the data (a typo in ``[columns]``), named."""
    columns = engine.config.columns
    schemas = {role: engine.sources.schema(role) for role in ROLES}
    if not any(schemas.values()):
        return []  # no data at all: the data entries say so
    seen = {name for schema in schemas.values() for name in schema}
    out = []
    for key in ("timestamp", "id", "target", "prediction", "probability", "model_version"):
        name = getattr(columns, key)
        if name and name not in seen:
            out.append((f"columns.{key}", name))
    out += [
        (f"columns.probabilities.{cls}", name)
        for cls, name in columns.probabilities
        if name not in seen
    ]
    for key in ("numerical", "categorical", "high_cardinality", "ignored", "segments"):
        out += [(f"columns.{key}", name) for name in getattr(columns, key) if name not in seen]
    return [
        {
            "component": "config",
            "ok": False,
            "message": f"{key}: {name!r} is not a column of any data file",
        }
        for key, name in out
    ]
