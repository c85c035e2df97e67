"""``driftdeck serve --num-procs 2``: each session is built once, by the worker that served its
page, however the websocket arrives (without the session router, a websocket accepted by the
other process built the whole session again there)."""

from __future__ import annotations

import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks.session_bench import _open
from tests.worlds import make_world

pytestmark = pytest.mark.ui

OPENS = 8
"""Page opens: built twice at random by half the sessions, 8 would all land right once in 256."""

LAUNCH_LINES_PER_SESSION = 2
"""Panel 1.9 logs "Session <id> launching" twice for each document it builds (the function
handler and ``initialize_document``); the workers' warm-up sessions, one each, show it."""


def _launched(log: Path) -> int:
    return len(re.findall(r"Session \d+ launching", log.read_text(errors="replace")))


def test_each_session_is_built_once_by_one_worker(tmp_path, launch_server, monkeypatch):
    make_world(tmp_path)
    config = tmp_path / "driftdeck.toml"
    config.write_text('[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n')
    monkeypatch.setenv("PANEL_LOG_LEVEL", "info")  # Panel then logs every session it builds
    command = [sys.executable, "-m", "app.cli", "serve", "--config", str(config)]
    # Answered at /metrics, which builds no session: the log then holds the warm-ups alone.
    metrics = launch_server(
        [*command, "--port", "{port}", "--num-procs", "2"], config, path="/metrics"
    )
    url = metrics.removesuffix("metrics")
    (log,) = tmp_path.glob("server-*.log")
    before = _launched(log)
    # The client in a thread of its own: it runs an event loop, as Playwright may in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        texts = [pool.submit(_open, url, slug).result(timeout=600) for slug in ["overview"] * OPENS]
    built = (_launched(log) - before) / LAUNCH_LINES_PER_SESSION
    assert built == OPENS, f"{OPENS} page opens built {built} sessions"
    for text in texts:
        document = json.loads(text)
        assert document.get("title") == "Driftdeck" and document.get("roots")
    assert before == 2 * LAUNCH_LINES_PER_SESSION  # one warm-up session per worker
