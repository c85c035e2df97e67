"""MLflow runs as a flat table, and which of its columns are the common classification metrics."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

RUN_COLUMNS = ("run_id", "run_name", "start_time", "end_time", "status")


def _ordered_columns(rows: list[dict], first: Iterable[str]) -> list[str]:
    first = list(first)
    metrics, params = set(), set()
    for row in rows:
        for key in row:
            if key in first:
                continue
            (params if key.startswith("param.") else metrics).add(key)
    return first + sorted(metrics) + sorted(params)


def runs_frame(runs: Iterable[Any]) -> pd.DataFrame:
    """MLflow ``Run`` objects as a flat table (start and end as UTC timestamps)."""
    import pandas as pd

    rows = []
    for run in runs:
        info, data = run.info, run.data
        row = {
            "run_id": info.run_id,
            "run_name": info.run_name,
            "start_time": info.start_time,
            "end_time": info.end_time,
            "status": info.status,
        }
        for metric, value in data.metrics.items():
            row[metric if metric not in RUN_COLUMNS else f"metric.{metric}"] = value
        for param, value in data.params.items():
            row[f"param.{param}"] = value
        rows.append(row)
    frame = pd.DataFrame(rows, columns=_ordered_columns(rows, RUN_COLUMNS))
    for column in ("start_time", "end_time"):
        frame[column] = pd.to_datetime(frame[column], unit="ms", utc=True)
    return frame


# --- metric names ----------------------------------------------------------------------------

_HEADLINE = {
    "accuracy": ("accuracy", "acc"),
    "f1": ("f1",),
    "macro_f1": ("macro_f1", "f1_macro", "macro_avg_f1", "f1_macro_avg"),
    "weighted_f1": ("weighted_f1", "f1_weighted", "weighted_avg_f1", "f1_weighted_avg"),
    "roc_auc": (
        "roc_auc",
        "auc",
        "roc_auc_ovr",
        "roc_auc_ovo",
        "roc_auc_ovr_weighted",
        "roc_auc_macro",
    ),
    "precision": ("precision", "macro_precision", "precision_macro", "weighted_precision"),
    "recall": ("recall", "macro_recall", "recall_macro", "weighted_recall"),
    "log_loss": ("log_loss", "logloss"),
}
_PREFIXES = ("test_", "val_", "validation_", "eval_", "holdout_")
_PER_CLASS = re.compile(
    r"^(?:(?P<m1>precision|recall|f1)_(?P<c1>.+)|(?P<c2>.+?)_(?P<m2>precision|recall|f1))$"
)
_AVERAGES = {"macro", "weighted", "micro", "macro_avg", "weighted_avg", "micro_avg", "avg", "score"}


def _normalise(name: str) -> str:
    key = name.lower().replace("-", "_").replace(" ", "_").replace(".", "_")
    key = key.removesuffix("_score").replace("f1_score", "f1")
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def recognised_metrics(columns: Iterable[str]) -> dict:
    """Which run columns are the common classification metrics.

    ``{"headline": {canonical: column}, "per_class": [{"column", "class", "metric"}]}`` where
    canonical is accuracy, f1, macro_f1, weighted_f1, roc_auc, precision, recall or log_loss
    (an unprefixed name wins over test_/val_ spellings), and per-class metrics are
    ``precision|recall|f1`` before or after a class name.
    """
    candidates: dict[str, list[tuple[int, str]]] = {}
    per_class = []
    for column in columns:
        column = str(column)
        if column in RUN_COLUMNS or column.startswith("param."):
            continue
        key = _normalise(column)
        canonical = next((c for c, spellings in _HEADLINE.items() if key in spellings), None)
        if canonical:
            prefixed = column.lower().startswith(_PREFIXES)
            candidates.setdefault(canonical, []).append((int(prefixed), column))
            continue
        match = _PER_CLASS.match(key)
        if match:
            metric = match.group("m1") or match.group("m2")
            cls = match.group("c1") or match.group("c2")
            if cls not in _AVERAGES and not cls.endswith(tuple(f"_{a}" for a in _AVERAGES)):
                per_class.append({"column": column, "class": cls, "metric": metric})
    headline = {canonical: min(found)[1] for canonical, found in candidates.items()}
    return {"headline": headline, "per_class": per_class}
