"""Load benchmark: 20 concurrent browser sessions on a 1M-row demo world.

    python -m benchmarks.load_bench [--rows 1000000] [--world DIR] [--sessions 20]

Builds the demo world once (``driftdeck demo``; reused when DIR already holds one), serves the
dashboard *in this process* (``app.server.serve(..., start=False)`` on a server thread) so the
engine's ``computations`` counter can be read directly, then drives one headless Debian Chromium
with one context per session (async Playwright). Each session opens the overview and switches
through the other five pages with the navigation; a page counts as drawn when its frame is
visible and nothing in it shows Panel's loading spinner. Then, while a heavy uncached
computation (a full report over a new window) runs on the server, a new session's first paint
is timed. Prints a summary and writes JSON next to the world (``load_bench.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from benchmarks.harness import LOCAL, free_port, launch_chromium

PAGE_TIMEOUT = 600.0  # seconds: 20 sessions on a loaded 2-core machine are slow, not broken


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def start_server(config, port: int):
    """The dashboard on a server thread of this process; returns once it is listening."""
    from app.server import serve

    ready = threading.Event()
    holder: dict = {}

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        server = serve(config, port=port, start=False)
        holder["server"] = server
        server.start()
        ready.set()
        server.io_loop.start()

    threading.Thread(target=run, name="driftdeck-server", daemon=True).start()
    if not ready.wait(600):
        raise SystemExit("server did not start within 600 s")
    return holder["server"]


async def drawn(page, slug: str, timeout: float = PAGE_TIMEOUT) -> None:
    """Wait until page ``slug`` is visible and nothing in the main area is loading."""
    await page.locator(f".driftdeck-page-{slug}").first.wait_for(
        state="visible", timeout=timeout * 1000
    )
    spinners = page.locator(".driftdeck-main .pn-loading")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        visible = 0
        for i in range(await spinners.count()):
            if await spinners.nth(i).is_visible():
                visible += 1
        if not visible:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{slug} still loading after {timeout}s")


async def new_tab(browser, errors: list[str]):
    context = await browser.new_context(viewport={"width": 1400, "height": 900})

    async def only_local(route, request):
        if request.url.startswith(LOCAL):
            await route.continue_()
        else:
            errors.append(f"blocked {request.url}")
            await route.abort()

    await context.route("**/*", only_local)
    page = await context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    return context, page


async def session(browser, url: str, slugs: list[str], titles: list[str], result: dict) -> None:
    """One user: open the first page, then switch through the others with the navigation."""
    errors: list[str] = result.setdefault("errors", [])
    context, page = await new_tab(browser, errors)
    try:
        t0 = time.monotonic()
        await page.goto(f"{url}?page={slugs[0]}", timeout=PAGE_TIMEOUT * 1000)
        await page.locator(".driftdeck-nav").first.wait_for(timeout=PAGE_TIMEOUT * 1000)
        result["first_paint"] = time.monotonic() - t0
        await drawn(page, slugs[0])
        result[slugs[0]] = time.monotonic() - t0
        for slug, title in zip(slugs[1:], titles[1:], strict=True):
            t0 = time.monotonic()
            await page.locator(".driftdeck-nav button", has_text=title).first.click()
            await drawn(page, slug)
            result[slug] = time.monotonic() - t0
        print(
            f"session done: {', '.join(f'{k} {v:.1f}s' for k, v in result.items() if k != 'errors')}",
            flush=True,
        )
    except Exception as exc:  # report what happened, keep the other sessions going
        errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    finally:
        await context.close()


async def first_paint(browser, url: str) -> dict:
    """A new session's time to the drawn shell (navigation visible) and to its first page."""
    errors: list[str] = []
    context, page = await new_tab(browser, errors)
    try:
        t0 = time.monotonic()
        await page.goto(f"{url}?page=overview", timeout=PAGE_TIMEOUT * 1000)
        await page.locator(".driftdeck-nav").first.wait_for(timeout=PAGE_TIMEOUT * 1000)
        shell = time.monotonic() - t0
        await drawn(page, "overview")
        return {"shell": shell, "overview": time.monotonic() - t0, "errors": errors}
    finally:
        await context.close()


