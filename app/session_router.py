"""The front of ``driftdeck serve --num-procs N``: a reverse proxy that sends each Bokeh session's
page and websocket to the one worker process holding that session.

A Bokeh session lives in the process that served the page's HTML; a websocket accepted by
another process would build the whole session there again. So the router names the session
itself: a page request that names none gets a new session id in the ``Bokeh-Session-Id``
header (Bokeh's ``SessionHandler.get_session`` takes it), and the websocket, whose
``Sec-WebSocket-Protocol`` is ``bokeh, <token>``, goes where the token's session id points.
Both map the id to a worker with a stable hash; a new id is drawn until it maps to the worker
answering the fewest requests. Requests naming no session (static
resources, ``/metrics``, the login form) go to the workers in turn.

The client's Host, Origin and cookies pass through unchanged, so the workers' websocket
origin check and login see what a single server would; the client's address goes in
``X-Real-Ip`` / ``X-Forwarded-For`` (the workers serve with ``use_xheaders``).
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence

from bokeh.settings import settings
from bokeh.util.token import generate_session_id, get_session_id
from tornado import httputil, websocket
from tornado.httpclient import HTTPRequest
from tornado.ioloop import IOLoop
from tornado.simple_httpclient import SimpleAsyncHTTPClient
from tornado.web import Application, RequestHandler

UPSTREAM_SECONDS = 600.0
"""How long a worker may take to answer one request (a page under load takes seconds)."""

CONNECT_SECONDS = 30.0

MAX_MESSAGE_BYTES = 20 * 1024 * 1024
"""The largest message a browser may send: Bokeh's own limit
(``DEFAULT_WEBSOCKET_MAX_MESSAGE_SIZE_BYTES``), which the worker applies again."""

MAX_WORKER_MESSAGE_BYTES = 1024 * 1024 * 1024
"""The largest message a worker may send: Bokeh sets no limit on what it sends (a document, a
file download), so neither does the router, short of a gigabyte."""

PING_SECONDS = 37.0
"""Bokeh's keep-alive interval: the workers' pings stop at the router, so it pings browsers."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that concern one connection only (RFC 9110 §7.6.1), never passed on."""

