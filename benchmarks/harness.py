"""The server and browser harness that the benchmarks and the browser tests share.

- a server: ``driftdeck serve`` (or ``panel serve panel_serve.py``) started on a free loopback
  port, answered before it is used, stopped after;
- a browser: Debian's Chromium (``$DRIFTDECK_CHROMIUM``), launched headless by Playwright with
  ``CHROMIUM_ARGS``, its pages allowed to reach only this machine (``LOCAL``);
- waits on the page: no section loading, Bokeh canvases really painted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DRIFTDECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOCAL = ("http://127.0.0.1:", "http://localhost:", "file://", "data:", "blob:")
"""URL prefixes a page may load: everything else is blocked (served pages work air-gapped)."""
SERVER_START_SECONDS = 120
MIN_PLOTS = {
    "overview": 3,
    "drift": 5,
    "features": 2,
    "performance": 2,
    "production": 1,
    "alerts": 1,
}
"""At least this many canvases paint on each page of the demo world."""


class ServerError(RuntimeError):
    """The server exited or did not answer; the message ends with its log."""


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def demo_config(world: Path | None, rows: int, scratch: Path) -> Path:
    """The ``driftdeck.toml`` of ``world``, building the demo world there (or in ``scratch``)
    when it holds none."""
    if world is not None and (world / "driftdeck.toml").is_file():
        return world.resolve() / "driftdeck.toml"
    from app.demo import build_demo

    root = world or scratch
    print(f"building the demo world ({rows:,} rows) in {root} ...", flush=True)
    build_demo(root, rows=rows, seed=0)
    return root.resolve() / "driftdeck.toml"


def serve_command(port: int, config: Path, panel_serve: bool = False) -> tuple[list[str], str]:
    """The command serving the dashboard on ``port`` of the loopback interface, and its URL:
    ``driftdeck serve``, or ``panel serve panel_serve.py``."""
    if panel_serve:
        command = [sys.executable, "-m", "panel", "serve", "panel_serve.py", "--port", str(port)]
        command += ["--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
        return command, f"http://127.0.0.1:{port}/panel_serve"
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    command += ["--address", "127.0.0.1", "--config", str(config)]
    return command, f"http://127.0.0.1:{port}/"


def start_server(
    command: list[str],
    url: str,
    config: Path,
    log: Path,
    cwd: Path = REPO,
    timeout: float = SERVER_START_SECONDS,
    checkout: Path = REPO,
) -> subprocess.Popen:
    """Start ``command`` in ``cwd`` with ``config`` (and ``checkout``, by default this one, first on
    the Python path: its ``app`` is served); return once ``url`` answers 200.

    Raises ``ServerError`` (with the end of the log) when the server exits or stays silent.
    """
    env = {**os.environ, "DRIFTDECK_CONFIG": str(config), "BOKEH_RESOURCES": "server"}
    env.pop("MLFLOW_TRACKING_URI", None)
    # This checkout's ``app``, whatever folder the server runs in and whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(checkout), env.get("PYTHONPATH")) if p)
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    stop_server(proc)
    raise ServerError(f"server did not answer {url} within {timeout}s:\n{log.read_text()[-4000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def launch_chromium(driver):
    """Debian's Chromium from a Playwright driver, sync or async (await the result of the
    latter). Playwright's own browser download is not used."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} not found: install Debian's chromium")
    return driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def keep_local(context, blocked: list[str]) -> None:
    """Let the pages of a (sync) browser context load only from this machine; what else they
    ask for is aborted and its URL appended to ``blocked``."""

    def route(route, request) -> None:
        if request.url.startswith(LOCAL):
            route.continue_()
        else:
            blocked.append(request.url)
            route.abort()

    context.route("**/*", route)


# Counts the canvases (Bokeh draws into shadow roots) that have a size and at least one
# painted pixel: a plot whose canvas exists but stayed blank does not count. Of the whole page,
# or of the element it is evaluated on (``locator.evaluate``).
DRAWN_CANVASES = """(root) => {
  let drawn = 0
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot)
    for (const child of node.children ?? []) walk(child)
    if (node.tagName !== "CANVAS" || !node.width || !node.height) return
    const box = node.getBoundingClientRect()
    if (box.width <= 0 || box.height <= 0) return
    const context = node.getContext("2d")
    if (!context) return
    const pixels = context.getImageData(0, 0, node.width, node.height).data
    for (let i = 3; i < pixels.length; i += 4 * 7) {
      if (pixels[i] !== 0) { drawn += 1; return }
    }
  }
  walk(root ?? document.documentElement)
  return drawn
}"""


def wait_until_loaded(page, timeout: float = 90.0, settle: float = 1.0) -> None:
    """Wait until no loading indicator has been shown for ``settle`` seconds."""
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    spinners = page.locator(".pn-loading")
    while time.monotonic() < deadline:
        if spinners.count() == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return
        else:
            quiet_since = None
        page.wait_for_timeout(200)
    raise AssertionError(f"{spinners.count()} section(s) still loading after {timeout}s")


def drawn_canvases(page) -> int:
    return page.evaluate(DRAWN_CANVASES)


def wait_for_drawn(page, count: int, timeout: float = 60.0) -> int:
    """Wait until at least ``count`` canvases have painted pixels; return how many have."""
    deadline = time.monotonic() + timeout
    drawn = drawn_canvases(page)
    while drawn < count and time.monotonic() < deadline:
        page.wait_for_timeout(250)
        drawn = drawn_canvases(page)
    assert drawn >= count, f"only {drawn} of at least {count} plot canvas(es) drawn in {timeout}s"
    return drawn
