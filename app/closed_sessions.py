"""A browser that goes away ends its session quietly in the server log.

Closing a tab, or a browser killed mid-load, leaves writes to its websocket in flight. Panel 1.9
writes document patches as tornado ``write_message`` futures (e.g. when the template's busy
indicator switches off, 0.5 s after the last callback); once the session is destroyed nobody
awaits them: Panel cancels the pending ones, but a write that has already failed cannot be
cancelled, so its ``WebSocketClosedError`` is never retrieved and asyncio logs "Task exception
was never retrieved" with two tracebacks. Bokeh and Panel also log "Failed sending message as
connection was closed" for writes they did await. None of it is an error: the user left.

``quiet_closed_sessions(loop)`` drops exactly these reports on the server's event loop and
leaves every other exception and log record as it was.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

CLOSED_MESSAGE = "Failed sending message as connection was closed"
"""What Bokeh's websocket handler and Panel's document writer log for a closed connection."""

CLOSED_LOGGERS = ("bokeh.server.views.ws", "panel.io.document")


def is_closed_connection(exc: BaseException | None) -> bool:
    """Whether ``exc`` says only that a websocket or its stream had been closed."""
    if exc is None:
        return False
    from tornado.iostream import StreamClosedError
    from tornado.websocket import WebSocketClosedError

    return isinstance(exc, WebSocketClosedError | StreamClosedError)


class _ClosedConnectionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != CLOSED_MESSAGE


_FILTER = _ClosedConnectionFilter()


def quiet_closed_sessions(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Keep reports of writes to closed websockets out of the log (idempotent).

    On ``loop`` (default: the running or current one) an exception handler passes every
    context to the handler that was there before (or asyncio's default), except those whose
    exception is a ``WebSocketClosedError`` or ``StreamClosedError``; Bokeh's and Panel's
    one-line "connection was closed" warnings are filtered out of their loggers.
    """
    for name in CLOSED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    if loop is None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = asyncio.get_event_loop_policy().get_event_loop()
    previous = loop.get_exception_handler()
    if getattr(previous, "driftdeck_closed_sessions", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if is_closed_connection(context.get("exception")):
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.driftdeck_closed_sessions = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)
