"""Against a real `mlflow server` on a loopback port: log runs, read them back through Driftdeck,
log a monitoring check and find its metrics through MLflow's own REST API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from app.config import Config, MLflowSettings
from app.mlflow_reader import MLflowReader
from app.monitor_log import REPORT_ARTIFACT, log_monitor_run
from app.status import mlflow_status
from benchmarks.harness import free_port

pytestmark = pytest.mark.integration

STARTUP_SECONDS = 240  # a cold `mlflow server` imports a lot; CI machines can be slow
MODEL = "HousingPriceClassifier"


def get(url: str, timeout: float = 10) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback test server
        return response.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real MLflow tracking server (sqlite backend, proxied artifacts) for this module."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no job-runner process: faster, quieter
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"mlflow server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                if get(f"{uri}/health", timeout=2).strip() == b"OK":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"mlflow server did not answer in {STARTUP_SECONDS} s:\n{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.25)
        yield uri
    finally:
        # The server runs uvicorn as a child: stop the process group this fixture started.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def config_for(uri: str, tmp_path: Path) -> Config:
    return Config(
        base_dir=tmp_path,
        mlflow=MLflowSettings(tracking_uri=uri, registered_model=MODEL, timeout_seconds=10),
    )


@pytest.fixture(scope="module")
def training(server) -> list[str]:
    """Training runs and a registered model with aliases, logged with MLflow's own client."""
    client = MlflowClient(server)
    experiment = client.create_experiment("training")
    run_ids = []
    for i in range(6):
        run = client.create_run(
            experiment, start_time=1_767_225_600_000 + i * 60_000, run_name=f"rf-{i}"
        )
        client.log_batch(
            run.info.run_id,
            metrics=[
                Metric("accuracy", 0.80 + i / 100, 0, 0),
                Metric("macro_f1", 0.70 + i / 100, 0, 0),
                Metric("f1_high", 0.6, 0, 0),
            ],
            params=[Param("n_estimators", str(50 * (i + 1)))],
        )
        client.set_terminated(run.info.run_id)
        run_ids.append(run.info.run_id)
    client.create_registered_model(MODEL)
    for run_id in run_ids[-2:]:
        client.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id)
    client.set_registered_model_alias(MODEL, "production", "1")
    client.set_registered_model_alias(MODEL, "staging", "2")
    return run_ids


def test_reader_over_http(server, training, tmp_path):
    reader = MLflowReader(config_for(server, tmp_path))
    reader.page_size = 4  # two pages of runs over the REST API
    ping = reader.ping()
    assert ping["ok"], ping["message"]
    assert "training" in ping["experiments"]
    assert ping["registered_model"]["aliases"] == {"production": 1, "staging": 2}

    runs = reader.training_runs()
    assert runs["run_id"].tolist() == training
    assert runs["accuracy"].tolist() == pytest.approx([0.80, 0.81, 0.82, 0.83, 0.84, 0.85])
    assert runs["param.n_estimators"].iloc[-1] == "300"
    assert runs.attrs["metrics"]["headline"] == {"accuracy": "accuracy", "macro_f1": "macro_f1"}

    registry = reader.registry()
    assert registry["version"].tolist() == [1, 2]
    assert registry["aliases"].tolist() == ["production", "staging"]
    assert registry["run_id"].tolist() == training[-2:]
    assert registry["accuracy"].tolist() == pytest.approx([0.84, 0.85])


def test_credentials_in_the_uri_are_never_shown(server, training, tmp_path):
    uri = server.replace("http://", "http://driftdeck:s3cret@")
    reader = MLflowReader(config_for(uri, tmp_path))
    ping = reader.ping()
    assert ping["ok"], ping["message"]
    assert "s3cret" not in json.dumps(ping) and "***@127.0.0.1" in ping["message"]


def report(day: int) -> dict:
    return {
        "window": {
            "start": f"2026-04-{day:02d}T00:00:00",
            "end": f"2026-04-{day + 1:02d}T00:00:00",
        },
        "rows": {"reference": 1000, "inputs": 200, "predictions": 200},
        "features": {
            "gross_sqm": {
                "kind": "numerical",
                "psi": 0.3 + day / 100,
                "js": 0.1,
                "ks": {"statistic": 0.2, "pvalue": 0.0},
            },
            "district": {
                "kind": "categorical",
                "psi": 0.05,
                "js": 0.01,
                "chi2": {"statistic": 3.0, "pvalue": 0.2},
            },
            "address": {
                "kind": "high_cardinality",
                "psi": None,
                "cardinality": {"ratio": 1.4, "new_value_share": 0.2},
            },
        },
        "prediction_drift": {"kl": 0.05, "js": 0.02, "production": {"low": 0.3, "high": 0.7}},
        "dataset_drift": {"share": 0.5, "drifted": True},
        "data_quality": {"features": {}},
        "status": [],
    }


def test_monitor_runs_appear_in_mlflow_under_the_spec_names(server, tmp_path):
    config = config_for(server, tmp_path)
    reader = MLflowReader(config)
    run_ids = [log_monitor_run(report(day), config, reader=reader) for day in (1, 2)]

    body = json.loads(get(f"{server}/api/2.0/mlflow/runs/get?run_id={run_ids[1]}"))
    run = body["run"]
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["gross_sqm_psi"] == pytest.approx(0.32)
    assert metrics["address_cardinality_ratio"] == pytest.approx(1.4)
    assert metrics["prediction_kl_drift"] == pytest.approx(0.05)
    assert metrics["total_alerts"] == 2 and metrics["critical_alerts"] == 2
    assert metrics["retraining_recommended"] == 1
    assert int(run["info"]["start_time"]) == 1_775_174_400_000  # 2026-04-03T00:00Z, the window end
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["window_end"] == "2026-04-03T00:00:00"

    query = urllib.parse.urlencode({"run_id": run_ids[1]})
    files = json.loads(get(f"{server}/api/2.0/mlflow/artifacts/list?{query}"))["files"]
    assert [f["path"] for f in files] == [REPORT_ARTIFACT]
    query = urllib.parse.urlencode({"path": REPORT_ARTIFACT, "run_uuid": run_ids[1]})
    logged = json.loads(get(f"{server}/get-artifact?{query}"))
    assert logged["features"]["gross_sqm"]["psi"] == pytest.approx(0.32)

    history = reader.monitoring_history()
    assert history["run_id"].tolist() == run_ids
    assert history["gross_sqm_psi"].tolist() == pytest.approx([0.31, 0.32])

    status = {s["component"]: s for s in mlflow_status(config, reader=reader)}
    assert status["mlflow"]["ok"], status["mlflow"]["message"]
    assert status["last monitor run"]["time"] == "2026-04-03T00:00:00+00:00"
