"""Regenerate the README screenshots: every page of the demo world, full page, once it has loaded.

    python -m benchmarks.screenshots [--world DIR] [--out docs/screenshots] [--rows 20000]

Builds the demo world in a temporary folder unless ``--world`` names a folder holding a
``driftdeck.toml`` (e.g. one written by ``driftdeck demo --out DIR``), serves it with
``panel serve panel_serve.py`` on a free loopback port, opens each page in Debian's Chromium
(``benchmarks/harness.py``: ``$DRIFTDECK_CHROMIUM``; nothing outside the machine is loaded), waits
until the page is shown, no section is loading and its plots have painted, and writes
``OUT/<slug>.png`` (1400 px wide).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from app.pages import PAGES
from benchmarks import harness

WIDTH = 1400
TALLEST = """() => Math.max(
  document.documentElement.scrollHeight,
  ...Array.from(document.querySelectorAll("*"), (el) => el.scrollHeight + el.getBoundingClientRect().top)
)"""


def capture(url: str, out: Path, slugs: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = harness.launch_chromium(driver)
        context = browser.new_context(viewport={"width": WIDTH, "height": 900})
        harness.keep_local(context, [])
        for slug in slugs:
            page = context.new_page()
            started = time.monotonic()
            page.goto(f"{url}?page={slug}")
            page.locator(f".driftdeck-page-{slug}").first.wait_for(state="visible", timeout=120_000)
            harness.wait_until_loaded(page, timeout=180)
            harness.wait_for_drawn(page, 1, timeout=120)
            # The template scrolls inside its main area, not the body: grow the viewport to the
            # tallest scrolling content so the screenshot holds the whole page.
            height = page.evaluate(TALLEST)
            page.set_viewport_size({"width": WIDTH, "height": min(max(900, height + 40), 8000)})
            page.wait_for_timeout(2500)  # let the plots paint after their resize
            harness.wait_until_loaded(page, timeout=60)
            target = out / f"{slug}.png"
            page.screenshot(path=str(target), full_page=True)
            print(f"{target} ({time.monotonic() - started:.1f} s)")
            page.close()
        browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, help="folder holding a driftdeck.toml")
    parser.add_argument("--out", type=Path, default=harness.REPO / "docs/screenshots")
    parser.add_argument("--rows", type=int, default=20_000, help="demo rows when building")
    parser.add_argument("--page", action="append", choices=list(PAGES), help="only these pages")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="driftdeck-shots-") as scratch:
        if args.world is not None and not (args.world / "driftdeck.toml").is_file():
            raise SystemExit(f"{args.world} holds no driftdeck.toml")
        config = harness.demo_config(args.world, args.rows, Path(scratch) / "world")
        command, url = harness.serve_command(harness.free_port(), config, panel_serve=True)
        proc = harness.start_server(
            command, url, config, Path(scratch) / "panel-serve.log", timeout=180
        )
        try:
            capture(url, args.out, args.page or list(PAGES))
        finally:
            harness.stop_server(proc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
