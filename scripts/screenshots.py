"""Regenerate the README screenshots: every page of the demo world, full page, once it has loaded.

    python scripts/screenshots.py [--world DIR] [--out docs/screenshots] [--rows 20000]

Builds the demo world in a temporary folder unless ``--world`` names a folder holding a
``driftdeck.toml`` (e.g. one written by ``driftdeck demo --out DIR``), serves it with
``panel serve panel_serve.py`` on a free loopback port, opens each page in Debian's Chromium
(``$DRIFTDECK_CHROMIUM``, default /usr/bin/chromium; nothing outside the machine is loaded), waits
until the page is shown, no section is loading and its plots have painted, and writes
``OUT/<slug>.png`` (1400 px wide).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from app.pages import PAGES  # noqa: E402
from tests.ui.helpers import wait_for_drawn, wait_until_loaded  # noqa: E402

CHROMIUM = os.environ.get("DRIFTDECK_CHROMIUM", "/usr/bin/chromium")
LOCAL = ("http://127.0.0.1:", "data:", "blob:")
WIDTH = 1400
TALLEST = """() => Math.max(
  document.documentElement.scrollHeight,
  ...Array.from(document.querySelectorAll("*"), (el) => el.scrollHeight + el.getBoundingClientRect().top)
)"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(config: Path, port: int, log: Path) -> subprocess.Popen:
    """``panel serve panel_serve.py`` on ``port``; returns once the app answers."""
    command = [sys.executable, "-m", "panel", "serve", "panel_serve.py", "--port", str(port)]
    command += ["--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"]
    env = {**os.environ, "DRIFTDECK_CONFIG": str(config), "BOKEH_RESOURCES": "server"}
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/panel_serve", timeout=5):
                return proc
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"server did not answer within 180 s; see {log}")


def capture(url: str, out: Path, slugs: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(viewport={"width": WIDTH, "height": 900})
        context.route(
            "**/*",
            lambda route, request: (
                route.continue_() if request.url.startswith(LOCAL) else route.abort()
            ),
        )
        for slug in slugs:
            page = context.new_page()
            started = time.monotonic()
            page.goto(f"{url}?page={slug}")
            page.locator(f".driftdeck-page-{slug}").first.wait_for(state="visible", timeout=120_000)
            wait_until_loaded(page, timeout=180)
            wait_for_drawn(page, 1, timeout=120)
            # The template scrolls inside its main area, not the body: grow the viewport to the
            # tallest scrolling content so the screenshot holds the whole page.
            height = page.evaluate(TALLEST)
            page.set_viewport_size({"width": WIDTH, "height": min(max(900, height + 40), 8000)})
            page.wait_for_timeout(2500)  # let the plots paint after their resize
            wait_until_loaded(page, timeout=60)
            target = out / f"{slug}.png"
            page.screenshot(path=str(target), full_page=True)
            print(f"{target} ({time.monotonic() - started:.1f} s)")
            page.close()
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="folder holding a driftdeck.toml")
    parser.add_argument("--out", type=Path, default=REPO / "docs/screenshots")
    parser.add_argument("--rows", type=int, default=20_000, help="demo rows when building")
    parser.add_argument("--page", action="append", choices=list(PAGES), help="only these pages")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="driftdeck-shots-") as scratch:
        world = args.world
        if world is None:
            from app.demo import build_demo

            world = Path(scratch) / "world"
            print(f"building the demo world ({args.rows:,} rows) in {world}")
            build_demo(world, rows=args.rows, seed=0)
        config = world.resolve() / "driftdeck.toml"
        if not config.is_file():
            raise SystemExit(f"{world} holds no driftdeck.toml")
        port = free_port()
        proc = serve(config, port, Path(scratch) / "panel-serve.log")
        try:
            capture(f"http://127.0.0.1:{port}/panel_serve", args.out, args.page or list(PAGES))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
