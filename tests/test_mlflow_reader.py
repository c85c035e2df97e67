"""MLflowReader against sqlite and file stores, old stores, and servers that are down or silent."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import mlflow  # noqa: F401 - imported up front so that timing tests do not measure the import
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from app.config import Config, MLflowSettings
from app.mlflow_location import redact_uri, store_location
from app.mlflow_reader import MLflowReader, MLflowStoreOutdated, MLflowUnavailable
from app.mlflow_runs import recognised_metrics
from app.mlflow_sqlite import inspect_sqlite_store
from benchmarks.harness import free_port
from tests.mlflow_helpers import fresh_store

pytestmark = [
    # Registering stages in the fixture store uses MLflow's deprecated (but still common) API.
    pytest.mark.filterwarnings("ignore:.*transition_model_version_stage.*:FutureWarning"),
]

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
HOUR = 3_600_000
MODEL = "HousingPriceClassifier"
N_TRAINING = 12


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def config_for(uri: str, base_dir: Path | None = None, timeout: float = 5.0) -> Config:
    return Config(
        base_dir=base_dir or Path.cwd(),
        mlflow=MLflowSettings(tracking_uri=uri, registered_model=MODEL, timeout_seconds=timeout),
    )


def fill_store(client: MlflowClient, artifacts: Path) -> dict:
    """A training experiment with many runs, a registered model with aliases, a monitoring history."""
    training = client.create_experiment(
        "training", artifact_location=(artifacts / "training").as_uri()
    )
    run_ids = []
    for i in range(N_TRAINING):
        run = client.create_run(training, start_time=T0 + i * HOUR, run_name=f"train-{i:02d}")
        metrics = {
            "accuracy": 0.70 + i / 100,
            "macro_f1": 0.60 + i / 100,
            "weighted_f1": 0.65 + i / 100,
            "roc_auc": 0.8,
            "precision_low": 0.7,
            "high_recall": 0.6,
            "status": 1.0,  # collides with a run attribute
        }
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(k, v, T0 + i * HOUR, 0) for k, v in metrics.items()],
            params=[Param("n_estimators", str(100 + i)), Param("max_depth", "8")],
        )
        client.set_terminated(run.info.run_id, "FINISHED", T0 + i * HOUR + 60_000)
        run_ids.append(run.info.run_id)
    client.create_registered_model(MODEL)
    v1 = client.create_model_version(MODEL, str(artifacts / "m1"), run_id=run_ids[5])
    v2 = client.create_model_version(MODEL, str(artifacts / "m2"), run_id=run_ids[11])
    client.set_registered_model_alias(MODEL, "production", v1.version)
    client.set_registered_model_alias(MODEL, "staging", v2.version)
    client.transition_model_version_stage(MODEL, v1.version, "Production")

    monitoring = client.create_experiment(
        "monitoring", artifact_location=(artifacts / "monitoring").as_uri()
    )
    for day in range(3):
        run = client.create_run(monitoring, start_time=T0 + day * 24 * HOUR)
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("area_psi", 0.05 * day, T0, 0), Metric("total_alerts", day, T0, 0)],
        )
        client.set_terminated(run.info.run_id)
    return {"runs": run_ids, "versions": (v1.version, v2.version)}


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("store")
    path = fresh_store(folder / "mlflow.db")
    info = fill_store(MlflowClient(f"sqlite:///{path}"), folder / "artifacts")
    return path, info


@pytest.fixture
def reader(sqlite_store) -> MLflowReader:
    path, _ = sqlite_store
    return MLflowReader(config_for(f"sqlite:///{path}"))


# --- URIs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://user:secret@mlflow.example:5000", "http://***@mlflow.example:5000"),
        ("https://token@host/path?x=1", "https://***@host/path?x=1"),
        ("https://host/api?token=abc&x=1", "https://host/api?token=***&x=1"),
        ("postgresql://me:pw@db:5432/mlflow", "postgresql://***@db:5432/mlflow"),
        ("sqlite:////abs/mlflow.db", "sqlite:////abs/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_uri(uri, expected):
    assert redact_uri(uri) == expected


def test_store_location_resolves_relative_file_stores(tmp_path):
    assert store_location(config_for("mlruns", tmp_path)).path == tmp_path / "mlruns"
    assert store_location(config_for("file:./mlruns", tmp_path)).path == tmp_path / "mlruns"
    assert store_location(config_for(f"sqlite:///{tmp_path}/m.db")).kind == "sqlite"
    assert store_location(config_for("http://h:5000")).kind == "http"
    assert store_location(config_for("postgresql://h/db")).kind == "other"


# --- a current sqlite store -------------------------------------------------------------------


def test_ping(reader):
    ping = reader.ping()
    assert ping["ok"], ping["message"]
    assert ping["latency_seconds"] is not None and ping["latency_seconds"] < 5
    assert {"training", "monitoring"} <= set(ping["experiments"])
    assert ping["registered_model"]["versions"] == 2
    assert ping["registered_model"]["aliases"] == {"production": 1, "staging": 2}
    assert "reachable" in ping["message"] and "production → v1" in ping["message"]


def test_training_runs_are_paged_and_flat(reader, sqlite_store):
    reader.page_size = 5  # 12 runs: three pages
    runs = reader.training_runs()
    assert len(runs) == N_TRAINING
    assert list(runs.columns[:5]) == ["run_id", "run_name", "start_time", "end_time", "status"]
    assert runs["run_id"].tolist() == sqlite_store[1]["runs"]  # oldest first
    assert runs["run_name"].iloc[0] == "train-00"
    assert str(runs["start_time"].dt.tz) == "UTC"
    assert runs["start_time"].iloc[1].value // 1_000_000 == T0 + HOUR
    assert runs["accuracy"].iloc[-1] == pytest.approx(0.70 + (N_TRAINING - 1) / 100)
    assert runs["param.n_estimators"].iloc[0] == "100"
    assert (runs["status"] == "FINISHED").all()
    assert runs["metric.status"].eq(1.0).all()  # a metric never hides a run attribute
    metrics = runs.attrs["metrics"]
    assert metrics["headline"] == {
        "accuracy": "accuracy",
        "macro_f1": "macro_f1",
        "weighted_f1": "weighted_f1",
        "roc_auc": "roc_auc",
    }
    per_class = {(m["class"], m["metric"]) for m in metrics["per_class"]}
    assert per_class == {("low", "precision"), ("high", "recall")}


def test_registry(reader, sqlite_store):
    registry = reader.registry()
    runs = sqlite_store[1]["runs"]
    assert registry["version"].tolist() == [1, 2]
    assert registry["aliases"].tolist() == ["production", "staging"]
    assert registry["stage"].tolist() == ["Production", "None"]
    assert registry["run_id"].tolist() == [runs[5], runs[11]]
    assert registry["run_name"].tolist() == ["train-05", "train-11"]
    assert registry["accuracy"].tolist() == pytest.approx([0.75, 0.81])
    assert registry.attrs["aliases"] == {"production": 1, "staging": 2}


def test_monitoring_history(reader):
    history = reader.monitoring_history()
    assert len(history) == 3
    assert history["area_psi"].tolist() == pytest.approx([0.0, 0.05, 0.10])
    assert history["start_time"].is_monotonic_increasing


def test_missing_experiment_and_model(sqlite_store):
    path, _ = sqlite_store
    config = config_for(f"sqlite:///{path}")
    config = replace(
        config,
        mlflow=replace(config.mlflow, training_experiment="nope", registered_model="Unknown"),
    )
    reader = MLflowReader(config)
    runs = reader.training_runs()
    assert runs.empty and "no experiment 'nope'" in runs.attrs["message"]
    registry = reader.registry()
    assert registry.empty and "no registered model 'Unknown'" in registry.attrs["message"]
    ping = reader.ping()
    assert ping["ok"] and "no experiment 'nope'" in ping["message"]


def test_reading_leaves_the_store_byte_identical(sqlite_store):
    path, _ = sqlite_store
    before = sha256(path)
    reader = MLflowReader(config_for(f"sqlite:///{path}"))
    reader.ping()
    reader.training_runs()
    reader.registry()
    reader.monitoring_history()
    assert sha256(path) == before
    assert inspect_sqlite_store(path).state == "current"


def test_missing_sqlite_file_is_reported_not_created(tmp_path):
    path = tmp_path / "nowhere" / "mlflow.db"
    reader = MLflowReader(config_for(f"sqlite:///{path}"))
    ping = reader.ping()
    assert not ping["ok"] and "no MLflow store" in ping["message"]
    with pytest.raises(MLflowUnavailable, match="no MLflow store"):
        reader.training_runs()
    assert not path.exists() and not path.parent.exists()


# --- stores written by other MLflow versions --------------------------------------------------

OLD_REVISION = "acf3f17fdcc7"  # the schema of MLflow 2.9-2.12


def build_old_store(path: Path) -> list[str]:
    """A store as MLflow 2.9 left it: schema migrated only up to OLD_REVISION, filled by SQL."""
    import sqlalchemy
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    url = f"sqlite:///{path}"
    engine = sqlalchemy.create_engine(url)
    InitialBase.metadata.create_all(engine)
    alembic_config = _get_alembic_config(url)
    with engine.begin() as connection:
        alembic_config.attributes["connection"] = connection
        command.upgrade(alembic_config, OLD_REVISION)
    engine.dispose()

    artifacts = path.parent / "old-artifacts"
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO experiments VALUES (0, 'Default', ?, 'active', ?, ?)",
        (str(artifacts / "0"), T0, T0),
    )
    db.execute(
        "INSERT INTO experiments VALUES (1, 'training', ?, 'active', ?, ?)",
        (str(artifacts / "1"), T0, T0),
    )
    run_ids = []
    for i in range(3):
        run_id = uuid.uuid4().hex
        run_ids.append(run_id)
        start = T0 + i * HOUR
        db.execute(
            "INSERT INTO runs VALUES (?, ?, 'LOCAL', 'train.py', '', 'me', 'FINISHED', ?, ?, '', 'active', ?, 1, NULL)",
            (run_id, f"old-{i}", start, start + 1000, str(artifacts / "1" / run_id)),
        )
        db.execute(
            "INSERT INTO metrics VALUES ('accuracy', ?, ?, ?, 0, 0)", (0.8 + i / 100, start, run_id)
        )
        db.execute(
            "INSERT INTO latest_metrics VALUES ('accuracy', ?, ?, 0, 0, ?)",
            (0.8 + i / 100, start, run_id),
        )
        db.execute("INSERT INTO params VALUES ('max_depth', ?, ?)", (str(4 + i), run_id))
        db.execute("INSERT INTO tags VALUES ('mlflow.runName', ?, ?)", (f"old-{i}", run_id))
    db.execute("INSERT INTO registered_models VALUES (?, ?, ?, '')", (MODEL, T0, T0))
    db.execute(
        "INSERT INTO model_versions VALUES (?, 1, ?, ?, '', 'me', 'Production', ?, ?, 'READY', '', '', NULL)",
        (MODEL, T0, T0, str(artifacts / "model"), run_ids[2]),
    )
    db.execute("INSERT INTO registered_model_aliases VALUES ('production', 1, ?)", (MODEL,))
    db.commit()
    db.close()
    return run_ids


@pytest.fixture(scope="module")
def old_store(tmp_path_factory) -> tuple[Path, list[str]]:
    path = tmp_path_factory.mktemp("old") / "mlflow.db"
    return path, build_old_store(path)


def test_old_store_is_read_from_a_copy_and_never_migrated(old_store):
    path, run_ids = old_store
    before = sha256(path)
    assert inspect_sqlite_store(path).state == "outdated"
    reader = MLflowReader(config_for(f"sqlite:///{path}"))
    ping = reader.ping()
    assert ping["ok"], ping["message"]
    assert f"mlflow db upgrade sqlite:///{path}" in ping["message"]
    runs = reader.training_runs()
    assert runs["run_id"].tolist() == run_ids
    assert runs["accuracy"].tolist() == pytest.approx([0.80, 0.81, 0.82])
    registry = reader.registry()
    assert registry["aliases"].tolist() == ["production"]
    assert registry["accuracy"].tolist() == pytest.approx([0.82])
    assert sha256(path) == before
    assert inspect_sqlite_store(path).revision == OLD_REVISION


def test_old_store_is_not_written(old_store):
    path, _ = old_store
    before = sha256(path)
    reader = MLflowReader(config_for(f"sqlite:///{path}"))
    with pytest.raises(MLflowStoreOutdated, match="mlflow db upgrade"):
        reader.call("create experiment", lambda c: c.create_experiment("monitoring"), write=True)
    assert sha256(path) == before


def test_store_from_a_newer_mlflow_is_refused(tmp_path, sqlite_store):
    path = tmp_path / "newer.db"
    shutil.copy(sqlite_store[0], path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = 'f00dfeedbeef'")
    db.close()
    before = sha256(path)
    ping = MLflowReader(config_for(f"sqlite:///{path}")).ping()
    assert not ping["ok"] and "newer MLflow" in ping["message"]
    assert sha256(path) == before


# --- file stores ------------------------------------------------------------------------------


def test_file_store_relative_to_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient((tmp_path / "mlruns").as_uri())
    experiment = client.create_experiment("training")
    for i in range(3):
        run = client.create_run(experiment, start_time=T0 + i, run_name=f"f{i}")
        client.log_metric(run.info.run_id, "accuracy", 0.5 + i / 10)
    reader = MLflowReader(config_for("mlruns", tmp_path))
    assert reader.ping()["ok"]
    runs = reader.training_runs()
    assert runs["run_name"].tolist() == ["f0", "f1", "f2"]
    assert runs["accuracy"].tolist() == pytest.approx([0.5, 0.6, 0.7])


def test_missing_file_store_is_not_created(tmp_path):
    reader = MLflowReader(config_for("mlruns", tmp_path))
    assert not reader.ping()["ok"]
    assert not (tmp_path / "mlruns").exists()


# --- servers that are down or silent ----------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def silent_port():
    """A socket that accepts connections (the kernel completes them) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def hanging_api_port():
    """A server whose /health says OK but whose API never answers."""
    release = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            if self.path.startswith("/health"):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"OK")
            else:
                release.wait(30)

        do_POST = do_GET

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield server.server_address[1]
    release.set()
    server.shutdown()
    server.server_close()