def heavy_computation(engine, config) -> threading.Thread:
    """A full report over a window nobody asked for yet: every metric computed from scratch."""
    from app.report import full_report
    from app.window import Window

    def run() -> None:
        _, lo, _ = engine.time_range()
        start = None if lo is None else lo + timedelta(seconds=1)
        try:
            full_report(engine, Window(start=start, end=None), config, mlflow=False)
        except Exception as exc:
            print(f"heavy computation failed: {exc}", file=sys.stderr)

    thread = threading.Thread(target=run, name="heavy", daemon=True)
    thread.start()
    return thread


async def drive(args, url: str, engine, config) -> dict:
    from playwright.async_api import async_playwright

    from app.pages.shell import PAGES

    slugs = list(PAGES)
    titles = [entry.title for entry in PAGES.values()]
    report: dict = {"sessions": args.sessions, "pages": slugs}
    async with async_playwright() as driver:
        browser = await launch_chromium(driver)
        try:
            report["idle_first_paint"] = await first_paint(browser, url)
            print(f"idle new session: {report['idle_first_paint']}", flush=True)

            results: list[dict] = [{} for _ in range(args.sessions)]
            t0 = time.monotonic()
            await asyncio.gather(*(session(browser, url, slugs, titles, r) for r in results))
            report["concurrent_wall_seconds"] = time.monotonic() - t0
            report["session_errors"] = [e for r in results for e in r.get("errors", [])]
            report["per_page"] = {}
            for key in ["first_paint", *slugs]:
                times = [r[key] for r in results if key in r]
                report["per_page"][key] = {
                    "n": len(times),
                    "p50": percentile(times, 0.5),
                    "p95": percentile(times, 0.95),
                    "max": max(times) if times else None,
                }

            # Server stays responsive: a new session while a heavy computation runs.
            before = sum(engine.computations.values())
            heavy = heavy_computation(engine, config)
            await asyncio.sleep(0.5)
            report["busy_first_paint"] = await first_paint(browser, url)
            report["busy_first_paint"]["heavy_still_running"] = heavy.is_alive()
            heavy.join()
            report["heavy_computations"] = sum(engine.computations.values()) - before
        finally:
            await browser.close()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--world", default=".bench/load-world", help="demo world folder")
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args(argv)

    os.environ["BOKEH_RESOURCES"] = "server"
    from app.config import load_config
    from app.demo import build_demo
    from app.engine import shared_engine

    world = Path(args.world)
    if not (world / "driftdeck.toml").is_file():
        print(f"building a {args.rows:,}-row demo world in {world} ...", flush=True)
        build_demo(world, rows=args.rows, seed=0)
    config = load_config(world / "driftdeck.toml")
    port = free_port()
    t0 = time.monotonic()
    server = start_server(config, port)
    print(f"server up in {time.monotonic() - t0:.1f}s (warm session included)", flush=True)
    engine = shared_engine(config)
    url = f"http://127.0.0.1:{port}/"
    try:
        report = asyncio.run(drive(args, url, engine, config))
    finally:
        server.io_loop.asyncio_loop.call_soon_threadsafe(server.io_loop.stop)
    report["rows"] = engine.time_range()[0]
    distinct = engine.kept()
    report["computations"] = {
        name: {"computed": count, "distinct_results": distinct.get(name, 0)}
        for name, count in sorted(engine.computations.items())
    }
    report["recomputed"] = {
        name: c
        for name, c in report["computations"].items()
        if c["computed"] > c["distinct_results"]
    }
    out = world / "load_bench.json"
    out.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(json.dumps(report, indent=2, default=str))
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
