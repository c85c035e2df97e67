"""Renderers draw the severities the report judged (app/severity.py, app/report_types.py): no
page, CLI, export, MLflow logging, Prometheus or notification module compares a value with a
threshold or calls a judgement of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RENDERERS = sorted(
    [
        *(ROOT / "app" / "pages").glob("*.py"),
        *(ROOT / "app").glob("export*.py"),
        *(
            ROOT / "app" / name
            for name in (
                "cli.py",
                "monitor_log.py",
                "prometheus.py",
                "metrics_endpoint.py",
                "notifications.py",
                "theme.py",
            )
        ),
    ]
)
LEVELS = {"critical", "warning"}
"""The two levels of a threshold (``config.Level``)."""
JUDGEMENTS = {"severity", "psi_severity", "dataset_drift_severity", "crossed", "feature_severity"}
"""Functions that judge a value against thresholds: only the report layer calls them."""


def _mentions_a_threshold(node: ast.AST) -> bool:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Attribute) and inner.attr in LEVELS:
            return True
        if isinstance(inner, ast.Name) and inner.id in LEVELS | {"thresholds"}:
            return True
        if isinstance(inner, ast.Attribute) and inner.attr == "thresholds":
            return True
    return False


def judgements(source: str) -> list[str]:
    """Where a module judges: comparisons with a threshold, calls of a judging function, and
    judging functions imported from app.severity."""
    found = []
    for node in ast.walk(ast.parse(source)):
        ordering = isinstance(node, ast.Compare) and any(
            isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE) for op in node.ops
        )
        if ordering and any(_mentions_a_threshold(part) for part in (node.left, *node.comparators)):
            found.append(f"line {node.lineno}: compares with a threshold: {ast.unparse(node)}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in JUDGEMENTS:
                found.append(f"line {node.lineno}: judges: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module == "app.severity":
            judged = [a.name for a in node.names if a.name in JUDGEMENTS]
            if judged:
                found.append(f"line {node.lineno}: imports {', '.join(judged)}")
    return found


@pytest.mark.parametrize("path", RENDERERS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_renderer_judges_a_severity(path):
    assert judgements(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_a_judgement():
    judged = """
from app.severity import severity
def colour(value, level, thresholds):
    if value >= level.critical:
        return "critical"
    return theme.severity(value, thresholds["psi"].critical, thresholds["psi"].warning)
"""
    assert len(judgements(judged)) == 3
    assert judgements("def f(value, limit):\n    return value >= limit\n") == []
