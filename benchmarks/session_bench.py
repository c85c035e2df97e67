"""Many users without browsers: concurrent headless Bokeh clients pull each page's document from
``driftdeck serve`` and the server's CPU time is measured (the browsers of a Chromium load test
would eat the two cores this measures).

    python -m benchmarks.session_bench [--world DIR] [--rows 100000] [--sessions 20] [--num-procs 1]

Each session opens the six pages one after another as a browser does: the page's HTML (the
server creates the session and starts preparing the page), then, after the time a browser
takes to load its scripts, the document over the websocket (``bokeh.client``), kept as JSON and
never turned into models (20 client threads building ~200 models each would share one GIL on
the same cores and measure the clients). How many
documents already held the page itself is reported beside (``<page>+page``). Reported:
p50/p95/max seconds to receive each page's document across the concurrent sessions, and the
server's CPU seconds per session (all its processes, from /proc). Only loopback traffic; every
loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import harness

BROWSER_LOAD_SECONDS = 0.3
"""A browser loads the page's scripts (from the server, cached) before it asks for the document."""

PAGES = ("overview", "drift", "features", "performance", "production", "alerts")

LOADING = re.compile(r'"css_classes":\s*\[[^\]]*"pn-loading"')
"""A model shown with Panel's loading indicator: a section whose result had not been drawn yet."""


