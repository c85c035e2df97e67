"""The MLflow part of the system status: reachability and the last monitor run."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.config import Config, MLflowSettings
from app.mlflow_reader import MLflowReader
from app.status import mlflow_status
from tests.mlflow_helpers import fresh_store

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def config_for(uri: str, tmp_path, timeout: float = 5.0) -> Config:
    return Config(
        base_dir=tmp_path, mlflow=MLflowSettings(tracking_uri=uri, timeout_seconds=timeout)
    )


def by_component(entries: list[dict]) -> dict[str, dict]:
    assert all({"component", "ok", "message"} <= set(e) for e in entries)
    return {e["component"]: e for e in entries}


CHECK_WITHOUT_MLFLOW = """
import sys
from pathlib import Path
from app.config import Config, MLflowSettings
from app.status import mlflow_status

folder = Path(sys.argv[1])
missing = Config(base_dir=folder, mlflow=MLflowSettings(tracking_uri="sqlite:///none.db"))
status = mlflow_status(missing)
assert not status[0]["ok"] and "no MLflow store" in status[0]["message"], status
(folder / "there.db").write_bytes(b"")
present = Config(base_dir=folder, mlflow=MLflowSettings(tracking_uri="sqlite:///there.db"))
light = mlflow_status(present, deep=False)
assert len(light) == 1 and light[0]["ok"] and "not queried" in light[0]["message"], light
assert "mlflow" not in sys.modules
"""


def test_status_without_importing_mlflow(tmp_path):
    # In a fresh interpreter: this one has mlflow imported by other tests.
    subprocess.run(
        [sys.executable, "-c", CHECK_WITHOUT_MLFLOW, str(tmp_path)], check=True, timeout=120
    )
    assert not (tmp_path / "none.db").exists()


def test_server_down_is_reported_quickly(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = config_for(f"http://u:pw@127.0.0.1:{port}", tmp_path, timeout=1)
    light = mlflow_status(config, deep=False)
    assert len(light) == 1 and not light[0]["ok"] and "connection refused" in light[0]["message"]
    started = time.monotonic()
    status = by_component(mlflow_status(config))
    assert time.monotonic() - started < 3
    assert not status["mlflow"]["ok"]
    expected = f"MLflow unreachable at http://***@127.0.0.1:{port}: connection refused"
    assert status["mlflow"]["message"] == expected
    assert not status["last monitor run"]["ok"]


def test_silent_server_is_bounded_by_the_timeout(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        config = config_for(f"http://127.0.0.1:{s.getsockname()[1]}", tmp_path, timeout=1)
        started = time.monotonic()
        status = by_component(mlflow_status(config, reader=MLflowReader(config)))
        assert time.monotonic() - started < 3
        assert not status["mlflow"]["ok"] and "unreachable" in status["mlflow"]["message"]
    finally:
        s.close()


@pytest.fixture(scope="module")
def store_with_history(tmp_path_factory):
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("status")
    client = MlflowClient(f"sqlite:///{fresh_store(folder / 'mlflow.db')}")
    experiment = client.create_experiment("monitoring", artifact_location=(folder / "a").as_uri())
    for day in range(3):
        run = client.create_run(
            experiment, start_time=int((T0 + timedelta(days=day)).timestamp() * 1000)
        )
        client.set_terminated(run.info.run_id)
    return folder


def test_last_monitor_run(store_with_history):
    config = config_for("sqlite:///mlflow.db", store_with_history)
    now = T0 + timedelta(days=2, hours=3)
    status = by_component(mlflow_status(config, reader=MLflowReader(config), now=now))
    assert status["mlflow"]["ok"] and status["mlflow"]["latency_seconds"] is not None
    assert status["mlflow"]["experiments"] == ["Default", "monitoring"]
    last = status["last monitor run"]
    assert last["ok"]
    assert last["time"] == "2026-03-03T00:00:00+00:00"
    assert last["age_seconds"] == 3 * 3600
    assert "3.0 h ago" in last["message"]

    stale = by_component(
        mlflow_status(config, reader=MLflowReader(config), now=T0 + timedelta(days=9))
    )
    assert not stale["last monitor run"]["ok"] and "stale" in stale["last monitor run"]["message"]


def test_no_monitoring_experiment_yet(store_with_history):
    config = config_for("sqlite:///mlflow.db", store_with_history)
    config = Config(
        base_dir=config.base_dir,
        mlflow=MLflowSettings(tracking_uri="sqlite:///mlflow.db", monitoring_experiment="other"),
    )
    last = by_component(mlflow_status(config, reader=MLflowReader(config)))["last monitor run"]
    assert not last["ok"] and "driftdeck monitor" in last["message"]
