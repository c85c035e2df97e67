"""Server warm-up: every page's results for the monitoring window a session opens on (and the
whole history its timelines show), computed at start.

The engine caches results process-wide, so the first browser session after a (re)start finds
them ready like every later session. The pages themselves say what they need: each is prepared
without a browser (``MonitorPage.prepare`` without a document), which runs its fetches off the
event loop and its draws on it, without building any Bokeh model. Then the start-up heap is
frozen for the garbage collector.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any

from app.monitor import Monitor
from app.pages import PAGES, build_page

log = logging.getLogger(__name__)

_started: set[int] = set()
"""Engines (by id) whose warm-up has been scheduled in this process."""


async def warm_up(monitor: Monitor) -> None:
    """Prepare every page on ``monitor``'s engine (monitoring window), one page after the other."""
    started = time.perf_counter()
    for slug in PAGES:
        page_monitor = Monitor(monitor.config, engine=monitor.engine)
        try:
            await build_page(slug, page_monitor).prepare(budget=None)
        except Exception:  # a page that cannot warm up shows its error when opened
            log.exception("warm-up of page %s failed", slug)
    # Panel runs a full garbage collection after every closed session; with the start-up heap
    # (imports, caches, these results) frozen, that collection only looks at the sessions'
    # objects: about a tenth of the time it takes otherwise, during which no session is served.
    gc.collect()
    gc.freeze()
    log.info("warm-up: every page's results ready after %.1f s", time.perf_counter() - started)


def start_warm_up(monitor: Monitor) -> bool:
    """Schedule ``warm_up`` on the running event loop, once per engine; False without a loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    if id(monitor.engine) in _started:
        return True
    _started.add(id(monitor.engine))
    task = loop.create_task(warm_up(monitor))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return True


_tasks: set[Any] = set()  # the loop keeps only weak references to its tasks
