"""Configuration precedence and one-line errors naming the key."""

from __future__ import annotations

import pytest

from app.config import load_config
from app.errors import DriftdeckError


def _write(tmp_path, text: str):
    path = tmp_path / "driftdeck.toml"
    path.write_text(text)
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTDECK_CONFIG", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DASHBOARD_PORT", raising=False)
    config = load_config()
    assert config.port == 8501
    assert config.thresholds["psi"].critical == 0.25
    assert config.path("reference") == str(tmp_path / "data/reference/reference.parquet")
    assert config.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_paths_are_relative_to_the_config_and_env_beats_file(tmp_path, monkeypatch):
    path = _write(
        tmp_path,
        '[data]\ninputs = "logs/*.parquet"\n[server]\nport = 9000\n[thresholds]\npsi = { critical = 0.3 }\n',
    )
    monkeypatch.setenv("DASHBOARD_PORT", "9100")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    config = load_config(path)
    assert config.path("inputs") == str(tmp_path / "logs/*.parquet")
    assert config.port == 9100
    assert config.tracking_uri == "http://mlflow:5000"
    assert config.thresholds["psi"].critical == 0.3 and config.thresholds["psi"].warning == 0.10
    assert load_config(path, port=9200).port == 9200


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[data]\nrefrence = 'x'\n", "data.refrence"),
        ("[thresholds]\npsi = { critical = -1 }\n", "thresholds.psi.critical"),
        ("[thresholds]\npsi = { critical = 'high' }\n", "thresholds.psi.critical"),
        ("[thresholds]\npsi = { critical = nan }\n", "thresholds.psi.critical"),
        ("[thresholds]\nprediction_kl = { critical = inf }\n", "thresholds.prediction_kl.critical"),
        ("[thresholds]\npsi = { critical = 0.1, warning = 0.2 }\n", "thresholds.psi.warning"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[columns]\nnumerical = 3\n", "columns.numerical"),
        ("[mlflow]\ntimeout_seconds = 0\n", "mlflow.timeout_seconds"),
        ("bogus = 1\n", "bogus"),
        ("[monitoring]\nwindow = 'last week'\n", "monitoring.window"),
        ("[monitoring]\nwindow = 7\n", "monitoring.window"),
        ("[monitoring]\nspan = '7d'\n", "monitoring.span"),
        ("[columns]\nprobabilities = { a = 3 }\n", "columns.probabilities.a"),
        ("[columns]\nprobabilities = {}\n", "columns.probabilities"),
        (
            "[columns]\nprobability = 'p'\nprobabilities = { a = 'pa' }\n",
            "columns.probabilities",
        ),
        ("[columns]\nsegments = 1\n", "columns.segments"),
        ("[columns]\nmodel_version = 3\n", "columns.model_version"),
        ("[engine]\nbackend = 'flink'\n", "engine.backend"),
        ("[engine.spark]\nmaster = 3\n", "engine.spark.master"),
        ("[engine.spark]\nmasters = 'local[2]'\n", "engine.spark.masters"),
        ("[engine.spark]\nconf = 'x'\n", "engine.spark.conf"),
        ("[engine.spark]\nconf = { 'spark.a' = [1] }\n", "engine.spark.conf.spark.a"),
        (
            "[thresholds]\naccuracy_drop = { critical = 0.01, warning = 0.2 }\n",
            "thresholds.accuracy_drop.warning",
        ),
    ],
)
def test_bad_values_name_the_key_on_one_line(tmp_path, text, key):
    with pytest.raises(DriftdeckError) as err:
        load_config(_write(tmp_path, text))
    message = str(err.value)
    assert key in message and "\n" not in message
    assert "driftdeck.toml" in message


def test_invalid_toml_and_missing_file(tmp_path):
    with pytest.raises(DriftdeckError, match="not valid TOML"):
        load_config(_write(tmp_path, "[data\n"))
    with pytest.raises(DriftdeckError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_monitoring_window_probabilities_and_segments(tmp_path):
    text = (
        "[monitoring]\nwindow = '36H'\n[columns]\nsegments = ['district']\n"
        "probabilities = { low = 'p_low', high = 'p_high' }\n"
    )
    config = load_config(_write(tmp_path, text))
    assert config.monitoring_window == "36h"
    assert config.columns.segments == ("district",)
    assert config.columns.probabilities == (("low", "p_low"), ("high", "p_high"))
    assert load_config(_write(tmp_path, "")).monitoring_window == "7d"


def test_the_spark_backend_settings(tmp_path):
    assert load_config(_write(tmp_path, "")).backend == "duckdb"
    config = load_config(
        _write(
            tmp_path,
            "[engine]\nbackend = 'spark'\n[engine.spark]\nmaster = 'spark://m:7077'\n"
            "conf = { 'spark.executor.memory' = '8g', 'spark.sql.adaptive.enabled' = true }\n",
        )
    )
    assert (config.backend, config.spark_master) == ("spark", "spark://m:7077")
    assert dict(config.spark_conf) == {
        "spark.executor.memory": "8g",
        "spark.sql.adaptive.enabled": "true",
    }
