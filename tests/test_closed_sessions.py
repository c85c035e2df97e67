"""Writes to a websocket whose browser went away are not logged as errors; everything else is."""

from __future__ import annotations

import asyncio
import gc
import logging

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from app.closed_sessions import CLOSED_MESSAGE, quiet_closed_sessions


def unretrieved(exc: BaseException, caplog) -> list[logging.LogRecord]:
    """asyncio's log records for a task that raised ``exc`` and was never awaited."""
    loop = asyncio.new_event_loop()
    try:
        quiet_closed_sessions(loop)

        async def fail() -> None:
            raise exc

        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="asyncio"):
            task = loop.create_task(fail())
            loop.run_until_complete(asyncio.sleep(0.01))
            assert task.done()
            del task
            gc.collect()
        return [r for r in caplog.records if r.name == "asyncio"]
    finally:
        loop.close()


def test_a_closed_websocket_is_not_an_error(caplog):
    assert unretrieved(WebSocketClosedError(), caplog) == []
    assert unretrieved(StreamClosedError(), caplog) == []


def test_other_exceptions_are_still_reported(caplog):
    records = unretrieved(ValueError("a real bug"), caplog)
    assert records and "never retrieved" in records[0].getMessage()


def test_the_closed_connection_warnings_are_filtered(caplog):
    loop = asyncio.new_event_loop()
    quiet_closed_sessions(loop)
    loop.close()
    for name in ("bokeh.server.views.ws", "panel.io.document"):
        logger = logging.getLogger(name)
        with caplog.at_level(logging.WARNING, logger=name):
            caplog.clear()
            logger.warning(CLOSED_MESSAGE)
            logger.warning("something else")
        assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_installing_twice_keeps_one_handler():
    loop = asyncio.new_event_loop()
    try:
        quiet_closed_sessions(loop)
        first = loop.get_exception_handler()
        quiet_closed_sessions(loop)
        assert loop.get_exception_handler() is first
    finally:
        loop.close()
