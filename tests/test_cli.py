"""The command line as a user runs it: exit codes, clean stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from tests.worlds import make_world


def run(*args, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.mark.parametrize("command", ["serve", "monitor", "export", "demo", "bench"])
def test_every_subcommand_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "--config" in result.stdout


def _config_file(tmp_path):
    make_world(tmp_path)
    path = tmp_path / "driftdeck.toml"
    path.write_text('[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n')
    return path


def test_monitor_json_is_clean_and_complete(tmp_path):
    result = run("monitor", "--json", "--no-log", "--config", str(_config_file(tmp_path)))
    assert result.returncode in (0, 3), result.stderr
    assert result.stderr == ""
    report = json.loads(result.stdout)
    assert set(report) >= {
        "window",
        "rows",
        "features",
        "prediction_drift",
        "dataset_drift",
        "alerts",
        "status",
    }
    # The monitoring window: the 7 days up to the newest input (a row every 10 minutes).
    assert report["window"]["span"] == "7d" and report["window"]["end"] is None
    newest = datetime(2026, 1, 1) + timedelta(minutes=10 * 4999)
    assert datetime.fromisoformat(report["window"]["start"]) == newest - timedelta(days=7)
    assert report["rows"]["inputs"] == 7 * 144 + 1
    assert report["features"]["area"]["ks"]["pvalue"] is not None


def test_monitor_all_rows_and_the_configured_window(tmp_path):
    path = _config_file(tmp_path)
    result = run("monitor", "--json", "--no-log", "--all-rows", "--config", str(path))
    report = json.loads(result.stdout)
    assert report["rows"]["inputs"] == 5000 and report["window"] == {"start": None, "end": None}
    path.write_text(path.read_text() + '[monitoring]\nwindow = "all"\n')
    result = run("monitor", "--json", "--no-log", "--config", str(path))
    assert json.loads(result.stdout)["rows"]["inputs"] == 5000
    path.write_text(path.read_text().replace('"all"', '"36h"'))
    result = run("monitor", "--json", "--no-log", "--config", str(path))
    assert json.loads(result.stdout)["rows"]["inputs"] == 36 * 6 + 1
    path.write_text(path.read_text().replace('"36h"', '"7 days"'))
    result = run("monitor", "--json", "--no-log", "--config", str(path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "monitoring.window" in result.stderr
    result = run("monitor", "--all-rows", "--window", "2026-01-01", "2026-01-02")
    assert result.returncode == 2 and "not allowed with" in result.stderr


def test_monitor_window(tmp_path):
    args = ("--json", "--no-log", "--config", str(_config_file(tmp_path)))
    result = run("monitor", *args, "--window", "2026-01-10T00:00:00", "2026-01-11T00:00:00")
    assert result.returncode in (0, 3), result.stderr
    assert json.loads(result.stdout)["rows"]["inputs"] == 144


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--window", "yesterday", "2026-01-02"), "--window START"),
        (("--window", "2026-01-03", "2026-01-02"), "must be before"),
        (("--bogus",), "unrecognized arguments"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, args, needle):
    result = run("monitor", "--json", "--no-log", "--config", str(_config_file(tmp_path)), *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert needle in result.stderr


def test_no_data_is_one_line_exit_2(tmp_path):
    path = tmp_path / "driftdeck.toml"
    path.write_text('[data]\nreference = "missing/ref.parquet"\ninputs = "missing/in.parquet"\n')
    result = run("monitor", "--json", "--no-log", "--config", str(path))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "missing/in.parquet" in result.stderr


def _main(capsys, *args) -> tuple[int, str, str]:
    from app.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_window_without_a_timestamp_column_is_refused(tmp_path, capsys):
    path = _config_file(tmp_path)
    path.write_text('[columns]\ntimestamp = "ts_missing"\ntarget = "target"\n')
    code, out, err = _main(
        capsys,
        "monitor",
        "--json",
        "--no-log",
        "--config",
        str(path),
        "--window",
        "2026-01-10",
        "2026-01-11",
    )
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "columns.timestamp 'ts_missing'" in err
    # Without --window the typo is named in the status, and the report is over all rows.
    code, out, err = _main(capsys, "monitor", "--json", "--no-log", "--config", str(path))
    status = json.loads(out)["status"]
    assert {
        "component": "config",
        "ok": False,
        "message": "columns.timestamp: 'ts_missing' is not a column of any data file",
    } in status


@pytest.mark.parametrize("missing", ["reference", "inputs"])
def test_a_missing_reference_or_inputs_is_a_data_error(tmp_path, capsys, missing):
    path = _config_file(tmp_path)
    file = {
        "reference": "data/reference/reference.parquet",
        "inputs": "data/production/inputs.parquet",
    }[missing]
    (tmp_path / file).unlink()
    code, out, err = _main(capsys, "monitor", "--json", "--no-log", "--config", str(path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and str(tmp_path / file) in err


@pytest.mark.parametrize("port", ["99999", "0", "-1"])
def test_a_port_out_of_range_names_the_flag(tmp_path, capsys, port):
    code, out, err = _main(
        capsys, "serve", "--config", str(_config_file(tmp_path)), f"--port={port}"
    )
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and "--port" in err and "between 1 and 65535" in err


def test_logging_to_a_new_store_keeps_stderr_empty_and_the_status_consistent(
    tmp_path, capfd, monkeypatch
):
    from app.cli import main

    store = tmp_path / "store" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    code = main(["monitor", "--json", "--config", str(_config_file(tmp_path))])
    out, err = capfd.readouterr()
    assert code in (0, 3) and err == ""  # no MLflow INFO lines about creating tables
    status = {s["component"]: s for s in json.loads(out)["status"]}
    assert status["monitor log"]["ok"] and status["mlflow"]["ok"]
    assert "created" in status["mlflow"]["message"] and store.is_file()
