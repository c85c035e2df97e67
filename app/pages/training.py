"""Training runs from MLflow as the pages need them: accuracy and F1 per run, shared by sessions.

MLflow answers slowly (its import alone takes seconds) and may be down, so the result is cached
process-wide for ``refresh_seconds`` and a failure becomes a message instead of an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.config import Config
from app.numbers import finite_number
from app.single_flight import SingleFlight

F1_PREFERENCE = (("macro_f1", "F1 (macro)"), ("f1", "F1"), ("weighted_f1", "F1 (weighted)"))


@dataclass(frozen=True)
class TrainingScores:
    """Accuracy and F1 of each training run, oldest first; ``message`` says why there are none."""

    points: list[dict] = field(default_factory=list)
    """One entry per run and metric: start, run, metric, value (for the trend chart)."""
    latest_accuracy: float | None = None
    latest_run: str | None = None
    runs: int = 0
    message: str = ""
    experiment: str | None = None
    """The MLflow experiment the runs come from."""
    note: str = ""
    """Why that is not the configured training experiment (empty when it is)."""


def _scores(config: Config) -> TrainingScores:
    try:
        from app.mlflow_reader import MLflowUnavailable, shared_reader
    except ImportError:
        return TrainingScores(message="The MLflow reader is not available in this installation.")
    try:
        frame = shared_reader(config).training_runs()
    except MLflowUnavailable as exc:
        return TrainingScores(message=str(exc))
    experiment = frame.attrs.get("experiment") or config.mlflow.training_experiment
    note = frame.attrs.get("experiment_note") or ""
    if frame.empty:
        reason = frame.attrs.get("message") or f"no runs in experiment '{experiment}'"
        return TrainingScores(message=f"No training runs: {reason}.", note=note)
    headline = (frame.attrs.get("metrics") or {}).get("headline", {})
    metrics = []
    if "accuracy" in headline:
        metrics.append((headline["accuracy"], "Accuracy"))
    for key, label in F1_PREFERENCE:
        if key in headline:
            metrics.append((headline[key], label))
            break
    if not metrics:
        return TrainingScores(
            runs=len(frame),
            message=f"The {len(frame)} runs of experiment '{experiment}' log neither accuracy nor F1.",
            experiment=experiment,
            note=note,
        )
    points, latest_accuracy, latest_run = [], None, None
    for row in frame.sort_values("start_time").to_dict("records"):
        start = row.get("start_time")
        start = (
            start.tz_convert("UTC").tz_localize(None).to_pydatetime()
            if start is not None and start == start
            else None
        )
        name = row.get("run_name") or str(row.get("run_id", ""))[:8]
        for column, label in metrics:
            value = finite_number(row.get(column))
            if value is None or start is None:
                continue
            points.append({"start": start, "run": str(name), "metric": label, "value": value})
            if label == "Accuracy":
                latest_accuracy, latest_run = value, str(name)
    return TrainingScores(
        points=points,
        latest_accuracy=latest_accuracy,
        latest_run=latest_run,
        runs=len(frame),
        experiment=experiment,
        note=note,
    )


_SCORES = SingleFlight()
"""Training scores by (tracking URI, experiment), shared by every session."""


def training_scores(config: Config) -> TrainingScores:
    """The training runs' scores, computed once per ``refresh_seconds`` for the whole process."""
    # The registered model is part of the key: it leads to the runs when the experiment is gone.
    key = (config.tracking_uri, config.mlflow.training_experiment, config.mlflow.registered_model)
    ttl = max(int(config.refresh_seconds or 30), 5)
    return _SCORES.get(key, lambda: _scores(config), ttl=ttl)