WEBSOCKET_HANDSHAKE = frozenset(
    {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
    | {"sec-websocket-protocol"}
)
"""Headers of the client's websocket handshake that the router's own handshake replaces."""


class SessionRouter:
    """Which worker (a loopback port) serves a request."""

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self._turns = itertools.cycle(range(len(self.ports)))
        self.client = SimpleAsyncHTTPClient(force_instance=True, max_clients=1000)
        # The HTTP requests each worker is answering now (a page's lasts its session's build).
        self.in_flight = {port: 0 for port in self.ports}

    def for_session(self, session_id: str) -> int:
        """The port of the worker that holds (or will build) session ``session_id``."""
        return self.ports[zlib.crc32(session_id.encode("utf-8")) % len(self.ports)]

    def new_session(self) -> tuple[str, int]:
        """A new session id for the least busy worker, and its port: ids are drawn until one
        hashes to that worker (N draws on average), so the id alone still names the worker."""
        turn = next(self._turns)
        order = self.ports[turn:] + self.ports[:turn]  # ties go round
        port = min(order, key=self.in_flight.__getitem__)
        for _ in range(64 * len(self.ports)):
            session_id = new_session_id()
            if self.for_session(session_id) == port:
                break
        return session_id, self.for_session(session_id)

    def next_port(self) -> int:
        """A worker for a request that concerns no session."""
        return self.ports[next(self._turns)]


def new_session_id() -> str:
    """A session id as the workers' Bokeh would make it (signed when sessions are signed)."""
    return generate_session_id(
        secret_key=settings.secret_key_bytes(), signed=settings.sign_sessions()
    )


def forwarded_headers(
    request: httputil.HTTPServerRequest, drop: frozenset[str] = frozenset()
) -> httputil.HTTPHeaders:
    """The client's headers to pass on, with its address and scheme added."""
    headers = httputil.HTTPHeaders()
    for name, value in request.headers.get_all():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in drop or lower in ("x-real-ip", "x-scheme"):
            continue
        headers.add(name, value)
    forwarded_for = request.headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = (
        f"{forwarded_for}, {request.remote_ip}" if forwarded_for else request.remote_ip
    )
    headers["X-Real-Ip"] = request.remote_ip
    headers["X-Forwarded-Proto"] = request.protocol
    return headers


class PageProxy(RequestHandler):
    """Passes any HTTP request to a worker and its answer back (redirects and cookies as they
    are); a GET that names no session gets a new session id, on the least busy worker, for
    the page it may open."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

    def initialize(self, router: SessionRouter) -> None:
        self.router = router

    async def _forward(self, *args: str) -> None:
        request = self.request
        headers = forwarded_headers(request, drop=frozenset({"content-length"}))
        session_id = self._session_named(headers)
        if session_id is not None:
            port = self.router.for_session(session_id)
        elif request.method == "GET":
            session_id, port = self.router.new_session()
            headers["Bokeh-Session-Id"] = session_id
        else:
            port = self.router.next_port()
        self.router.in_flight[port] += 1
        try:
            await self._fetch(port, headers)
        finally:
            self.router.in_flight[port] -= 1

    async def _fetch(self, port: int, headers: httputil.HTTPHeaders) -> None:
        request = self.request
        has_body = request.method in ("POST", "PUT", "PATCH") or bool(request.body)
        upstream = HTTPRequest(
            f"http://127.0.0.1:{port}{request.uri}",
            method=request.method,
            headers=headers,
            body=request.body if has_body else None,
            follow_redirects=False,
            decompress_response=False,
            allow_nonstandard_methods=True,
            connect_timeout=CONNECT_SECONDS,
            request_timeout=UPSTREAM_SECONDS,
        )
        response = await self.router.client.fetch(upstream, raise_error=False)
        if response.code == 599:  # no HTTP answer: the worker is gone or too slow
            self.set_status(502)
            self.finish(f"driftdeck: a server process did not answer ({response.error})\n")
            return
        self.set_status(response.code, response.reason)
        for name in ("Content-Type", "Server", "Date"):
            self.clear_header(name)
        for name in response.headers:
            lower = name.lower()
            if lower in HOP_BY_HOP or (lower == "content-length" and request.method != "HEAD"):
                continue
            for value in response.headers.get_list(name):
                self.add_header(name, value)
        if response.body and response.code not in (204, 304):
            self.write(response.body)
        self.finish()

    def _session_named(self, headers: httputil.HTTPHeaders) -> str | None:
        """The session a request names itself (an autoload script, a page with a token)."""
        if "Bokeh-Session-Id" in headers:
            return headers["Bokeh-Session-Id"]
        session_id = self.get_query_argument("bokeh-session-id", None)
        if session_id:
            return session_id
        token = self.get_query_argument("bokeh-token", None)
        if token:
            try:
                return get_session_id(token)
            except Exception:  # a malformed token: the worker says what is wrong with it
                return None
        return None

    get = head = post = put = patch = delete = options = _forward


class WebSocketProxy(websocket.WebSocketHandler):
    """A browser's websocket to the worker holding its session: the worker's handshake first
    (so a refusal reaches the browser as it is), then every message both ways, text and
    binary, and a close from either side closes the other."""

    def initialize(self, router: SessionRouter) -> None:
        self.router = router
        self.upstream: websocket.WebSocketClientConnection | None = None

    async def get(self, *args: str, **kwargs: str) -> None:
        offered = ",".join(self.request.headers.get_list("Sec-WebSocket-Protocol"))
        protocols = [p.strip() for p in offered.split(",") if p.strip()]
        port = self._port(protocols)
        request = HTTPRequest(
            f"ws://127.0.0.1:{port}{self.request.uri}",
            headers=forwarded_headers(self.request, drop=WEBSOCKET_HANDSHAKE),
            connect_timeout=CONNECT_SECONDS,
            request_timeout=UPSTREAM_SECONDS,
        )
        try:
            self.upstream = await websocket.websocket_connect(
                request,
                max_message_size=MAX_WORKER_MESSAGE_BYTES,
                subprotocols=protocols or None,
            )
        except Exception as exc:  # refused (origin, login) or the worker is gone
            code = getattr(exc, "code", 502)  # 599: Tornado's "no HTTP answer"
            self.set_status(code if isinstance(code, int) and 400 <= code < 599 else 502)
            self.finish()
            return
        await super().get(*args, **kwargs)
        if self.ws_connection is None:  # the browser's handshake was refused
            self.upstream.close()

    def _port(self, protocols: list[str]) -> int:
        if len(protocols) == 2 and protocols[0] == "bokeh":
            try:
                return self.router.for_session(get_session_id(protocols[1]))
            except Exception:  # a malformed token: the worker refuses it
                pass
        return self.router.next_port()

    def check_origin(self, origin: str) -> bool:
        return True  # the worker checks the origin against the dashboard's allowed hosts

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return self.upstream.selected_subprotocol if self.upstream else None

    def open(self, *args: str, **kwargs: str) -> None:
        IOLoop.current().add_callback(self._relay_from_worker)

    async def _relay_from_worker(self) -> None:
        upstream = self.upstream
        while True:
            message = await upstream.read_message()
            if message is None:
                break
            try:
                await self.write_message(message, binary=isinstance(message, bytes))
            except websocket.WebSocketClosedError:
                break
        self.close(upstream.close_code, upstream.close_reason)
        upstream.close()

    async def on_message(self, message: str | bytes) -> None:
        try:
            await self.upstream.write_message(message, binary=isinstance(message, bytes))
        except websocket.WebSocketClosedError:
            self.close()

    def on_close(self) -> None:
        if self.upstream is not None:
            self.upstream.close(self.close_code, self.close_reason)


def router_application(ports: Sequence[int]) -> Application:
    """The Tornado application of the router in front of workers listening on ``ports``."""
    router = SessionRouter(ports)
    return Application(
        [
            (r".*/ws", WebSocketProxy, {"router": router}),
            (r".*", PageProxy, {"router": router}),
        ],
        websocket_max_message_size=MAX_MESSAGE_BYTES,
        websocket_ping_interval=PING_SECONDS,
    )
