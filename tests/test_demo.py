"""The demo world: deterministic files, real MLflow runs and registry, the drift story and the
challenger serving part of the last ten days."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from app.config import load_config
from app.demo import (
    CATEGORICAL,
    CLASSES,
    DISTRICT_NAMES,
    NEW_DISTRICT,
    NUMERICAL,
    DemoFiles,
    build_demo,
    market,
    reference_rows,
)
from app.demo_model import REGISTERED_MODEL, RETRAINED, model_input
from app.window import Window

ROWS = 20_000
SEED = 7
NOW = datetime(2025, 3, 14, 9, 30)
START = NOW - timedelta(days=30)
ROLES = ("reference", "inputs", "predictions", "labels")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> DemoFiles:
    out = tmp_path_factory.mktemp("demo")
    tracking_before = mlflow.get_tracking_uri()
    env_before = os.environ.get("MLFLOW_TRACKING_URI")
    build_demo(out, rows=ROWS, seed=SEED, now=NOW)
    # The build points MLflow at its own store only while it runs.
    assert mlflow.get_tracking_uri() == tracking_before
    assert os.environ.get("MLFLOW_TRACKING_URI") == env_before
    return DemoFiles(out)


def read(files: DemoFiles, role: str) -> pa.Table:
    return pq.read_table(getattr(files, role))


def frame(files: DemoFiles, role: str) -> pd.DataFrame:
    return read(files, role).to_pandas()


def day_of(timestamps: pd.Series) -> np.ndarray:
    return ((timestamps - pd.Timestamp(START)) / pd.Timedelta(days=1)).to_numpy()


def registry(files: DemoFiles) -> mlflow.MlflowClient:
    uri = f"sqlite:///{files.mlflow_db}"
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def versions_by_alias(files: DemoFiles) -> dict[str, str]:
    """The registry's version numbers behind the production and staging aliases."""
    client = registry(files)
    return {
        alias: str(client.get_model_version_by_alias(REGISTERED_MODEL, alias).version)
        for alias in ("production", "staging")
    }


def millis(moment: datetime) -> float:
    """Milliseconds since the epoch of a naive UTC datetime, as MLflow times runs."""
    return (moment - datetime(1970, 1, 1)).total_seconds() * 1000


