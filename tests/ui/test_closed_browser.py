"""A browser that goes away ends its session quietly: ``driftdeck serve`` logs no traceback and
no "connection was closed" line (issue 18, item 8: "Task exception was never retrieved ...
WebSocketClosedError").

Chromium is started here and killed (SIGKILL to its process group), as a crashed or
force-quit browser goes, just as new data arrives. The server notices the closed connection a
few seconds late (see ``late_close/sitecustomize.py``), as a busy server does, so the pages it
redraws for the new data write into the closed connection on every run, not once in ten.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from benchmarks.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LOCAL,
    free_port,
    start_server,
    stop_server,
)
from tests.ui.helpers import wait_until_loaded
from tests.worlds import make_world

pytestmark = pytest.mark.ui

LATE_CLOSE_SECONDS = 4
REFRESH_SECONDS = 1
PAGES = ("overview", "drift", "performance")
NOISE = ("Traceback", "never retrieved", "never awaited", "WebSocketClosedError", "was closed")
"""What a closed session used to leave in the log (a traceback, a coroutine left unawaited,
"Failed sending message as connection was closed")."""
SESSION_GONE_SECONDS = 40
"""Bokeh destroys a session 15 s after its socket closed (checked every 17 s); Panel collects
its garbage after that, when a never-retrieved exception is logged."""


def killed_browser(playwright, url: str, slug: str, profile: Path) -> None:
    """Open page ``slug`` in a Chromium of its own, wait until it is drawn, then kill that
    Chromium."""
    port = free_port()
    browser = subprocess.Popen(
        [
            CHROMIUM,
            *CHROMIUM_ARGS,
            f"--remote-debugging-port={port}",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: killed with every helper it starts
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, "Chromium did not start"
                time.sleep(0.2)
        cdp = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        context = cdp.contexts[0]
        context.route(
            "**/*",
            lambda route, request: (
                route.continue_() if request.url.startswith(LOCAL) else route.abort()
            ),
        )
        page = context.new_page()
        page.goto(f"{url}?page={slug}")
        page.locator(f".driftdeck-page-{slug}").first.wait_for(state="visible", timeout=90_000)
        wait_until_loaded(page)
    finally:
        os.killpg(browser.pid, signal.SIGKILL)
        browser.wait()


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """The small world, checked for new data every second (MLflow absent: said, not an error)."""
    root = tmp_path / "world"
    make_world(root)
    config = root / "driftdeck.toml"
    config.write_text(
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        f'[mlflow]\ntracking_uri = "sqlite:///{root / "mlflow.db"}"\ntimeout_seconds = 2\n'
        f"[server]\nrefresh_seconds = {REFRESH_SECONDS}\n"
    )
    return config


def test_killed_browsers_leave_nothing_in_the_server_log(
    playwright, world: Path, tmp_path: Path, monkeypatch
):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).parent / "late_close"))
    monkeypatch.setenv("DRIFTDECK_TEST_LATE_CLOSE", str(LATE_CLOSE_SECONDS))
    command = [sys.executable, "-m", "app.cli", "serve", "--config", str(world)]
    server = start_server([*command, "--port", str(port)], url, world, log)
    inputs = world.parent / "data/production/inputs.parquet"
    try:
        for i, slug in enumerate(PAGES):
            killed_browser(playwright, url, slug, tmp_path / f"profile-{i}")
            # New data: the session, not yet known to be gone, redraws its page.
            stamp = time.time() + i + 1
            os.utime(inputs, (stamp, stamp))
            time.sleep(LATE_CLOSE_SECONDS)
        time.sleep(SESSION_GONE_SECONDS)
        assert server.poll() is None, "the server stopped"
    finally:
        stop_server(server)
    text = log.read_text(errors="replace")
    for noise in NOISE:
        assert noise not in text, f"{noise!r} in the server log:\n{text[-6000:]}"
