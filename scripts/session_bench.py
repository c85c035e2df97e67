"""Many users without browsers: concurrent headless Bokeh clients pull each page's document from
``driftdeck serve`` and the server's CPU time is measured (the browsers of a Chromium load test
would eat the two cores this measures).

    python scripts/session_bench.py [--world DIR] [--rows 100000] [--sessions 20] [--num-procs 1]

Each session pulls the six pages' documents one after another (``bokeh.client.pull_session``,
which builds the session on the server and sends its document, without rendering), tells the
server it has loaded (as a browser does) and waits until the page itself has arrived. Reported:
p50/p95/max seconds to receive each page's document across the concurrent sessions, and the
server's CPU seconds per session (all its processes, from /proc). Only loopback traffic; every
loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the client reads the shell's component class from the project
    sys.path.insert(0, str(ROOT))

PAGES = ("overview", "drift", "features", "performance", "production", "alerts")
START_SECONDS = 180
PAGE_SECONDS = 60
"""How long a session waits for its page before it counts as failed."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


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


def _wait(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"server did not answer {url} in {START_SECONDS} s")


def _session(base: str, timings: dict[str, list[float]], errors: list[str]) -> None:
    """One user opening the six pages one after another. ``timings[slug]`` gets the seconds
    until the document was received and ``timings[slug + "+page"]`` those until the page itself
    was in it (it may arrive after the document when it takes longer than the shell's
    ``PREPARE_SECONDS`` to build); a page missing after ``PAGE_SECONDS`` is an error (its client
    is left behind, on a daemon thread)."""
    for slug in PAGES:
        outcome: dict = {}
        worker = threading.Thread(target=_open_page, args=(base, slug, outcome), daemon=True)
        worker.start()
        worker.join(PAGE_SECONDS + 60)
        if "error" in outcome:
            errors.append(f"{slug}: {outcome['error']}")
        if "document" in outcome:
            timings[slug].append(outcome["document"])
        if "page" in outcome:
            timings[f"{slug}+page"].append(outcome["page"])
        elif "error" not in outcome:
            errors.append(f"{slug}: the page did not arrive in {PAGE_SECONDS} s")


def _open_page(base: str, slug: str, outcome: dict) -> None:
    import panel  # noqa: F401 - the client must know Panel's models to read the documents
    import panel.models  # noqa: F401
    import panel.models.tabulator  # noqa: F401
    from bokeh.client import pull_session
    from bokeh.events import DocumentReady

    import app.pages.shell  # noqa: F401 - the shell's own browser-side component

    _tolerate_stale_patches()
    started = time.perf_counter()
    try:
        session = pull_session(url=base, arguments={"page": slug})
        outcome["document"] = time.perf_counter() - started
        try:
            if _wait_for_page(session, slug, DocumentReady):
                outcome["page"] = time.perf_counter() - started
        finally:
            session.close()
    except Exception as exc:  # a failed session is counted, not fatal to the bench
        outcome["error"] = f"{type(exc).__name__}: {exc}"


def _tolerate_stale_patches() -> None:
    """Apply the server's changes as BokehJS does: a change to a model this client never
    received (one made before the document was sent and replaced since) is skipped, not fatal
    to the whole connection as ``bokeh.client`` makes it."""
    from bokeh.client.session import ClientSession
    from bokeh.core.serialization import DeserializationError

    if getattr(ClientSession, "_driftdeck_tolerant", False):
        return
    apply = ClientSession._handle_patch

    def handle_patch(self, message) -> None:
        try:
            apply(self, message)
        except DeserializationError:
            pass

    ClientSession._handle_patch = handle_patch
    ClientSession._driftdeck_tolerant = True


def _wait_for_page(session, slug: str, document_ready) -> bool:
    """Tell the server the document is loaded, as a browser does (Panel sends what it built
    meanwhile only then), and apply its changes until the page's frame is in the document or
    ``PAGE_SECONDS`` have passed; whether it arrived.

    ``bokeh.client`` applies the server's changes only while its loop runs, and has no public
    way to run it until a condition holds: ``_loop_until`` is that, and a timer stops the loop
    at the deadline when the server sends nothing more."""
    css = f"driftdeck-page-{slug}"

    def arrived() -> bool:
        return any(css in (getattr(m, "css_classes", None) or []) for m in session.document.models)

    if arrived():
        return True
    session.document.callbacks.send_event(document_ready())
    connection = session._connection
    timer = connection.io_loop.call_later(PAGE_SECONDS, connection.io_loop.stop)
    connection._loop_until(lambda: arrived() or not connection.connected)
    connection.io_loop.remove_timeout(timer)
    return arrived()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--world", type=Path, help="a folder with driftdeck.toml (default: a new demo)"
    )
    parser.add_argument("--rows", type=int, default=100_000, help="demo rows when no --world")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--num-procs", type=int, default=1)
    args = parser.parse_args()
    world = args.world
    if world is None:
        world = Path(tempfile.mkdtemp(prefix="driftdeck-sessions-"))
        subprocess.run(
            [
                sys.executable,
                "-m",
                "app.cli",
                "demo",
                "--out",
                str(world),
                "--rows",
                str(args.rows),
            ],
            check=True,
        )
    port = _free_port()
    base = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "app.cli", "serve", "--config", str(world / "driftdeck.toml")]
    command += ["--port", str(port), "--num-procs", str(args.num_procs)]
    log = open(world / "session-bench-server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        _wait(base, proc)
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
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

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
