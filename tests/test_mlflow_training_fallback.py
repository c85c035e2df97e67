"""An MLflow store as teams have it (issue 18, item 7): the training runs in an experiment named
after the project, the configured ``training`` experiment deleted, the registered model's
``production`` and ``staging`` aliases on one version. The pages find the runs through the
production version's source run, say which experiment they read, and show one accuracy for the
model everywhere; when nothing leads to the runs they list the experiments there are."""

from __future__ import annotations

import html
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from app import theme
from app.accuracy import accuracy_report
from app.config import MLflowSettings
from app.mlflow_reader import MLflowReader
from app.pages.base import data_report
from app.pages.overview import Overview
from app.pages.performance import PerformanceMetrics
from tests.mlflow_helpers import fresh_store, restore_mlflow_env  # noqa: F401 - autouse fixture
from tests.page_helpers import monitor_on, render, renderer_frame, shown_text
from tests.worlds import make_world

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
HOUR = 3_600_000
MODEL = "HousingPriceClassifier"
PROJECT = "housing-price"
N_RUNS = 125
PRODUCTION_RUN = 100
"""The project run whose model version carries the production and staging aliases."""


def run_accuracy(i: int) -> float:
    return round(0.70 + i / 1000, 4)


def team_store(root: Path, *, metric: str = "accuracy", runs: int = N_RUNS) -> str:
    """The store of the issue: ``runs`` runs in experiment ``PROJECT``, a deleted ``training``
    experiment (with a run of its own), a ``scratch`` experiment, and model versions v1-v4 from
    project runs (v3 aliased production and staging) and v5, the newest, from a scratch run.
    Accuracy is logged as ``metric``."""
    store = fresh_store(root / "mlflow.db")
    uri = f"sqlite:///{store}"
    client = MlflowClient(uri)
    training = client.create_experiment("training", artifact_location=(root / "a/t").as_uri())
    stale = client.create_run(training, start_time=T0, run_name="stale")
    client.log_metric(stale.info.run_id, metric, 0.1, timestamp=T0)
    client.delete_experiment(training)
    project = client.create_experiment(PROJECT, artifact_location=(root / "a/p").as_uri())
    scratch = client.create_experiment("scratch", artifact_location=(root / "a/s").as_uri())
    ids = []
    for i in range(runs):
        run = client.create_run(project, start_time=T0 + i * HOUR, run_name=f"train-{i}")
        client.log_batch(
            run.info.run_id,
            metrics=[
                Metric(metric, run_accuracy(i), T0, 0),
                Metric("macro_f1", 0.6 + i / 1000, T0, 0),
            ],
            params=[Param("max_depth", str(i % 7))],
        )
        client.set_terminated(run.info.run_id, "FINISHED", T0 + i * HOUR + 60_000)
        ids.append(run.info.run_id)
    other = client.create_run(scratch, start_time=T0, run_name="notebook")
    client.log_metric(other.info.run_id, metric, 0.5, timestamp=T0)
    client.create_registered_model(MODEL)
    production = min(PRODUCTION_RUN, runs - 1)
    for run_id in (ids[0], ids[1], ids[production], ids[-1], other.info.run_id):
        client.create_model_version(MODEL, str(root / "model"), run_id=run_id)
    client.set_registered_model_alias(MODEL, "production", "3")
    client.set_registered_model_alias(MODEL, "staging", "3")
    return uri


def world_with(root: Path, uri: str, **mlflow):
    config = make_world(root)
    return replace(config, mlflow=MLflowSettings(tracking_uri=uri, timeout_seconds=10, **mlflow))


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    root = tmp_path_factory.mktemp("team-store")
    return world_with(root, team_store(root))


def test_the_runs_are_found_through_the_production_versions_source_run(team):
    runs = MLflowReader(team).training_runs()
    assert len(runs) == N_RUNS
    assert runs.attrs["experiment"] == PROJECT
    note = runs.attrs["experiment_note"]
    assert "experiment 'training' is deleted" in note
    assert f"experiment '{PROJECT}'" in note
    assert f"model '{MODEL}' v3 (production)" in note
    assert runs["accuracy"].tolist() == pytest.approx([run_accuracy(i) for i in range(N_RUNS)])
    # The status line says which experiment the training runs come from.
    ping = MLflowReader(team).ping()
    assert ping["ok"] and note in ping["message"]
    assert ping["training_experiment"] == PROJECT


