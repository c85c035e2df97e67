"""Browser-test fixtures: a real Panel server on a loopback port, Debian's Chromium driven by
Playwright, and pages that block every request leaving the machine and fail on any console error.
Server, browser and waits come from the harness the benchmarks share (``benchmarks/harness.py``).

Set ``DRIFTDECK_UI_WORLD`` to a folder holding a ``driftdeck.toml`` (e.g. one written by
``driftdeck demo --out DIR``) to reuse it instead of building the demo world once per run.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from benchmarks import harness
from benchmarks.harness import REPO, free_port, wait_until_loaded

UI_ROWS = 20_000

# Pages compute on a shared 2-core machine: give assertions time before they fail.
expect.set_options(timeout=30_000)


@dataclass
class BrowserLog:
    """What went wrong in the browser: console errors, uncaught exceptions, blocked requests."""

    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.errors + [f"blocked external request: {url}" for url in self.blocked]

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "browser problems:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The driftdeck.toml of a demo world (built once per test run unless DRIFTDECK_UI_WORLD)."""
    existing = os.environ.get("DRIFTDECK_UI_WORLD")
    if existing:
        config = Path(existing) / "driftdeck.toml"
        assert config.is_file(), f"DRIFTDECK_UI_WORLD={existing} holds no driftdeck.toml"
        return config
    return harness.demo_config(None, UI_ROWS, tmp_path_factory.mktemp("ui-world"))


def start_server(
    command: list[str], url: str, config: Path, log: Path, cwd: Path = REPO
) -> subprocess.Popen:
    """Start ``command`` in ``cwd`` (the repository) with ``config``; wait until ``url`` answers."""
    try:
        return harness.start_server(command, url, config, log, cwd=cwd)
    except harness.ServerError as exc:
        pytest.fail(str(exc))


stop_server = harness.stop_server


@pytest.fixture(scope="session")
def server_url(demo_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``panel serve panel_serve.py`` on a free loopback port; yields the app's URL."""
    command, url = harness.serve_command(free_port(), demo_world, panel_serve=True)
    log = tmp_path_factory.mktemp("server") / "panel-serve.log"
    proc = start_server(command, url, demo_world, log)
    yield url
    stop_server(proc)


@pytest.fixture
def launch_server(tmp_path: Path):
    """``launch_server(command_after_port, config) -> url``: run a server command on a free
    loopback port (``{port}`` in the command is replaced), in folder ``cwd`` (default: the
    repository), and stop it after the test."""
    started: list[subprocess.Popen] = []

    def launch(command: list[str], config: Path, path: str = "/", cwd: Path = REPO) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}{path}"
        command = [part.replace("{port}", str(port)) for part in command]
        log = tmp_path / f"server-{port}.log"
        started.append(start_server(command, url, config, log, cwd=cwd))
        return url

    yield launch
    for proc in started:
        stop_server(proc)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium (Playwright's own browser download is not used)."""
    try:
        browser = harness.launch_chromium(playwright)
    except FileNotFoundError as exc:
        pytest.fail(f"{exc} (scripts/test.sh installs it)")
    yield browser
    browser.close()


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
def page(browser: Browser, browser_log: BrowserLog) -> Iterator[Page]:
    """A fresh browser tab that can reach only this machine; fails the test on any console
    error, uncaught page error or attempt to load something from outside."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)

    harness.keep_local(context, browser_log.blocked)
    tab = context.new_page()
    tab.on(
        "console",
        lambda message: (
            browser_log.errors.append(
                f"console {message.type}: {message.text} ({message.location})"
            )
            if message.type == "error"
            else None
        ),
    )
    tab.on("pageerror", lambda error: browser_log.errors.append(f"page error: {error}"))
    yield tab
    context.close()
    browser_log.assert_clean()


def _wait_for_plots(page: Page, count: int = 1, timeout: float = 60.0) -> None:
    """Wait until at least ``count`` Bokeh plots have drawn a canvas with a size."""
    deadline = time.monotonic() + timeout
    canvases = page.locator("canvas")
    while time.monotonic() < deadline:
        sized = [
            box for box in (canvases.nth(i).bounding_box() for i in range(canvases.count())) if box
        ]
        if sum(1 for box in sized if box["width"] > 0 and box["height"] > 0) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"fewer than {count} Bokeh plot(s) drawn within {timeout}s")


def _wait_for_page(page: Page, slug: str, timeout: float = 60_000) -> None:
    """Wait until the shell shows the page ``slug`` (its main area is filled and not loading)."""
    page.locator(f".driftdeck-page-{slug}").first.wait_for(state="visible", timeout=timeout)
    # A page of cached results arrives with the first document, before the browser has fetched
    # every stylesheet its parts load: a test that ended now would stop the server under them.
    wait_until_loaded(page, timeout=timeout / 1000, settle=0.5)


@pytest.fixture
def wait_for_plots():
    """``wait_for_plots(page, count=1, timeout=60)``: at least ``count`` Bokeh canvases drawn."""
    return _wait_for_plots


@pytest.fixture
def wait_for_page():
    """``wait_for_page(page, slug)``: the shell shows page ``slug``, filled and not loading."""
    return _wait_for_page