def psi(reference: np.ndarray, production: np.ndarray) -> float:
    """Numerical PSI as docs/metrics.md defines it (decile edges of the reference, ε = 1e-4)."""
    edges = np.unique(np.quantile(reference, np.arange(1, 10) / 10))

    def shares(values: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
        return np.maximum(counts / len(values), 1e-4)

    p, q = shares(reference), shares(production)
    return float(np.sum((q - p) * np.log(q / p)))


def test_rebuild_gives_identical_data_and_keeps_other_files(demo, capfd):
    before = {role: read(demo, role) for role in ROLES}
    config_before = demo.config.read_text()
    notes = demo.out / "notes.txt"
    notes.write_text("mine")
    other_log = demo.inputs.parent / "2025-01-01.csv"
    other_log.write_text("a,b\n")

    build_demo(demo.out, rows=ROWS, seed=SEED, now=NOW)

    captured = capfd.readouterr()
    assert captured.out == ""  # stdout stays clean (`driftdeck demo` may be piped)
    for role in ROLES:
        assert read(demo, role).equals(before[role]), role
    assert demo.config.read_text() == config_before
    assert notes.read_text() == "mine" and other_log.read_text() == "a,b\n"
    assert not list(demo.out.rglob("*.partial"))
    # The old MLflow store was replaced, not appended to.
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{demo.mlflow_db}")
    experiment = client.get_experiment_by_name("training")
    assert len(client.search_runs([experiment.experiment_id])) == 8  # 7 candidates + the retrain
    other_log.unlink()
    notes.unlink()


@pytest.mark.parametrize(
    "owned", ["mlflow.db", "driftdeck.toml", "data/production/inputs.parquet", "mlartifacts"]
)
def test_the_demo_never_replaces_what_it_did_not_write(tmp_path, owned, capsys):
    from app.cli import ensure_demo_world
    from app.errors import DriftdeckError

    mine = tmp_path / owned
    mine.parent.mkdir(parents=True, exist_ok=True)
    if owned == "mlartifacts":
        mine.mkdir()
        mine = mine / "run.json"
    mine.write_bytes(b"the user's own")
    with pytest.raises(DriftdeckError, match=f"{tmp_path / owned}: already exists and was not"):
        build_demo(tmp_path, rows=1_000, seed=SEED, now=NOW)
    # `driftdeck serve`'s first run in such a folder says so and serves what there is.
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        ensure_demo_world(None)  # (a config or data of their own: not a first run at all)
        if owned in ("mlflow.db", "mlartifacts"):
            assert "not building the demo world here" in capsys.readouterr().err
    finally:
        os.chdir(cwd)
    assert mine.read_bytes() == b"the user's own"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == [
        mine.relative_to(tmp_path)
    ]


def test_seed_changes_the_market():
    day = np.zeros(1_000)
    first = market(np.random.default_rng([1, 1]), day, 500)
    again = market(np.random.default_rng([1, 1]), day, 500)
    other = market(np.random.default_rng([2, 1]), day, 500)
    assert all(first[name].equals(again[name]) for name in first)
    assert not first["gross_sqm"].equals(other["gross_sqm"])


def test_schemas(demo):
    features = [*NUMERICAL, *CATEGORICAL, "address"]
    ts = pa.timestamp("us")
    reference = read(demo, "reference")
    assert reference.column_names == [*features, "price_category"]
    assert reference.num_rows == reference_rows(ROWS) == 5_000
    inputs = read(demo, "inputs")
    assert inputs.column_names == ["timestamp", "request_id", *features]
    assert inputs.schema.field("timestamp").type == ts
    assert inputs.num_rows == ROWS
    for name in ("gross_sqm", "net_sqm"):
        assert inputs.schema.field(name).type == pa.float64()
    for name in ("building_age", "rooms", *CATEGORICAL, "address", "request_id"):
        assert (
            pa.types.is_integer(inputs.schema.field(name).type)
            or inputs.schema.field(name).type == pa.string()
        )
    predictions = read(demo, "predictions")
    assert predictions.column_names == [
        "timestamp",
        "request_id",
        "prediction",
        "probability",
        "model_version",
    ]
    assert predictions.schema.field("timestamp").type == ts
    assert predictions.schema.field("model_version").type == pa.string()
    labels = read(demo, "labels")
    assert labels.column_names == ["request_id", "timestamp", "price_category"]
    assert labels.schema.field("timestamp").type == ts
    assert pq.read_metadata(demo.inputs).num_row_groups >= 1
    assert pq.read_schema(demo.inputs).metadata is None  # no pandas or wall-clock metadata


def test_production_values(demo):
    inputs, predictions = frame(demo, "inputs"), frame(demo, "predictions")
    assert inputs["timestamp"].is_monotonic_increasing
    assert inputs["timestamp"].min() >= pd.Timestamp(START)
    assert inputs["timestamp"].max() < pd.Timestamp(NOW)
    assert inputs["request_id"].is_unique
    assert (
        inputs["request_id"]
        .str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
        .all()
    )
    assert (predictions["request_id"] == inputs["request_id"]).all()
    assert (predictions["timestamp"] == inputs["timestamp"]).all()
    assert set(predictions["prediction"]) == set(CLASSES)
    assert predictions["probability"].between(0.333, 1).all()  # the most likely of 3 classes
    assert set(inputs["district"]) <= set(DISTRICT_NAMES)
    assert inputs["rooms"].between(1, 6).all()
    assert (inputs["net_sqm"].dropna() < inputs["gross_sqm"][inputs["net_sqm"].notna()]).all()
    assert 0 < inputs["building_age"].isna().mean() < 0.05  # real logs have gaps
    assert inputs["address"].str.fullmatch(r"[A-Za-z ]+ No\. \d+, [A-Za-z]+").all()
    reference = frame(demo, "reference")
    shares = reference["price_category"].value_counts(normalize=True)
    assert set(shares.index) == set(CLASSES) and shares.min() > 0.2


def test_labels_arrive_three_days_late(demo):
    labels, inputs = frame(demo, "labels"), frame(demo, "inputs")
    assert 26 < day_of(labels["timestamp"]).max() < 27  # days 28-30 have no labels yet
    early = inputs[day_of(inputs["timestamp"]) < 27]
    assert labels["request_id"].tolist() == early["request_id"].tolist()
    assert set(labels["price_category"]) == set(CLASSES)


def test_config_points_at_the_demo(demo):
    config = load_config(demo.config)
    for role in ROLES:
        assert Path(config.path(role)) == getattr(demo, role)
    assert config.columns.timestamp == "timestamp"
    assert config.columns.id == "request_id"
    assert config.columns.target == "price_category"
    assert config.columns.prediction == "prediction"
    assert config.columns.high_cardinality == ("address",)
    assert config.columns.probability == "probability" and config.columns.segments == ("district",)
    assert config.columns.model_version == "model_version"
    assert config.monitoring_window == "7d"
    assert config.thresholds["psi"].critical == 0.25
    assert config.mlflow.tracking_uri == "sqlite:///mlflow.db"  # relative: the folder can move
    assert config.tracking_uri == f"sqlite:///{demo.mlflow_db}"
    assert config.mlflow.registered_model == REGISTERED_MODEL


def test_training_runs_and_registry(demo):
    client = registry(demo)
    experiment = client.get_experiment_by_name("training")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) >= 5
    expected = {"accuracy", "macro_f1", "weighted_f1", "roc_auc"}
    expected |= {f"{kind}_{c}" for kind in ("precision", "recall", "f1") for c in CLASSES}
    for run in runs:
        assert expected <= set(run.data.metrics)
        assert 0.6 < run.data.metrics["accuracy"] < 0.9
        assert run.data.params["model_type"]
        assert run.info.status == "FINISHED"
    assert len({run.data.params["model_type"] for run in runs}) >= 3
    retrains = [run for run in runs if run.info.run_name.endswith(RETRAINED)]
    candidates = [run for run in runs if run not in retrains]
    assert len(retrains) == 1 and len(candidates) == len(runs) - 1
    assert all(run.info.start_time < millis(START) for run in candidates)

    versions = client.search_model_versions(f"name = '{REGISTERED_MODEL}'")
    assert len(versions) >= 2
    production = client.get_model_version_by_alias(REGISTERED_MODEL, "production")
    staging = client.get_model_version_by_alias(REGISTERED_MODEL, "staging")
    assert production.version != staging.version
    assert int(staging.version) == max(int(v.version) for v in versions)
    best = max(candidates, key=lambda run: run.data.metrics["accuracy"])
    assert production.run_id == best.info.run_id
    # The challenger is the production model retrained, once the drift had begun, on labelled
    # production listings as well.
    (retrain,) = retrains
    assert staging.run_id == retrain.info.run_id
    params, best_params = retrain.data.params, best.data.params
    assert params["retrained_from"] == best.info.run_id
    assert params["model_type"] == best_params["model_type"]
    assert int(params["recent_rows"]) > 0
    assert int(params["training_rows"]) == int(best_params["training_rows"]) + int(
        params["recent_rows"]
    )
    started = retrain.info.start_time
    assert millis(START + timedelta(days=16)) < started < millis(START + timedelta(days=20))


