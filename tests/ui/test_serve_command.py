"""``driftdeck serve`` end to end: the dashboard at / on loopback, nothing loaded from outside."""

from __future__ import annotations

import sys

import pytest

from tests.ui.helpers import wait_until_loaded

pytestmark = pytest.mark.ui


def test_driftdeck_serve_draws_the_dashboard(page, demo_world, launch_server, wait_for_page):
    command = [sys.executable, "-m", "app.cli", "serve", "--config", str(demo_world)]
    url = launch_server([*command, "--port", "{port}"], demo_world)
    page.goto(f"{url}?page=alerts")
    wait_for_page(page, "alerts")
    wait_until_loaded(page)
    # localhost is the same loopback host: its websocket is allowed too.
    page.goto(url.replace("127.0.0.1", "localhost"))
    wait_for_page(page, "overview")
    # The page can arrive drawn with the first document: let the browser finish loading its
    # styles before the test ends and the server stops.
    wait_until_loaded(page)
