"""Credentials in the tracking URI never reach exported HTML, JSON output or logs (issue 6)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worlds import make_world

SECRET = "s3cr3t-Pa55w0rd"
USER = "alice-the-user"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def leaky_env(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A world whose MLflow tracking URI carries a user and password, on a port nobody serves."""
    root = tmp_path_factory.mktemp("credentials")
    make_world(root)
    config = root / "driftdeck.toml"
    config.write_text(
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        "[mlflow]\ntimeout_seconds = 2\n",
        encoding="utf-8",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: connections are refused
    uri = f"http://{USER}:{SECRET}@127.0.0.1:{port}/?token={SECRET}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "DRIFTDECK_CONFIG": str(config)}
    return root, env


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "app.cli", *args]
    return subprocess.run(
        command, env={**env, "PYTHONPATH": str(REPO)}, cwd=cwd, capture_output=True, text=True
    )


def _clean(text: str) -> None:
    assert SECRET not in text
    assert f"{USER}:" not in text


def test_monitor_json_and_stderr_hide_the_password(leaky_env):
    root, env = leaky_env
    done = _run(["monitor", "--json", "--no-log"], env, root)
    assert done.returncode in (0, 3), done.stderr
    assert '"features"' in done.stdout
    _clean(done.stdout)
    _clean(done.stderr)


def test_monitor_logging_failure_hides_the_password(leaky_env):
    root, env = leaky_env
    done = _run(["monitor", "--json"], env, root)  # tries to log to the unreachable server
    assert done.returncode in (0, 2, 3), done.stderr
    _clean(done.stdout)
    _clean(done.stderr)
    assert "127.0.0.1" in done.stdout + done.stderr  # the failure is reported, redacted


def test_export_hides_the_password(leaky_env):
    root, env = leaky_env
    out = root / "alerts.html"
    done = _run(["export", "--out", str(out), "--page", "alerts"], env, root)
    assert done.returncode == 0, done.stderr
    html = out.read_text(encoding="utf-8")
    assert "<html" in html.lower()
    _clean(html)
    _clean(done.stdout)
    _clean(done.stderr)