def test_predictions_name_the_version_that_served_them(demo):
    """Days 1-20 are all served by the production version; from day 21 each request goes to the
    staging version with probability 0.2."""
    versions = versions_by_alias(demo)
    predictions = frame(demo, "predictions")
    assert set(predictions["model_version"]) == set(versions.values())
    day = day_of(predictions["timestamp"])
    assert (predictions.loc[day < 20, "model_version"] == versions["production"]).all()
    late = predictions.loc[day >= 20, "model_version"]
    assert len(late) > 3_000
    assert abs((late == versions["staging"]).mean() - 0.2) < 0.03


def test_each_prediction_comes_from_the_version_it_names(demo):
    client = registry(demo)
    inputs, predictions = read(demo, "inputs"), read(demo, "predictions")
    since = pa.scalar(START + timedelta(days=20), pa.timestamp("us"))
    late = pc.greater_equal(inputs["timestamp"], since)
    inputs, predictions = inputs.filter(late), predictions.filter(late)
    for alias, version in versions_by_alias(demo).items():
        path = mlflow.artifacts.download_artifacts(
            client.get_model_version_download_uri(REGISTERED_MODEL, version),
            dst_path=str(demo.out / "downloaded" / alias),
        )
        model = mlflow.sklearn.load_model(path)
        served = pc.equal(predictions["model_version"], version)
        rows = inputs.filter(served).slice(0, 300)
        logged = predictions.filter(served).slice(0, 300)
        assert rows.num_rows == logged.num_rows == 300
        proba = model.predict_proba(
            model_input(rows.drop_columns(["timestamp", "request_id"]), NUMERICAL)
        )
        predicted = np.asarray(model.classes_)[proba.argmax(axis=1)]
        assert list(predicted) == logged["prediction"].to_pylist(), alias
        # (rounded to 4 places when logged; a batch of another size may round the other way)
        logged_probability = logged["probability"].to_numpy()
        assert np.abs(proba.max(axis=1) - logged_probability).max() <= 0.5e-4 + 1e-9, alias