def complete(text: str, slug: str) -> bool:
    """Whether the document ``text`` holds page ``slug`` with every section drawn (nothing left
    loading): what a user sees as the finished page."""
    return f"driftdeck-page-{slug}" in text and LOADING.search(text) is None


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children still alive (forked workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


class _Received:
    """Stands in for a client's Document: keeps the document's JSON as received and builds no
    Bokeh models from it (20 client threads deserializing ~200 models each would share one GIL
    on the same two cores and measure the clients, not the server)."""

    def __init__(self) -> None:
        self.json: Any = None

    def replace_with_json(self, json: Any) -> None:
        self.json = json


def _loading_ids(value: Any, loading: set[str]) -> None:
    """Update ``loading`` (ids of models showing Panel's loading indicator) from a document's or
    a patch's JSON: every model object in it says whether it is loading now."""
    if isinstance(value, dict):
        attributes = value.get("attributes")
        if value.get("type") == "object" and isinstance(attributes, dict) and "id" in value:
            classes = attributes.get("css_classes")
            if isinstance(classes, list):
                if "pn-loading" in classes:
                    loading.add(value["id"])
                else:
                    loading.discard(value["id"])
        if value.get("kind") == "ModelChanged" and value.get("attr") == "css_classes":
            model = (value.get("model") or {}).get("id")
            if model is not None:
                if "pn-loading" in (value.get("new") or []):
                    loading.add(model)
                else:
                    loading.discard(model)
        for item in value.values():
            _loading_ids(item, loading)
    elif isinstance(value, list):
        for item in value:
            _loading_ids(item, loading)


class Opened:
    """A page opened by a headless client: its document's JSON text as received, the seconds
    until it was received and until every section was drawn (None when that did not happen
    within the time allowed)."""

    def __init__(self, text: str, received: float, drawn: float | None) -> None:
        self.text, self.received, self.drawn = text, received, drawn


def _open(base: str, slug: str, follow: float = 0.0) -> str:
    """The JSON text of page ``slug``'s document as a browser gets it (see :func:`open_page`)."""
    return open_page(base, slug, follow).text


def open_page(base: str, slug: str, follow: float = 0.0) -> Opened:
    """Open page ``slug`` as a browser does: the page's HTML first (the server creates the
    session and starts preparing the page), then, after the time a browser takes to load the
    scripts, the document over the websocket. With ``follow`` seconds, a document whose
    sections are still loading is followed as a browser follows it: the client says it has
    loaded (Bokeh's ``document_ready``, on which the server draws what it left for later) and
    reads the server's patches, as JSON, until no section is loading."""
    from bokeh.client import ClientSession
    from bokeh.client.util import websocket_url_for_server_url
    from bokeh.document import Document
    from bokeh.document.events import MessageSentEvent
    from bokeh.events import DocumentReady
    from bokeh.util.token import get_session_id

    started = time.perf_counter()
    url = f"{base}?{urllib.parse.urlencode({'page': slug})}"
    with urllib.request.urlopen(url, timeout=600) as response:
        html = response.read().decode("utf-8", "replace")
    match = re.search(r'"token":\s*"([^"]+)"', html)
    if match is None:
        raise RuntimeError("no session token in the page's HTML")
    time.sleep(BROWSER_LOAD_SECONDS)
    session = ClientSession(
        session_id=get_session_id(match.group(1)),
        websocket_url=websocket_url_for_server_url(base),
    )
    loading: set[str] = set()
    try:
        session.connect()
        session.check_connection_errors()
        received = _Received()
        # ClientConnection.pull_doc writes the reply into the given document; ours keeps JSON.
        connection = session._connection
        connection.pull_doc(received)
        text = json.dumps(getattr(received.json, "content", received.json), default=str)
        received_at = time.perf_counter() - started
        if complete(text, slug):
            return Opened(text, received_at, received_at)
        if follow <= 0 or f"driftdeck-page-{slug}" not in text:
            return Opened(text, received_at, None)
        _loading_ids(json.loads(text), loading)
        # Patches are read as JSON (``_handle_patch`` would build models in the client).
        session._handle_patch = lambda message: _loading_ids(message.content, loading)
        ready = MessageSentEvent(Document(), "bokeh_event", DocumentReady())

        async def say_ready() -> None:
            await connection.send_message(connection._protocol.create("PATCH-DOC", [ready]))

        deadline = time.perf_counter() + follow
        connection._loop.add_callback(say_ready)
        stop = connection._loop.call_later(follow, connection._loop.stop)
        connection._loop_until(lambda: not loading or time.perf_counter() > deadline)
        connection._loop.remove_timeout(stop)
        drawn = time.perf_counter() - started if not loading else None
        return Opened(text, received_at, drawn)
    finally:
        session.close()


FOLLOW_SECONDS = 120.0
"""How long a client follows a page whose sections are still loading before it gives up on it."""


def _session(base: str, timings: dict[str, list[float]], errors: list[str]) -> None:
    """One user opening the six pages one after another: ``timings[slug]`` gets the seconds
    until the page's document was received, and ``timings[slug + "+page"]`` the seconds until
    every section of the page was drawn (in the document, or by the patches that followed it)."""
    for slug in PAGES:
        try:
            opened = open_page(base, slug, follow=FOLLOW_SECONDS)
        except Exception as exc:  # a failed session is counted, not fatal to the bench
            errors.append(f"{slug}: {type(exc).__name__}: {exc}")
            continue
        timings[slug].append(opened.received)
        if opened.drawn is not None:
            timings[f"{slug}+page"].append(opened.drawn)
        else:
            errors.append(f"{slug}: sections still loading after {FOLLOW_SECONDS:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--world", type=Path, help="a folder with driftdeck.toml (default: a new demo)"
    )
    parser.add_argument("--rows", type=int, default=100_000, help="demo rows when no --world")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--num-procs", type=int, default=1)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="driftdeck-sessions-"))
    config = harness.demo_config(args.world, args.rows, scratch)
    command, base = harness.serve_command(harness.free_port(), config)
    command += ["--num-procs", str(args.num_procs)]
    proc = harness.start_server(command, base, config, config.parent / "session-bench-server.log")
    try:
        # One session first: the results every page needs are computed once (and kept).
        kinds = [*PAGES, *(f"{slug}+page" for slug in PAGES)]
        warm: dict[str, list[float]] = {kind: [] for kind in kinds}
        _session(base, warm, [])
        cpu_before = _cpu_seconds(proc.pid)
        timings: dict[str, list[float]] = {kind: [] for kind in kinds}
        errors: list[str] = []
        threads = [
            threading.Thread(target=_session, args=(base, timings, errors), daemon=True)
            for _ in range(args.sessions)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        wall = time.perf_counter() - started
        cpu = _cpu_seconds(proc.pid) - cpu_before
    finally:
        harness.stop_server(proc)

    def q(values: list[float], share: float) -> float | None:
        if not values:
            return None
        return (
            statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1]
            if len(values) > 1
            else values[0]
        )

    result = {
        "sessions": args.sessions,
        "num_procs": args.num_procs,
        "wall_seconds": wall,
        "server_cpu_seconds": cpu,
        "server_cpu_seconds_per_session": cpu / args.sessions,
        "first_session_seconds": {slug: v[0] for slug, v in warm.items() if v},
        "pages": {
            slug: {"p50": q(v, 0.5), "p95": q(v, 0.95), "max": max(v) if v else None, "n": len(v)}
            for slug, v in timings.items()
        },
        "errors": errors[:10],
    }
    print(json.dumps(result, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
