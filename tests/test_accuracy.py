"""Accuracy-drop alerts: production accuracy in the window against its baseline."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.config import Columns, Config
from app.engine import Engine
from app.report import full_report
from app.window import Window
from tests.worlds import files_config, write


def _world(root: Path, before: float, now: float, seed: int = 0) -> Config:
    """30 days of labelled predictions, right with probability ``before`` until day 23 and
    ``now`` in the last 7 days; no MLflow store."""
    rng = np.random.default_rng(seed)
    n = 30 * 96
    start = datetime(2026, 5, 1)
    times = [start + timedelta(minutes=15 * i) for i in range(n)]
    late = np.array([t >= start + timedelta(days=23) for t in times])
    right = rng.random(n) < np.where(late, now, before)
    predicted = rng.choice(["a", "b"], n)
    truth = np.where(right, predicted, np.where(predicted == "a", "b", "a"))
    ids = [f"r{i}" for i in range(n)]
    write(
        root / "in.parquet",
        pd.DataFrame({"timestamp": times, "request_id": ids, "x": rng.random(n)}),
    )
    write(
        root / "pred.parquet",
        pd.DataFrame({"timestamp": times, "request_id": ids, "prediction": predicted}),
    )
    write(root / "lab.parquet", pd.DataFrame({"request_id": ids, "label": truth}))
    write(
        root / "ref.parquet",
        pd.DataFrame({"x": rng.random(300), "label": rng.choice(["a", "b"], 300)}),
    )
    return files_config(root, Columns(target="label"))


def _accuracy_alerts(report: dict) -> list[dict]:
    return [a for a in report["alerts"] if a["metric"] == "accuracy_drop"]


@pytest.mark.parametrize(("now", "severity"), [(0.55, "critical"), (0.76, "warning"), (0.83, None)])
def test_a_falling_accuracy_alerts_against_the_rows_before_the_window(tmp_path, now, severity):
    config = _world(tmp_path, before=0.85, now=now)
    engine = Engine(config)
    window = engine.monitoring_window()
    report = full_report(engine, window, config, mlflow=False)
    accuracy = report["accuracy"]

    frame = pd.read_parquet(tmp_path / "pred.parquet").merge(
        pd.read_parquet(tmp_path / "lab.parquet"), on="request_id"
    )
    right = frame["prediction"] == frame["label"]
    inside = frame["timestamp"] >= window.start
    assert accuracy["realized"] == pytest.approx(right[inside].mean(), rel=1e-12)
    assert accuracy["baseline"] == pytest.approx(right[~inside].mean(), rel=1e-12)
    assert "before the window" in accuracy["baseline_source"]
    assert accuracy["drop"] == pytest.approx(right[~inside].mean() - right[inside].mean())

    alerts = _accuracy_alerts(report)
    assert [a["severity"] for a in alerts] == ([severity] if severity else [])
    if severity:
        assert alerts[0]["feature"] == "accuracy" and "points" in alerts[0]["message"]


def test_no_alert_and_a_reason_without_a_baseline(tmp_path):
    config = _world(tmp_path, before=0.85, now=0.4)
    # Every row: nothing comes before the window, and --no-log keeps MLflow out.
    report = full_report(Engine(config), Window(), config, mlflow=False)
    assert report["accuracy"]["baseline"] is None and _accuracy_alerts(report) == []
    status = [s for s in report["status"] if s["component"] == "accuracy"]
    assert status and "no accuracy baseline" in status[0]["message"]