def test_the_challenger_is_a_little_more_accurate(demo):
    """On the drifted market of days 21-30 (labelled up to day 27) the staging version's
    predictions are right more often than the production version's, by a few points."""
    versions = versions_by_alias(demo)
    predictions, labels = frame(demo, "predictions"), frame(demo, "labels")
    late = predictions[day_of(predictions["timestamp"]) >= 20]
    joined = late.merge(labels[["request_id", "price_category"]], on="request_id")
    assert len(joined) > 0.6 * len(late)
    correct = joined["prediction"] == joined["price_category"]
    accuracy = correct.groupby(joined["model_version"]).mean()
    gap = accuracy[versions["staging"]] - accuracy[versions["production"]]
    assert 0.02 <= gap < 0.15


def test_drift_story(demo):
    reference, inputs = frame(demo, "reference"), frame(demo, "inputs")
    day = day_of(inputs["timestamp"])
    early, late = inputs[day < 10], inputs[day >= 20]

    gross = reference["gross_sqm"].to_numpy()
    assert psi(gross, early["gross_sqm"].to_numpy()) < 0.05  # days 1-10 look like the reference
    assert psi(gross, inputs["gross_sqm"].to_numpy()) > 0.25  # but the month as a whole drifted
    assert late["gross_sqm"].mean() > 1.3 * early["gross_sqm"].mean()

    assert NEW_DISTRICT not in set(reference["district"])
    assert (inputs.loc[day < 20, "district"] != NEW_DISTRICT).all()
    assert (late["district"] == NEW_DISTRICT).mean() > 0.05

    distinct_reference = reference["address"].nunique()
    assert early["address"].nunique() / distinct_reference < 1.15
    assert inputs["address"].nunique() / distinct_reference > 1.3

    predictions = frame(demo, "predictions")
    high_share = predictions.groupby(day >= 20)["prediction"].apply(lambda p: (p == "high").mean())
    assert high_share[True] > high_share[False]  # prediction drift follows the inflation


def test_the_demo_alerts_about_now(demo):
    """Over the monitoring window (its last 7 days) the demo's monitor run is red where the model
    fails now: accuracy far below the production version's, prediction drift critical, and the
    unlabelled last days estimated from the model's confidence."""
    from app.engine import Engine
    from app.report import full_report

    config = load_config(demo.config)
    engine = Engine(config)
    window = engine.monitoring_window()
    assert window.span == "7d" and window.start == engine.time_range("inputs")[2] - timedelta(
        days=7
    )
    report = full_report(engine, window, config)
    accuracy = report["accuracy"]
    assert accuracy["baseline_source"].startswith("MLflow")
    assert accuracy["baseline"] > 0.75 and accuracy["realized"] < 0.65
    alerts = {(a["metric"], a["feature"]): a["severity"] for a in report["alerts"]}
    assert alerts[("accuracy_drop", "accuracy")] == "critical"
    assert alerts[("prediction_kl", "prediction")] == "critical"
    estimated = report["estimated_performance"]
    assert estimated["calibration_rows"] > 0 and 0 < estimated["accuracy"] < 1
    unlabelled = [b for b in estimated["over_time"] if b["realized"] is None]
    assert unlabelled and all(b["accuracy"] is not None for b in unlabelled)
    # The drift planted inside one district is found there.
    assert report["attribution_verdicts"]["building_age"].startswith(
        "building_age drifted mostly inside district = Kadikoy"
    )
    # Over every row the month averages out: the window is what makes the alert.
    everything = full_report(engine, Window(), config)
    assert everything["prediction_drift"]["kl"] < report["prediction_drift"]["kl"]
