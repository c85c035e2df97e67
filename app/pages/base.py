"""``MonitorPage``: a page whose sections fill in off the event loop while the layout shows at once.

Each section is loaded by a task: ``fetch`` asks the Monitor (the heavy, cached engine work) and
``draw`` turns the small result into Panel objects. In a served session ``fetch`` runs in a worker
thread (``asyncio.to_thread``) while the section shows a loading indicator, so the server keeps
answering every other session; the newest request for a section wins. Rendered outside a session
(static export, tests, a script calling ``get_root``) every task runs before the page is drawn,
so the saved HTML holds the numbers rather than spinners.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, ClassVar

import panel as pn
import param
from panel.io.document import hold
from panel.io.state import set_curdoc

from app.errors import DriftdeckError, again_if_files_change
from app.monitor import Monitor
from app.pages.cards import NOTE_CSS, error_state, escape
from app.report_types import Report, judged_over_time
from app.single_flight import at_hand_only
from app.window import Window

log = logging.getLogger(__name__)

WINDOW_PARAMETERS = ("start", "end", "data_version")
"""Monitor parameters that change what every section shows."""

PREPARE_SECONDS = 0.5
"""How long a page being opened waits for its sections' results before it is shown with loading
indicators on the sections still computing (cached results arrive within milliseconds)."""

SPINNER_SECONDS = 0.3
"""How long a section waits for its result before it shows a loading indicator: a cached result
(a feature picked again, a page of rows read ahead) arrives well within it and is drawn with no
indicator shown and hidden again. Each of those flips makes the browser lay out every page of
the session again (Bokeh's ``invalidate_layout`` on a changed ``css_classes``)."""


def data_report(monitor: Monitor) -> Report:
    """The Monitor's typed report without MLflow's status checks, shared by every section.

    ``Monitor.report()`` also asks MLflow how it is (up to its timeout when it is down); the drift
    sections must not wait for that, and the alerts they count do not depend on it.
    """
    return monitor.report(mlflow=False)


def history_over_time(monitor: Monitor) -> dict:
    """Rows, drift and predicted classes per time bucket over every production row, whatever
    the window: a timeline shows the whole history and the window as a band on it. Each bucket's
    PSI comes judged (``severity``)."""
    return judged_over_time(monitor.engine.drift_over_time(Window(), "auto"), monitor.config)


def accuracy_history(monitor: Monitor) -> dict:
    """Production accuracy per time bucket over every production row (see ``history_over_time``)."""
    return monitor.engine.accuracy_over_time(Window())


class PageLayout(pn.Column):
    """The page's column; tells the page which document it is drawn into before it renders."""

    def __init__(self, *objects: Any, on_render: Callable[[Any], None], **params: Any) -> None:
        super().__init__(*objects, **params)
        self._on_render = on_render

    def _get_model(self, doc, root=None, parent=None, comm=None):
        self._on_render(doc)
        return super()._get_model(doc, root, parent, comm)


class MonitorPage(pn.viewable.Viewer):
    """Base of the Driftdeck pages: a Viewer on a Monitor whose sections load in the background."""

    monitor = param.ClassSelector(
        class_=Monitor, doc="""The Monitor whose results the page draws."""
    )

    static = param.Boolean(
        default=False,
        doc="""Drawn for a static file with no server behind it (the export): controls only a
        server can answer, such as resetting the time window, are left out.""",
    )

    title: ClassVar[str] = ""
    """The page's heading."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._layout: PageLayout | None = None
        self._session_doc: Any = None
        self._generations: dict[str, int] = {}
        self._drawn: set[str] = set()
        self._loaded_once = False
        self._sync = False
        # While ``prepare`` runs: the sections asked for, fetched together before the page is shown.
        self._queue: list[tuple] | None = None
        # A page the shell hides redraws for a new window or new data only when shown again.
        self._active = True
        self._stale = False

    # -- to implement --------------------------------------------------------------------
    def _build(self) -> list[Any]:
        """The page's static skeleton: headings and empty section bodies."""
        raise NotImplementedError

    def reload(self) -> None:
        """Start every section's task (called on first render and when the window or data change)."""
        raise NotImplementedError

    # -- Viewer --------------------------------------------------------------------------
    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            self._layout = PageLayout(
                self._header(),
                *self._build(),
                on_render=self._rendering,
                sizing_mode="stretch_width",
            )
            self.monitor.param.watch(self._window_changed, list(WINDOW_PARAMETERS))
        return self._layout

    def _header(self) -> pn.Row:
        """The page title, the time window it shows and (served) the way back to the monitoring
        window or out to every production row."""
        self.window_text = pn.pane.HTML(
            "", stylesheets=[NOTE_CSS], sizing_mode="stretch_width", margin=(0, 10)
        )
        self.reset_button = pn.widgets.Button(
            label="Reset time window", color="primary", variant="outline", width=160, margin=(8, 5)
        )
        self.reset_button.on_click(lambda _event: self.monitor.reset_window())
        self.all_rows_button = pn.widgets.Button(
            label="All rows", color="primary", variant="outline", width=90, margin=(8, 10, 8, 5)
        )
        self.all_rows_button.on_click(lambda _event: self.monitor.all_rows())
        self._show_window()
        # The monitoring window moves with new data: its label and "at the default" with it.
        self.monitor.param.watch(self._show_window, ["start", "end", "data_version"])
        title = pn.pane.HTML(
            f"<h2 style='margin: 0'>{escape(self.title)}</h2>", margin=(6, 10, 0, 10)
        )
        return pn.Row(
            pn.Column(title, self.window_text, sizing_mode="stretch_width"),
            *([] if self.static else [self.reset_button, self.all_rows_button]),
            sizing_mode="stretch_width",
        )

    def _show_window(self, *_events: Any) -> None:
        monitor = self.monitor
        self.window_text.object = (
            f'<p class="note">Time window: {escape(monitor.window_label())}</p>'
        )
        self.reset_button.disabled = monitor.at_default
        self.all_rows_button.disabled = monitor.at_all_rows

    def shaded_window(self) -> tuple[Any, Any] | None:
        """The time window to shade on a timeline of every production row (start, end; None at
        an open end); None when the window is every row."""
        monitor = self.monitor
        return None if monitor.at_all_rows else (monitor.start, monitor.end)

    def select_window(self, window: tuple[Any, Any] | None) -> None:
        """Set the Monitor's window (every page follows); None leaves it unchanged."""
        if window is not None and window != (self.monitor.start, self.monitor.end):
            self.monitor.set_window(*window)

    def _rendering(self, doc: Any) -> None:
        in_session = doc is not None and doc.session_context is not None
        if in_session and self._session_doc is None:
            self._session_doc = doc
        if not self._loaded_once:
            self._loaded_once = True
            self.reload()
        elif not in_session and self._session_doc is not None:
            # A static copy of a live page: draw it complete before it is saved.
            self._sync = True
            try:
                self.reload()
            finally:
                self._sync = False

    def _window_changed(self, *_events: Any) -> None:
        if not self._loaded_once:
            return
        if not self._active:
            self._stale = True
            return
        self.reload()

    def set_active(self, active: bool) -> None:
        """Shown (True) or hidden by the shell: a hidden page catches up when shown again."""
        self._active = active
        if active and self._stale:
            self._stale = False
            self.reload()

    # -- loading -------------------------------------------------------------------------
    @property
    def background(self) -> bool:
        """True when tasks run off the event loop: the page lives in a served session."""
        doc = pn.state.curdoc
        return (
            not self._sync
            and self._session_doc is not None
            and doc is self._session_doc
            and doc.session_context is not None
        )

    @contextmanager
    def one_message(self) -> Iterator[None]:
        """Served: the changes made inside reach the browser as one message. Left alone, a
        session sends each changed property as a message of its own, and the browser lays the
        page out again after each one that moves or resizes something."""
        doc = self._session_doc
        if doc is None or doc.session_context is None:
            yield
            return
        with set_curdoc(doc), hold(doc):
            yield

    def load(
        self,
        key: str,
        fetch: Callable[[], Any],
        draw: Callable[[Any], None],
        *targets: pn.viewable.Viewable,
        first: Callable[[], None] | None = None,
        cached: bool = False,
    ) -> None:
        """Run ``fetch`` (off the event loop when served), then ``draw`` its result.

        ``targets`` are the section bodies the task fills: they show a loading indicator
        meanwhile, and an explanation when the task fails (or keep the last good content).
        ``first`` draws what needs no result (the texts of the feature chosen): served, in the
        same message as the result when that comes within ``SPINNER_SECONDS``, else at once
        with the loading indicator. ``cached``: ``fetch`` only reads the engine's results
        (``Engine.cached``), so served, a result already in memory is drawn at once, in the
        message of the user's action, with no worker thread in between.
        """
        generation = self._generations.get(key, 0) + 1
        self._generations[key] = generation
        if cached and self.background:
            try:
                with at_hand_only():
                    value = fetch()
            except Exception:  # NotAtHand, or anything a worker thread retries and reports
                pass
            else:
                with self.one_message():
                    if first is not None:
                        first()
                    self._draw(key, draw, value, targets)
                    self._done(targets)
                return
        fetch = partial(again_if_files_change, fetch)  # as the report is
        if first is not None and (self._queue is not None or not self.background):
            first()
            first = None
        if self._queue is not None:
            self._queue.append((key, generation, fetch, draw, targets))
            return
        if not self.background:
            try:
                value = fetch()
            except Exception as exc:
                self._failed(key, exc, targets)
            else:
                self._draw(key, draw, value, targets)
            return
        self._in_background(
            key, generation, partial(asyncio.to_thread, fetch), draw, targets, first
        )

    def _in_background(
        self,
        key: str,
        generation: int,
        result: Awaitable | Callable[[], Awaitable],
        draw: Callable,
        targets: tuple,
        first: Callable[[], None] | None = None,
    ) -> None:
        """Show the targets loading (after ``SPINNER_SECONDS``) until ``result`` arrives, then draw
        it (newest request wins); ``first`` (see ``load``) before either.

        ``result`` is a future, or a function starting the work: it starts only when the
        session runs the task, so a session closed before then leaves no coroutine behind that
        was never awaited.
        """
        pending = [first] if first is not None else []

        def current() -> bool:
            return self._generations.get(key) == generation

        def draw_first() -> None:
            while pending:
                pending.pop()()

        async def run() -> None:
            work = asyncio.ensure_future(result() if callable(result) else result)
            done, _ = await asyncio.wait({work}, timeout=SPINNER_SECONDS)
            if not done and current():
                with self.one_message():
                    draw_first()
                    for target in targets:
                        target.loading = True
            try:
                value = await work
            except Exception as exc:
                if current():
                    with self.one_message():
                        draw_first()
                        self._failed(key, exc, targets)
                        self._done(targets)
                return
            if not current():
                return  # a newer request for this section is on its way
            # Everything the result changes reaches the browser as one message: one layout.
            with self.one_message():
                draw_first()
                self._draw(key, draw, value, targets)
                self._done(targets)

        with set_curdoc(self._session_doc):
            # Before the browser has loaded the page this waits for it, then runs on the loop.
            pn.state.onload(run)

    async def prepare(self, doc: Any = None, budget: float | None = PREPARE_SECONDS) -> None:
        """Fetch and draw every section before the page is first shown in session ``doc``.

        All sections' fetches start at once, off the event loop; whatever arrives within
        ``budget`` seconds (every result when None) is drawn before the page reaches the
        browser, so a page of cached results arrives complete: one message and one layout in
        the browser instead of one per section. Sections still computing are shown loading and
        fill in when their result arrives. Without ``doc`` this only fills the engine's cache
        (server warm-up).
        """
        self._session_doc = doc
        self.__panel__()
        loop = asyncio.get_running_loop()
        deadline = None if budget is None else loop.time() + budget
        pending: dict[asyncio.Future, tuple] = {}
        self._queue = []
        try:
            self._loaded_once = True
            self.reload()
            while True:
                for key, generation, fetch, draw, targets in self._queue:
                    future = asyncio.ensure_future(asyncio.to_thread(fetch))
                    pending[future] = (key, generation, draw, targets)
                self._queue = []
                timeout = None if deadline is None else deadline - loop.time()
                if not pending or (timeout is not None and timeout <= 0):
                    break
                done, _ = await asyncio.wait(
                    pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    break
                for future in done:
                    # A draw may ask for more (the distribution of the feature it selected):
                    # that request joins the queue and is fetched in the next round.
                    key, generation, draw, targets = pending.pop(future)
                    if self._generations.get(key) != generation:
                        continue
                    if future.exception() is not None:
                        self._failed(key, future.exception(), targets)
                    else:
                        self._draw(key, draw, future.result(), targets)
        finally:
            queued, self._queue = self._queue or [], None
        for key, generation, fetch, draw, targets in queued:
            self._in_background(key, generation, partial(asyncio.to_thread, fetch), draw, targets)
        for future, (key, generation, draw, targets) in pending.items():
            self._in_background(key, generation, future, draw, targets)

    @staticmethod
    def _done(targets: tuple) -> None:
        for target in targets:
            target.loading = False

    def _draw(self, key: str, draw: Callable[[Any], None], value: Any, targets: tuple) -> None:
        try:
            draw(value)
        except Exception as exc:
            self._failed(key, exc, targets)
        else:
            self._drawn.add(key)

    def _failed(self, key: str, exc: Exception, targets: tuple) -> None:
        if isinstance(exc, DriftdeckError):
            message = str(exc)
        else:
            log.exception("page %s: section %s failed", type(self).__name__, key)
            message = f"{type(exc).__name__}: {exc}"
        if key in self._drawn:
            # Keep the last good result (e.g. a file being rewritten) and say so.
            for target in (t for t in targets if isinstance(t, pn.layout.ListLike)):
                notice = error_state(
                    "Could not update this section; showing the last result.",
                    message,
                    kind="warning",
                )
                objects = [o for o in target.objects if not getattr(o, "_driftdeck_notice", False)]
                notice._driftdeck_notice = True
                target.objects = [notice, *objects]
            return
        for target in targets:
            if isinstance(target, pn.layout.ListLike):
                target.objects = [error_state("This section could not be computed.", message)]
