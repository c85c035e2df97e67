"""``driftdeck serve``: the dashboard on a Panel server, air-gapped and bound to loopback by default."""

from __future__ import annotations

import gc
import os
import socket

from app.config import Config

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

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process receives when its parent ends."""


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
    ``start=False`` the configured server is returned without running it (for tests).
    ``num_procs`` > 1 forks that many processes on one port; they share computed results
    through the store (``[engine] store``), so a page computed by one is read by the others.
    """
    import panel as pn

    from app.pages.shell import create_app

    port = config.port if port is None else port
    address = config.address if address is None else address
    if os.environ.get("BOKEH_RESOURCES", "server") != "server":
        # Resources from this server, never a CDN, whatever the environment asked for.
        os.environ["BOKEH_RESOURCES"] = "server"

    def dashboard():  # a plain function: pn.serve calls it once per session
        return create_app(config)

    from app.auth import auth_options, login_templates

    auth = auth_options(config)  # {} unless a password or credentials file is configured
    from app.metrics_endpoint import MetricsHandler

    metrics = (
        r"/metrics",
        MetricsHandler,
        {"config": config, "basic_auth": auth.get("basic_auth")},
    )
    parent = os.getpid()
    with login_templates() as templates:
        server = pn.serve(
            dashboard,
            extra_patterns=[metrics],
            port=port,
            address=address,
            websocket_origin=websocket_origins(address, port),
            show=show,
            start=False,
            title="Driftdeck",
            verbose=True,
            num_procs=num_procs,
            # Runs one session at start-up: the imports are done before the first user arrives
            # (not before forking processes: Bokeh refuses to fork after running app code).
            warm=num_procs == 1,
            **auth,
            **(templates if auth else {}),
        )
    if num_procs > 1:
        # Only the forked workers get here (the parent waits on them inside pn.serve).
        _stop_with_parent(parent)
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
    if start:
        server.start()
        server.io_loop.start()
    return server


def _stop_with_parent(parent: int) -> None:
    """Make this forked worker stop when the process that forked it does.

    Tornado's parent only waits on its workers: a SIGTERM to it alone (``kill PID``, a process
    manager that signals the main process) would end it and leave the workers serving the
    port. Linux's parent-death signal ends each worker with it."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: Ctrl+C still stops the whole group
        return
    if os.getppid() != parent:  # the parent ended before the signal was set
        os._exit(0)


def _warm_up(config: Config) -> None:
    from app.errors import DriftdeckError
    from app.monitor import Monitor
    from app.pages.warmup import start_warm_up

    try:
        start_warm_up(Monitor(config))
    except DriftdeckError:
        pass  # every session shows what is wrong with the configuration