def test_overview_and_performance_show_the_runs_and_one_accuracy(team):
    monitor = monitor_on(team)
    expected = run_accuracy(PRODUCTION_RUN)
    note = f"MLflow: {MLflowReader(team).training_experiment().note}."

    overview = Overview(monitor=monitor)
    overview_text = shown_text(render(overview))
    assert "No training runs" not in overview_text
    assert html.escape(note) in overview_text
    trend = renderer_frame(overview.trend_body.objects[-1].object, "points")
    assert set(trend.loc[trend["metric"] == "Accuracy", "run"]) == {
        f"train-{i}" for i in range(N_RUNS)
    }

    performance = PerformanceMetrics(monitor=monitor)
    performance_text = shown_text(render(performance))
    assert "No training runs" not in performance_text
    assert html.escape(note) in performance_text
    assert len(performance.runs_body.objects[-1].value) == N_RUNS
    assert html.escape(f"{N_RUNS} runs of experiment '{PROJECT}'") in performance_text

    # One accuracy for the model: Performance's card, the Overview card's baseline and the
    # monitor's baseline (with and without MLflow's status checks) are v3's logged accuracy.
    card = performance.latest_cards["accuracy"]
    assert card.value == pytest.approx(expected)
    report = data_report(monitor)["accuracy"]
    assert report["baseline"] == pytest.approx(expected)
    assert "version 3 (production)" in report["baseline_source"]
    shown = f"baseline {theme.format_share(expected)} ({report['baseline_source']})"
    assert shown in overview.kpis["accuracy"].details
    cli = accuracy_report(monitor.engine, monitor.window, team, mlflow=True)
    assert cli["baseline"] == pytest.approx(expected)


def test_accuracy_logged_under_another_name_is_one_accuracy(tmp_path):
    config = world_with(tmp_path, team_store(tmp_path, metric="val_accuracy", runs=6))
    monitor = monitor_on(config)
    performance = PerformanceMetrics(monitor=monitor)
    render(performance)
    expected = run_accuracy(5)  # v3 came from the last of the six runs
    assert performance.latest_cards["accuracy"].value == pytest.approx(expected)
    accuracy = data_report(monitor)["accuracy"]
    assert accuracy["baseline"] == pytest.approx(expected)
    assert "val_accuracy" in accuracy["baseline_source"]
    overview = Overview(monitor=monitor)
    render(overview)
    assert any(theme.format_share(expected) in line for line in overview.kpis["accuracy"].details)


def test_without_a_production_alias_the_newest_versions_run_leads(tmp_path):
    uri = team_store(tmp_path, runs=4)
    MlflowClient(uri).delete_registered_model_alias(MODEL, "production")
    config = world_with(tmp_path, uri)
    runs = MLflowReader(config).training_runs()
    # v5, the newest version, came from the scratch notebook run.
    assert runs.attrs["experiment"] == "scratch" and len(runs) == 1
    assert f"model '{MODEL}' v5, the newest version" in runs.attrs["experiment_note"]


def test_when_nothing_leads_to_the_runs_the_experiments_there_are_are_listed(team):
    config = replace(team, mlflow=replace(team.mlflow, registered_model="Unregistered"))
    reader = MLflowReader(config)
    runs = reader.training_runs()
    assert runs.empty
    message = runs.attrs["message"]
    assert "experiment 'training' is deleted" in message
    assert f"experiments there: 'Default', '{PROJECT}', 'scratch'" in message
    assert message in reader.ping()["message"]

    monitor = monitor_on(config)
    for page in (Overview(monitor=monitor), PerformanceMetrics(monitor=monitor)):
        text = shown_text(render(page))
        assert "No training runs" in text
        assert html.escape(f"experiments there: 'Default', '{PROJECT}', 'scratch'") in text
