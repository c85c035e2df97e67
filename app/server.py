"""``driftdeck serve``: the dashboard on a Panel server, air-gapped and bound to loopback by default."""

from __future__ import annotations

import contextlib
import gc
import os
import socket

from app.config import Config
from app.errors import DriftdeckError

# Addresses that mean "every interface": the browser's host name cannot be known in advance.
ANY_ADDRESS = ("0.0.0.0", "::", "")


def websocket_origins(address: str, port: int) -> list[str]:
    """The host:port values a browser may open the dashboard's websocket from.

    Only the configured address (and its loopback aliases) is allowed; more can be added as a
    comma-separated list in ``DRIFTDECK_ALLOW_WEBSOCKET_ORIGIN`` (e.g. behind a reverse proxy).
    """
    hosts = {address}
    if address in ("127.0.0.1", "localhost", "::1"):
        hosts |= {"127.0.0.1", "localhost"}
    elif address in ANY_ADDRESS:
        hosts = {"127.0.0.1", "localhost", socket.gethostname()}
    origins = {f"{host}:{port}" for host in hosts}
    extra = os.environ.get("DRIFTDECK_ALLOW_WEBSOCKET_ORIGIN", "")
    origins |= {origin.strip() for origin in extra.split(",") if origin.strip()}
    return sorted(origins)


YOUNG_COLLECTION_ALLOCATIONS = 100_000
"""Allocations between two collections of the youngest generation (Python's default: 700).

A session builds thousands of Bokeh and Panel objects; at the default the collector ran every
few hundred of them and walked the sessions alive each time, about a quarter of an Overview
document's CPU. Session garbage is still collected (Panel collects after sessions close)."""


def serve(
    config: Config,
    port: int | None = None,
    address: str | None = None,
    show: bool = False,
    start: bool = True,
    num_procs: int = 1,
):
    """Serve the dashboard at ``http://address:port/`` until interrupted.

    Static resources (Bokeh, Panel, fonts, icons) come from this server only. With
    ``start=False`` the configured server is returned without running it (for tests; one
    process only). ``num_procs`` > 1 (0: one per CPU) serves from that many worker processes
    behind a router that keeps each session's page and websocket on one worker
    (``app/session_router.py``); they share computed results through the store
    (``[engine] store``), so a page computed by one is read by the others.
    """
    # Imported before any worker is forked: the workers share them instead of importing.
    import panel  # noqa: F401

    import app.pages.shell  # noqa: F401
    from app.auth import auth_options, login_templates

    port = config.port if port is None else port
    address = config.address if address is None else address
    if os.environ.get("BOKEH_RESOURCES", "server") != "server":
        # Resources from this server, never a CDN, whatever the environment asked for.
        os.environ["BOKEH_RESOURCES"] = "server"
    if num_procs == 0:
        num_procs = os.cpu_count() or 1
    # {} unless a password or credentials file is configured. Made once, before any worker is
    # forked, so that every worker signs and reads login cookies with the same secret.
    auth = auth_options(config)
    with login_templates() as templates:
        if num_procs > 1:
            _serve_with_workers(config, port, address, show, num_procs, auth, templates)
            return None
        server = _dashboard_server(
            config,
            port=port,
            address=address,
            origins=websocket_origins(address, port),
            auth=auth,
            templates=templates,
            show=show,
            verbose=True,
        )
    _ready(server, config)
    if start:
        server.start()
        server.io_loop.start()
    return server


def _dashboard_server(
    config: Config,
    port: int,
    address: str,
    origins: list[str],
    auth: dict,
    templates: dict,
    **options,
):
    """The dashboard's Panel server on ``address:port``, built and not started."""
    import panel as pn

    from app.metrics_endpoint import MetricsHandler
    from app.pages.shell import create_app

    def dashboard():  # a plain function: pn.serve calls it once per session
        return create_app(config)

    metrics = (
        r"/metrics",
        MetricsHandler,
        {"config": config, "basic_auth": auth.get("basic_auth")},
    )
    return pn.serve(
        dashboard,
        extra_patterns=[metrics],
        port=port,
        address=address,
        websocket_origin=origins,
        start=False,
        title="Driftdeck",
        # Runs one session at start-up: the imports are done before the first user arrives.
        warm=True,
        **options,
        **auth,
        **(templates if auth else {}),
    )


def _ready(server, config: Config) -> None:
    """What a built server does before it serves its first request."""
    # A browser closed mid-load leaves failed websocket writes behind: not worth a traceback.
    from app.closed_sessions import quiet_closed_sessions

    quiet_closed_sessions(server.io_loop.asyncio_loop)
    # Everything imported and built so far lives as long as the server: set it aside from the
    # garbage collector. Panel runs a full collection after sessions close, and with ~340k
    # start-up objects in view each one cost ~0.25 s of the event loop.
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, *gc.get_threshold()[1:])
    # Computes every page's results once the server runs, so the first user finds them cached.
    server.io_loop.add_callback(_warm_up, config)


def _serve_with_workers(
    config: Config,
    port: int,
    address: str,
    show: bool,
    num_procs: int,
    auth: dict,
    templates: dict,
) -> None:
    """``num_procs`` workers on loopback ports behind the session router on ``address:port``;
    returns once stopped (SIGTERM, Ctrl+C); raises ``DriftdeckError`` when a worker ends."""
    import asyncio

    from bokeh.server.util import bind_sockets

    from app import worker_processes

    # The public port first: a port in use is said before any worker starts.
    sockets, port = bind_sockets(address, port)
    origins = websocket_origins(address, port)

    def worker_server():
        server = _dashboard_server(
            config,
            port=0,
            address="127.0.0.1",
            origins=origins,
            auth=auth,
            templates=templates,
            verbose=False,
            use_xheaders=True,  # the client's address, as the router forwards it
        )
        _ready(server, config)
        return server

    workers = worker_processes.start_workers(num_procs, worker_server, inherited=sockets)
    try:
        gone = asyncio.run(_route(sockets, workers, address, port, show))
    finally:
        for sock in sockets:
            sock.close()
        worker_processes.stop_workers(workers)
    if gone:
        worker, status = gone[0]
        raise DriftdeckError(
            f"server process {worker.pid} ended (exit status {status}); the server stopped"
        )


async def _route(sockets, workers, address: str, port: int, show: bool) -> list:
    """Run the session router until a signal stops it, or a worker ends (returned)."""
    import asyncio
    import signal

    from tornado.httpserver import HTTPServer

    from app.session_router import router_application
    from app.worker_processes import ended

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    http_server = HTTPServer(router_application([w.port for w in workers]))
    http_server.add_sockets(sockets)
    url = f"http://{address or 'localhost'}:{port}/"
    print(f"Launching server at {url} ({len(workers)} processes)", flush=True)
    if show:
        from bokeh.util.browser import view

        view(url)
    gone: list = []
    while not stopping.is_set() and not gone:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=0.5)
        gone = ended(workers)
    http_server.stop()
    return gone


def _warm_up(config: Config) -> None:
    from app.monitor import Monitor
    from app.pages.warmup import start_warm_up

    try:
        start_warm_up(Monitor(config))
    except DriftdeckError:
        pass  # every session shows what is wrong with the configuration