TIMEOUT = 1.0


@pytest.mark.parametrize("port_fixture", ["closed_port", "silent_port", "hanging_api_port"])
def test_unreachable_server_costs_at_most_the_timeout(port_fixture, request):
    port = request.getfixturevalue(port_fixture)
    uri = f"http://driftdeck:s3cret@127.0.0.1:{port}"
    reader = MLflowReader(config_for(uri, timeout=TIMEOUT), cooldown_seconds=0)
    for method in (reader.training_runs, reader.registry, reader.monitoring_history):
        started = time.monotonic()
        with pytest.raises(MLflowUnavailable) as failure:
            method()
        assert time.monotonic() - started < TIMEOUT + 2
        message = str(failure.value)
        assert message.startswith("MLflow unreachable at http://***@127.0.0.1:")
        assert "s3cret" not in message and "driftdeck:" not in message and "\n" not in message
    started = time.monotonic()
    ping = reader.ping()
    assert time.monotonic() - started < TIMEOUT + 2
    assert not ping["ok"] and "s3cret" not in ping["message"] and "s3cret" not in ping["uri"]
    if port_fixture == "hanging_api_port":
        # MLflow's own retries are switched off so an abandoned request ends soon too.
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "0"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "1"


def test_after_a_failure_calls_fail_fast_for_a_while(silent_port):
    reader = MLflowReader(
        config_for(f"http://127.0.0.1:{silent_port}", timeout=TIMEOUT), cooldown_seconds=30
    )
    with pytest.raises(MLflowUnavailable):
        reader.training_runs()
    started = time.monotonic()
    with pytest.raises(MLflowUnavailable, match="unreachable"):
        reader.registry()
    assert time.monotonic() - started < 0.5


# --- metric names -----------------------------------------------------------------------------


def test_recognised_metrics_prefers_plain_names():
    found = recognised_metrics(
        [
            "val_accuracy",
            "accuracy",
            "test_f1_score",
            "f1_macro",
            "eval_roc_auc",
            "f1_low",
            "recall_macro",
            "param.x",
        ]
    )
    assert found["headline"] == {
        "accuracy": "accuracy",
        "f1": "test_f1_score",
        "macro_f1": "f1_macro",
        "roc_auc": "eval_roc_auc",
        "recall": "recall_macro",
    }
    assert found["per_class"] == [{"column": "f1_low", "class": "low", "metric": "f1"}]


def test_a_read_only_store_is_named_as_such():
    from app.mlflow_calls import _reason

    exc = Exception(
        "(raised as a result of Query-invoked autoflush; consider using a session.no_autoflush "
        "block if this flush is occurring prematurely)\n"
        "(sqlite3.OperationalError) attempt to write a readonly database"
    )
    assert _reason(exc, 5.0) == (
        "the MLflow store is not writable (a read-only file or folder)",
        False,
    )
