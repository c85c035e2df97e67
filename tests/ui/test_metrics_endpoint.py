"""``GET /metrics`` on ``driftdeck serve``: what a Prometheus scrape sees, checked against
``driftdeck monitor --json`` on the same files, and the login in front of it."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.metrics_helpers import expected_samples, parse
from tests.worlds import make_world

pytestmark = pytest.mark.ui

PASSWORD = "scrape-me-s3cret"


def _get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _world(tmp_path, extra: str = "") -> str:
    make_world(tmp_path)
    path = tmp_path / "driftdeck.toml"
    path.write_text('[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n' + extra)
    return path


def _serve(config: Path) -> list[str]:
    return [sys.executable, "-m", "app.cli", "serve", "--config", str(config), "--port", "{port}"]


def test_a_scrape_matches_monitor_json(tmp_path, launch_server):
    config = _world(tmp_path)
    url = launch_server(_serve(config), config, path="/metrics")
    status, text = _get(url)
    assert status == 200
    got = parse(text)
    monitor = subprocess.run(
        [sys.executable, "-m", "app.cli", "monitor", "--json", "--no-log", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    want = expected_samples(json.loads(monitor.stdout))
    assert {k: v for k, v in got.items() if k in want} == pytest.approx(want, rel=1e-9)
    assert set(want) <= set(got)
    assert ("driftdeck_computation_seconds", ()) in got


def test_behind_the_login_a_scraper_needs_the_password(tmp_path, launch_server):
    config = _world(tmp_path, f'[server]\nbasic_auth = "{PASSWORD}"\n')
    login = launch_server(_serve(config), config, path="/login")
    url = login.replace("/login", "/metrics")
    status, text = _get(url)
    assert status == 401 and "driftdeck_" not in text
    assert _get(url, ("prometheus", "wrong"))[0] == 401
    status, text = _get(url, ("prometheus", PASSWORD))
    assert status == 200 and "driftdeck_feature_psi" in text
    assert PASSWORD not in text


def _serving(config: Path) -> list[int]:
    """Processes whose command line names this config (the forked workers of a server)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(config).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def test_several_server_processes_share_one_port_and_one_store(tmp_path, launch_server):
    config = _world(tmp_path)
    url = launch_server([*_serve(config), "--num-procs", "2"], config, path="/metrics")
    serving = [pid for pid in _serving(config) if pid != os.getpid()]
    try:
        _check_shared(url, tmp_path)
        # A SIGTERM to the parent alone (kill PID, a process manager) stops its workers too.
        assert len(serving) == 3, serving  # the parent and its two workers
        (parent,) = [pid for pid in serving if _parent_of(pid) not in serving]
        os.kill(parent, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(serving):
            time.sleep(0.2)
        assert not _alive(serving), f"still serving after SIGTERM to {parent}: {_alive(serving)}"
    finally:
        for pid in _alive(serving):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


def _alive(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (a zombie waiting for its parent has ended)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _check_shared(url: str, tmp_path: Path) -> None:
    answers = [_get(url) for _ in range(6)]
    assert all(status == 200 for status, _ in answers)
    assert (
        len({parse(text)[("driftdeck_feature_psi", (("feature", "area"),))] for _, text in answers})
        == 1
    )
    assert list((tmp_path / ".driftdeck" / "results" / "production_profile").glob("*.pkl"))
    status, page = _get(url.replace("/metrics", "/"))
    assert status == 200 and "Driftdeck" in page
