"""The command line as a user runs it: exit codes, clean stdout, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import make_world


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
    assert report["rows"]["inputs"] == 5000
    assert report["features"]["area"]["ks"]["pvalue"] is not None


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
