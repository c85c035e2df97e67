"""Page timing benchmark: how long each page takes to be fully drawn in a real browser.

    python -m benchmarks.page_timing [--world DIR] [--rows 20000] [--sessions 3] [--think S]
                                       [--pages overview,drift,...] [--panel-serve] [--json FILE]
                                       [--interactions N] [--app-dir DIR]

Builds the demo world unless ``--world`` holds a ``driftdeck.toml``, serves it with
``driftdeck serve`` (or ``panel serve panel_serve.py`` with ``--panel-serve``) on a free loopback
port, then opens ``--sessions`` browser sessions one after the other in Debian's Chromium (nothing
outside the machine is loaded). Each session opens the first page by URL, visits the other pages
with the navigation, then switches back to each of them once more; with ``--think S`` the user
reads each page for S seconds before the next click (the server builds pages in advance while
a session is quiet, so first visits after a pause are page switches too).

A page counts as *fully drawn* when it is shown, no loading spinner is left and the number of its
painted canvases (at least ``MIN_PLOTS``) has stopped changing. Every step reports the wall time
to that moment, the CPU seconds the server process and the browser (with Playwright's driver,
whose polling and clicks count too) spent until the page had settled, and the bytes the
websocket carried to the browser. The first session is the first after the server started;
later sessions show what a new user sees once the engine has cached its results.
Prints a table and a summary, with the load average (timings on a busy machine are noisy).

With ``--interactions N`` each session then does what a user does on the pages, N times each,
once every page has been drawn (the data of the window is computed): picks another feature in
Feature Statistics' detail, clicks another row of its table, picks another feature on Drift
Monitoring and in Production Data's explorer, and presses "next page" of the production rows. Each
counts as done at the last change the user can see: the first moment from which on the shown
page's text and the pixels of its canvases stayed as they finally were (for ``SETTLE`` seconds),
with no spinner left. ``--app-dir`` serves another checkout's ``app`` (e.g. the code before a
change) with this benchmark, to compare both in the same conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from app.pages import PAGES
from benchmarks.harness import (
    MIN_PLOTS,
    REPO,
    demo_config,
    free_port,
    keep_local,
    launch_chromium,
    serve_command,
    start_server,
    stop_server,
)

SETTLE = 1.0  # seconds without change after which a page counts as complete
POLL = 0.05
TIMEOUT = 120.0
TICKS = os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads) so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def browser_cpu() -> float:
    """CPU seconds of the browser processes this script started (Playwright's driver and Chromium)."""
    return sum(cpu_seconds(p) for p in descendants(os.getpid()) if p != os.getpid())


# One walk over the document (Bokeh and Panel draw into shadow roots): is the page's frame shown,
# how many loading spinners are left, and how many shown canvases have painted pixels on their
# middle row or column. Cheap enough to poll every 50 ms without slowing the browser down.
DRAWN_STATE = """(slug) => {
  let shown = false, spinners = 0, painted = 0
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot)
    for (const child of node.children ?? []) walk(child)
    if (!node.classList) return
    if (node.classList.contains("pn-loading")) spinners += 1
    if (node.classList.contains(`driftdeck-page-${slug}`)) {
      const box = node.getBoundingClientRect()
      shown = shown || (box.width > 0 && box.height > 0)
    }
    if (node.tagName !== "CANVAS" || !node.width || !node.height) return
    const box = node.getBoundingClientRect()
    if (box.width <= 0 || box.height <= 0) return
    const context = node.getContext("2d")
    if (!context) return
    const w = node.width, h = node.height
    for (const pixels of [context.getImageData(0, h >> 1, w, 1).data,
                          context.getImageData(w >> 1, 0, 1, h).data]) {
      for (let i = 3; i < pixels.length; i += 4) {
        if (pixels[i] !== 0) { painted += 1; return }
      }
    }
  }
  walk(document.documentElement)
  return [shown && spinners === 0, painted]
}"""


def drawn_state(page, slug: str) -> tuple[bool, int]:
    """(page shown with no spinner left, painted canvases)."""
    shown, painted = page.evaluate(DRAWN_STATE, slug)
    return shown, painted


def wait_drawn(page, slug: str, started: float) -> tuple[float, int]:
    """Seconds from ``started`` until page ``slug`` was fully drawn, and its painted canvases.

    Polls until the page is shown, no spinner is left and the number of painted canvases has not
    changed for ``SETTLE`` seconds; the page was fully drawn at the first poll from which on it
    stayed shown, spinner-free and at that final count.
    """
    deadline = time.monotonic() + TIMEOUT
    samples: list[tuple[float, bool, int]] = []
    while time.monotonic() < deadline:
        now = time.perf_counter()
        shown, painted = drawn_state(page, slug)
        samples.append((now, shown, painted))
        stable = [s for s in samples if s[0] >= now - SETTLE]
        if (
            shown
            and painted >= MIN_PLOTS.get(slug, 1)
            and samples[0][0] <= now - SETTLE
            and all(s[1] and s[2] == painted for s in stable)
        ):
            drawn_at = now
            for when, was_shown, count in reversed(samples):
                if not was_shown or count < painted:
                    break
                drawn_at = when
            return drawn_at - started, painted
        time.sleep(POLL)
    raise AssertionError(f"page {slug} not drawn within {TIMEOUT} s")


class Step:
    """Measures one navigation: wall time, server and browser CPU, websocket bytes."""

    def __init__(self, server_pid: int, traffic: dict) -> None:
        self.server_pid, self.traffic = server_pid, traffic

    def __enter__(self) -> Step:
        self.server0, self.browser0 = cpu_seconds(self.server_pid), browser_cpu()
        self.bytes0 = self.traffic["in"]
        self.started = time.perf_counter()
        return self

    def result(self, wall: float) -> dict:
        return {
            "wall": round(wall, 3),
            "server_cpu": round(cpu_seconds(self.server_pid) - self.server0, 2),
            "browser_cpu": round(browser_cpu() - self.browser0, 2),
            "ws_kb": round((self.traffic["in"] - self.bytes0) / 1024, 1),
        }

    def __exit__(self, *_exc) -> None:
        return None


# A fingerprint of what the shown page ``slug`` looks like: its text (inside every shadow root),
# the spinners left, and a checksum of a few pixel rows and columns of each shown canvas. Any
# change a user can see changes it (up to a hash collision).
SIGNATURE = """(slug) => {
  let text = 0, pixels = 0, spinners = 0, canvases = 0
  const mix = (h, v) => (Math.imul(h ^ v, 2654435761) >>> 0)
  const page = []
  const find = (node) => {
    if (node.classList?.contains(`driftdeck-page-${slug}`)) { page.push(node); return }
    if (node.shadowRoot) find(node.shadowRoot)
    for (const child of node.children ?? []) find(child)
  }
  find(document.documentElement)
  const walk = (node) => {
    if (node.shadowRoot) walk(node.shadowRoot)
    for (const child of node.childNodes ?? []) {
      if (child.nodeType === Node.TEXT_NODE) {
        const t = child.textContent
        for (let i = 0; i < t.length; i++) text = mix(text, t.charCodeAt(i))
      } else walk(child)
    }
    if (!node.classList) return
    if (node.classList.contains("pn-loading")) spinners += 1
    if (node.tagName !== "CANVAS" || !node.width || !node.height) return
    const box = node.getBoundingClientRect()
    if (box.width <= 0 || box.height <= 0) return
    const context = node.getContext("2d")
    if (!context) return
    canvases += 1
    const w = node.width, h = node.height
    pixels = mix(pixels, w * 65536 + h)
    for (const data of [context.getImageData(0, h >> 2, w, 1).data,
                        context.getImageData(0, h >> 1, w, 1).data,
                        context.getImageData(0, (3 * h) >> 2, w, 1).data,
                        context.getImageData(w >> 2, 0, 1, h).data,
                        context.getImageData(w >> 1, 0, 1, h).data]) {
      for (let i = 0; i < data.length; i += 1) pixels = mix(pixels, data[i])
    }
  }
  for (const node of page) walk(node)
  return [`${text}:${pixels}:${canvases}`, spinners]
}"""


def wait_changed(page, slug: str, before: str, started: float) -> float:
    """Seconds from ``started`` until the last visible change of page ``slug``: the first poll from
    which on its signature stayed at its final value (for ``SETTLE`` s, no spinner), which differs
    from ``before``."""
    deadline = time.monotonic() + TIMEOUT
    samples: list[tuple[float, str, int]] = []
    while time.monotonic() < deadline:
        now = time.perf_counter()
        signature, spinners = page.evaluate(SIGNATURE, slug)
        samples.append((now, signature, spinners))
        stable = [s for s in samples if s[0] >= now - SETTLE]
        if (
            signature != before
            and spinners == 0
            and now - started >= SETTLE
            and all(s[1] == signature and s[2] == 0 for s in stable)
        ):
            changed_at = now
            for when, seen, spinning in reversed(samples):
                if seen != signature or spinning:
                    break
                changed_at = when
            return changed_at - started
        time.sleep(POLL)
    raise AssertionError(f"page {slug}: no lasting change within {TIMEOUT} s")


def signature(page, slug: str) -> str:
    return page.evaluate(SIGNATURE, slug)[0]


def option_values(select) -> list[str]:
    return select.evaluate("(s) => Array.from(s.options).map((o) => o.value)")


def feature_select(tab, slug: str):
    """The select labelled "Feature" on page ``slug`` (not the segment's)."""
    label = tab.locator("label", has_text=re.compile(r"^\s*Feature\s*$"))
    group = tab.locator(f".driftdeck-page-{slug} .bk-input-group").filter(has=label)
    return group.locator("select").filter(visible=True).first


def pick_feature(tab, slug: str, times: int) -> list:
    """``times`` actions, each picking the next feature in page ``slug``'s feature select."""
    select = feature_select(tab, slug)
    values = option_values(select)
    current = select.input_value()
    start = values.index(current) if current in values else 0
    picks = [values[(start + 1 + i) % len(values)] for i in range(times)]
    return [(f"pick {value}", lambda value=value: select.select_option(value)) for value in picks]


def click_rows(tab, slug: str, times: int) -> list:
    """``times`` actions, each clicking the table row of the next feature after the one the
    feature select shows (the rows name their feature in the first cell)."""
    select = feature_select(tab, slug)
    rows = tab.locator(f".driftdeck-page-{slug} .tabulator-row").filter(visible=True)

    def click() -> None:
        names = [
            text.strip()
            for text in rows.locator(".tabulator-cell[tabulator-field=feature]").all_inner_texts()
        ]
        current = select.input_value()
        index = (names.index(current) + 1) % len(names) if current in names else 0
        rows.nth(index).click()

    return [("next row", click)] * times


def next_pages(tab, slug: str, times: int) -> list:
    button = tab.locator(f".driftdeck-page-{slug} .tabulator-page[data-page=next]")
    return [("next page", lambda: button.filter(visible=True).first.click())] * times


INTERACTIONS = (
    ("feature switch", "features", pick_feature),
    ("row click", "features", click_rows),
    ("feature switch", "drift", pick_feature),
    ("feature switch", "production", pick_feature),
    ("next page", "production", next_pages),
)
"""What a user does on the pages: (kind, page, the actions of one session)."""


def run_interactions(tab, server_pid: int, traffic: dict, number: int, times: int) -> list[dict]:
    """Time each of ``INTERACTIONS`` ``times`` times in the session's tab (every page drawn)."""
    steps = []
    for kind, slug, actions in INTERACTIONS:
        tab.get_by_role("button", name=PAGES[slug].title, exact=True).first.click()
        started = time.perf_counter()
        wait_drawn(tab, slug, started)
        for what, act in actions(tab, slug, times):
            before = signature(tab, slug)
            with Step(server_pid, traffic) as step:
                act()
                wall = wait_changed(tab, slug, before, step.started)
            row = {"session": number, "kind": kind, "page": slug, "what": what}
            row.update(step.result(wall), load=load_average())
            steps.append(row)
            print(
                f"session {number:2d}  {kind:14s} {slug:11s} {row['wall']:6.2f} s   server CPU "
                f"{row['server_cpu']:5.2f} s   browser CPU {row['browser_cpu']:5.2f} s   "
                f"ws {row['ws_kb']:7.1f} kB   {what}   load {row['load']}",
                flush=True,
            )
    return steps


def run_session(
    browser,
    url: str,
    pages: list[str],
    server_pid: int,
    number: int,
    think: float = 0.0,
    interactions: int = 0,
) -> list[dict]:
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    blocked: list[str] = []
    keep_local(context, blocked)
    tab = context.new_page()
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    traffic = {"in": 0}

    def on_socket(ws) -> None:
        ws.on(
            "framereceived", lambda payload: traffic.__setitem__("in", traffic["in"] + len(payload))
        )

    tab.on("websocket", on_socket)
    steps = []
    plan = [("first", pages[0])]
    plan += [("visit", slug) for slug in pages[1:]]
    plan += [("switch", slug) for slug in pages[:-1]] if len(pages) > 1 else []
    for kind, slug in plan:
        if kind != "first":
            time.sleep(think)  # the user reads the page before moving on
        with Step(server_pid, traffic) as step:
            if kind == "first":
                sep = "&" if "?" in url else "?"
                tab.goto(f"{url}{sep}page={slug}")
            else:
                tab.get_by_role("button", name=PAGES[slug].title, exact=True).first.click()
            wall, painted = wait_drawn(tab, slug, step.started)
        row = {"session": number, "kind": kind, "page": slug, **step.result(wall)}
        row["canvases"] = painted
        row["load"] = load_average()
        steps.append(row)
        print(
            f"session {number:2d}  {kind:6s} {slug:12s} {row['wall']:6.2f} s   server CPU "
            f"{row['server_cpu']:5.2f} s   browser CPU {row['browser_cpu']:5.2f} s   "
            f"ws {row['ws_kb']:7.1f} kB   canvases {painted:2d}   load {row['load']}",
            flush=True,
        )
    if interactions:
        steps += run_interactions(tab, server_pid, traffic, number, interactions)
    context.close()
    errors += [f"blocked {url}" for url in blocked]
    if errors:
        print(f"session {number}: browser errors:\n  " + "\n  ".join(errors), flush=True)
    return steps


def interaction_summary(steps: list[dict]) -> list[dict]:
    """Per interaction and page: median, range and count of every session's timings."""
    out = []
    for kind, slug, _ in INTERACTIONS:
        walls = [s["wall"] for s in steps if s["kind"] == kind and s["page"] == slug]
        if walls:
            out.append(
                {
                    "kind": kind,
                    "page": slug,
                    "median": statistics.median(walls),
                    "min": min(walls),
                    "max": max(walls),
                    "count": len(walls),
                }
            )
    return out


def summary(steps: list[dict]) -> list[dict]:
    """Per page and step kind: the first session's time and the median of the later ones."""
    out = []
    for kind in ("first", "visit", "switch"):
        for slug in PAGES:
            rows = [s for s in steps if s["kind"] == kind and s["page"] == slug]
            if not rows:
                continue
            first = [s["wall"] for s in rows if s["session"] == 1]
            later = [s["wall"] for s in rows if s["session"] > 1]
            out.append(
                {
                    "kind": kind,
                    "page": slug,
                    "session_1": first[0] if first else None,
                    "later_median": statistics.median(later) if later else None,
                    "later_max": max(later) if later else None,
                    "server_cpu_median": statistics.median(s["server_cpu"] for s in rows),
                }
            )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--world", type=Path, help="folder holding driftdeck.toml (built if absent)"
    )
    parser.add_argument("--rows", type=int, default=20_000, help="rows of a newly built world")
    parser.add_argument("--sessions", type=int, default=3, help="browser sessions, one at a time")
    parser.add_argument("--pages", default=",".join(PAGES), help="comma-separated page slugs")
    parser.add_argument("--panel-serve", action="store_true", help="serve with `panel serve`")
    parser.add_argument("--wait", type=float, default=0.0, help="seconds to wait after start")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds a user reads each drawn page before the next click (default: none)",
    )
    parser.add_argument(
        "--interactions",
        type=int,
        default=0,
        help="times each session switches features, clicks table rows and pages the rows",
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        help="serve the app of this checkout instead of this one (compare old and new code)",
    )
    parser.add_argument("--json", type=Path, help="write every step and the summary here")
    args = parser.parse_args(argv)
    pages = [p.strip() for p in args.pages.split(",") if p.strip()]
    unknown = [p for p in pages if p not in PAGES]
    if unknown:
        parser.error(f"unknown page(s): {', '.join(unknown)}")

    from playwright.sync_api import sync_playwright

    # A stopped benchmark stops its server too (the ``finally`` below runs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    scratch = Path(tempfile.mkdtemp(prefix="driftdeck-timing-"))
    config = demo_config(args.world, args.rows, scratch / "world")
    log = scratch / "server.log"
    command, url = serve_command(free_port(), config, args.panel_serve)
    print(f"load average before start: {load_average()}", flush=True)
    started = time.perf_counter()
    app_dir = (args.app_dir or REPO).resolve()
    proc = start_server(command, url, config, log, cwd=app_dir, timeout=300, checkout=app_dir)
    print(f"server answered after {time.perf_counter() - started:.1f} s ({url}; log {log})")
    time.sleep(args.wait)
    steps: list[dict] = []
    try:
        with sync_playwright() as driver:
            browser = launch_chromium(driver)
            for number in range(1, args.sessions + 1):
                steps += run_session(
                    browser, url, pages, proc.pid, number, args.think, args.interactions
                )
            browser.close()
    finally:
        stop_server(proc)
    table = summary([s for s in steps if s["kind"] in ("first", "visit", "switch")])
    print("\nkind    page          session 1   later median   later max   server CPU (median)")
    for row in table:
        later = row["later_median"]
        print(
            f"{row['kind']:6s}  {row['page']:12s}  {row['session_1']:8.2f} s  "
            + (f"{later:10.2f} s  {row['later_max']:8.2f} s" if later is not None else " " * 26)
            + f"  {row['server_cpu_median']:8.2f} s"
        )
    interactions = interaction_summary(steps)
    if interactions:
        print("\ninteraction     page         median      range             count")
    for row in interactions:
        print(
            f"{row['kind']:14s}  {row['page']:11s}  {row['median']:6.2f} s   "
            f"{row['min']:5.2f}–{row['max']:5.2f} s   {row['count']:4d}"
        )
    print(f"load average after: {load_average()}")
    if args.json:
        result = {"steps": steps, "summary": table, "interactions": interactions}
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
