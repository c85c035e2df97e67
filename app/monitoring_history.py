"""Backfill the monitoring experiment: one ``driftdeck monitor`` run per past production day."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.config import Config
from app.progress import Progress, quiet


def backfill(
    config: Config, start: datetime, end: datetime, progress: Progress = quiet
) -> list[str]:
    """Log one monitor run per day in [start, end) to MLflow, as the nightly job would have."""
    from app.alerts import evaluate_alerts
    from app.engine import Engine
    from app.monitor_log import log_monitor_run
    from app.report import build_report
    from app.report_json import jsonable
    from app.window import Window

    engine = Engine(config)
    run_ids = []
    day = start
    while day < end:
        window = Window(day, min(day + timedelta(days=1), end))
        report = build_report(engine, window, config)
        report["alerts"] = evaluate_alerts(report, config)
        run_ids.append(log_monitor_run(jsonable(report), config, alerts=report["alerts"]))
        day = window.end
    progress(f"monitoring history: {len(run_ids)} daily monitor runs logged")
    return run_ids
