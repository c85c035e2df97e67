"""The served dashboard: one template around the six pages, navigation synced to ``?page=``,
one production time window, a dark-mode toggle, the static-HTML download and the notice
shown while data is being rewritten. Works air-gapped (`app/pages/offline_template.py`): nothing
is loaded from outside the server.
"""

from __future__ import annotations

import asyncio
import html
import io
import logging
import os
import time
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlencode

import panel as pn
import param
from panel.io.state import set_curdoc

from app import theme
from app.errors import DriftdeckError
from app.pages import DEFAULT_PAGE, PAGES, build_page
from app.pages.browser_address import WINDOW_QUERY, BrowserHistory, window_query
from app.pages.offline_template import DashboardTemplate, OfflineFast, local_stylesheets
from app.window import ALL_ROWS, parse_timestamp

log = logging.getLogger(__name__)

PREFETCH_IDLE_SECONDS = 3.0
"""How long a session must have been left alone (no page opened) before a page it has not opened
yet is built, hidden, so that opening it later only shows it. A user clicking through the pages
quickly gets each built on demand instead: a page built ahead keeps the server and the browser
busy for up to a second or two, and a click would wait for it."""

PREFETCH_MORE_IDLE_SECONDS = 30.0
"""How long a session must have been left alone before pages beyond the next one are built ahead.
Right after a page is opened only the page after it (in navigation order) is built: the one a user
reading through the dashboard opens next. Each page built ahead keeps the server busy for about a
second and the browser for one or two, and a click in that time waits; with every page built at
once, a click 8 s after opening the Overview waited 2-4 s for pages nobody had asked for yet."""

PREFETCH_GAP_SECONDS = 1.0
"""The pause after each page built ahead before the next, in which a click is answered at once."""

_building_ahead: set[int] = set()
"""The sessions (by id of their Shell) building a page ahead right now: at most one."""

_last_demand = [0.0]
"""When (``time.monotonic()``) any session last started or finished building a page it was asked
for: pages are built ahead only once the whole server has been idle a while, so under many
sessions (when each page asked for already waits for the CPU) nothing is built that nobody asked
for."""

BUSY_LOAD_PER_CPU = 1.5
"""Pages are not built ahead while the machine's load average is at or over this many runnable
processes per CPU: twenty browser sessions on two cores timed out more often when every session
also built pages nobody had asked for yet."""


def _machine_busy() -> bool:
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform
        return False
    return load >= BUSY_LOAD_PER_CPU * (os.cpu_count() or 1)


DOWNLOAD_CSS = f"""
.bk-btn.bk-btn-default, .bk-btn.bk-btn-default a {{ color: #fff; }}
.bk-btn.bk-btn-default {{
  background-color: {theme.ACCENT} !important; border-color: {theme.ACCENT} !important;
}}
.bk-btn.bk-btn-default:hover {{ filter: brightness(1.15); }}
"""
"""The download button filled with the accent: outlined, its accent text on the dark theme's
background read as the grey of a disabled button."""


class Shell(pn.viewable.Viewer):
    """One browser session of the dashboard around a Monitor (the session's time window)."""

    monitor = param.ClassSelector(class_=object, doc="""The session's Monitor.""")

    page = param.Selector(
        default=DEFAULT_PAGE,
        objects=list(PAGES),
        doc="""Slug of the page shown (URL ``?page=``).""",
    )

    title = param.String(default="Driftdeck", doc="""Title in the header and the browser tab.""")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        # The pages built so far in this session, by slug: each is built once.
        self.views: dict[str, Any] = {}
        self._frames: dict[str, pn.Column] = {}
        self._failed: pn.Column | None = None
        # The served session's document (None outside a server): its pages are prepared off the
        # event loop and shown once drawn.
        self._session_doc: Any = None
        self._preparing: set[str] = set()
        # Pages built ahead of being opened (tried once each); they are built only while the
        # browser is connected (changes made before it has loaded the session never reach it).
        self._prefetched: set[str] = set()
        self._last_opened = time.monotonic()
        self._ahead_since_opened = 0  # pages built ahead since the user last opened one
        self._prefetch_waiting = False
        self._connected = False
        self._closed = False
        # No page is built before the template exists (the URL may still change the page).
        self._ready = False
        self._main = pn.Column(
            sizing_mode="stretch_width",
            min_height=400,
            loading=True,
            css_classes=["driftdeck-main"],
        )
        self.navigation = pn.widgets.RadioButtonGroup(
            options={entry.title: slug for slug, entry in PAGES.items()},
            value=self.page,
            orientation="vertical",
            color="primary",
            variant="outline",
            sizing_mode="stretch_width",
            css_classes=["driftdeck-nav"],
            stylesheets=[":host .bk-btn { text-align: left; padding-left: 14px; }"],
        )
        self.navigation.param.watch(lambda event: setattr(self, "page", event.new), "value")
        self.notice = pn.pane.Alert(
            "", alert_type="warning", visible=False, sizing_mode="stretch_width", margin=(0, 10)
        )
        self.reset_window = pn.widgets.Button(
            label="Reset time window",
            color="primary",
            variant="outline",
            disabled=True,
            sizing_mode="stretch_width",
        )
        self.reset_window.on_click(self._reset_window)
        self.all_rows = pn.widgets.Button(
            label="All rows",
            color="primary",
            variant="outline",
            disabled=True,
            sizing_mode="stretch_width",
        )
        self.all_rows.on_click(self._all_rows)
        self.window_text = pn.pane.Markdown("", margin=(0, 10))
        self.download = pn.widgets.FileDownload(
            callback=self._export,
            filename="driftdeck.html",
            label="Download static HTML",
            color="primary",
            variant="outline",
            sizing_mode="stretch_width",
            # Until its file is made, Panel draws the button in the grey of a disabled one.
            stylesheets=[DOWNLOAD_CSS],
        )
        self.history = BrowserHistory(on_navigate=self._navigated, height=0, width=0, margin=0)
        if self.monitor is not None:
            # The monitoring window moves with new data: its label and "at the default" with it.
            names = [p for p in ("start", "end", "data_version") if p in self.monitor.param]
            if names:
                self.monitor.param.watch(self._show_window, names)
            if "updating" in self.monitor.param:
                self.monitor.param.watch(self._show_notice, "updating")
        self._show_window()
        self._show_notice()

    # -- navigation ------------------------------------------------------------------
    @param.depends("page", watch=True)
    def _show_page(self) -> None:
        self._page_opened()
        self.navigation.value = self.page
        if not self._ready:
            return
        slug = self.page
        shown = self._frames.get(slug)
        if shown is None:
            if self._session_doc is not None:
                self._prepare_frame(slug)
                return
            shown = self._build_frame(slug)
        self._reveal(shown)

    def _page_opened(self) -> None:
        """The user asked for a page: build-ahead restarts its pause, and then the next page."""
        self._last_opened, self._ahead_since_opened = time.monotonic(), 0

    def _reveal(self, shown: pn.Column) -> None:
        # Built pages stay in the document and are only hidden: switching back to one is a
        # visibility change, not a re-render of every plot.
        self._page_opened()  # the user reads it from now on
        with pn.io.hold():
            for frame in self._main.objects:
                frame.visible = frame is shown
            for slug, frame in self._frames.items():
                self._set_active(slug, frame is shown)
            self._main.loading = False
        self._schedule_prefetch()  # after a build ahead was left out for this page

    def _set_active(self, slug: str, active: bool) -> None:
        set_active = getattr(self.views.get(slug), "set_active", None)
        if set_active is not None:
            set_active(active)

    def _frame(self, slug: str, content: Any) -> pn.Column:
        """The page in its frame; the class lets tests (and user CSS) see which page is shown."""
        frame = pn.Column(
            content, sizing_mode="stretch_width", css_classes=[f"driftdeck-page-{slug}"]
        )
        if self._failed is not None:
            self._main.remove(self._failed)
            self._failed = None
        if slug in self.views:
            self._frames[slug] = frame
        else:
            self._failed = frame  # not kept: the next visit tries again
        return frame

    def _build_frame(self, slug: str) -> pn.Column:
        """Build page ``slug`` now (outside a server: every section is drawn before it returns)."""
        self._main.loading = True
        try:
            self.views[slug] = build_page(slug, self.monitor)
            content = self.views[slug]
        except Exception as exc:  # a broken page must not take the dashboard down
            log.exception("page %s failed to build", slug)
            content = _page_failed(exc)
        frame = self._frame(slug, content)
        self._main.append(frame)
        self._main.loading = False
        return frame

    def _prepare_frame(self, slug: str) -> None:
        """Build page ``slug`` in the session and show it once drawn (unless another page was
        asked for meanwhile)."""
        self._main.loading = True
        if slug in self._preparing:
            return  # already being built: shown when done
        self._preparing.add(slug)
        with set_curdoc(self._session_doc):
            pn.state.execute(partial(self._prepare, slug))

    async def _prepare(self, slug: str, prefetch: bool = False) -> None:
        """Build page ``slug``: its results are fetched off the event loop and drawn before it is
        added, so the browser receives the page in one piece. A page built ahead (``prefetch``)
        is left out when it fails (opening it tries again and shows why) or when the user opened
        another page meanwhile (sending it now would make that page wait)."""
        self._preparing.add(slug)
        started = time.monotonic()
        if not prefetch:
            _last_demand[0] = started
        try:
            view = build_page(slug, self.monitor)
            await view.prepare(self._session_doc)
        except Exception as exc:  # a broken page must not take the dashboard down
            log.exception("page %s failed to build", slug)
            content = _page_failed(exc)
        else:
            self.views[slug] = content = view
        finally:
            self._preparing.discard(slug)
        current = slug == self.page
        ahead = prefetch and not current
        if ahead and slug not in self.views:
            pass  # failed: left out, opening it tries again and says why
        elif ahead and self._last_opened > started:
            self._prefetched.discard(slug)  # built ahead again at the next pause
            del self.views[slug]
        elif not self._closed:
            frame = self._frame(slug, content)
            frame.visible = current
            self._set_active(slug, current)
            with pn.io.hold():
                self._main.append(frame)
                if current:
                    self._reveal(frame)
        if not prefetch:
            _last_demand[0] = time.monotonic()
        self._schedule_prefetch()

    def _schedule_prefetch(self) -> None:
        """Start waiting for a pause in which to build the next page ahead (one wait at a time)."""
        if self._prefetch_waiting or self._closed or not self._connected:
            return
        self._prefetch_waiting = True
        with set_curdoc(self._session_doc):
            pn.state.execute(self._prefetch)

    async def _prefetch(self) -> None:
        """Build a page not opened yet, hidden, once the session has been idle a while.

        First the page after the one shown (in navigation order), after a short pause; the
        others one after the other only after a long one. Each costs the server what opening
        it would have, but while the user reads the page shown; opening it later is then only
        a change of visibility. One page is built ahead at a time in the whole server, so
        twenty sessions opened together are not slowed by each other's.
        """
        try:
            await asyncio.sleep(PREFETCH_GAP_SECONDS)
            while not self._closed:
                now = time.monotonic()
                idle = now - max(self._last_opened, _last_demand[0])
                needed = (
                    PREFETCH_MORE_IDLE_SECONDS
                    if self._ahead_since_opened
                    else PREFETCH_IDLE_SECONDS
                )
                if idle < needed:
                    # In short steps: opening a page meanwhile shortens the pause needed.
                    await asyncio.sleep(min(needed - idle, PREFETCH_GAP_SECONDS))
                elif _machine_busy():
                    await asyncio.sleep(PREFETCH_IDLE_SECONDS)
                elif _building_ahead:
                    await asyncio.sleep(PREFETCH_GAP_SECONDS)
                else:
                    break
        finally:
            self._prefetch_waiting = False
        if self._preparing or self._closed:
            return  # the page being built schedules the next wait when done
        order = list(PAGES)
        at = order.index(self.page) + 1
        slug = next(
            (
                s
                for s in order[at:] + order[:at]
                if s not in self._frames and s not in self._prefetched
            ),
            None,
        )
        if slug is None:
            return
        self._prefetched.add(slug)
        self._ahead_since_opened += 1
        _building_ahead.add(id(self))
        try:
            await self._prepare(slug, prefetch=True)
        finally:
            _building_ahead.discard(id(self))

    def _start(self) -> None:
        self._ready = True
        self._show_page()

    def _loaded(self) -> None:
        """The browser has loaded the session."""
        location = pn.state.location
        if location is not None and "page" not in location.query_params:
            # Shows the page in the address bar (replacing, not adding, a history entry).
            location.update_query(page=self.page)
        self._connected = True
        self._schedule_prefetch()

    def _session_closed(self, session_context: Any) -> None:
        self._closed = True

    def _navigated(self, search: str) -> None:
        """The user went back or forward to a URL with query ``search``."""
        location = pn.state.location
        if location is not None:
            # Setting the server-side search re-applies every synced parameter (the page).
            location.search = search
        query = parse_qs(search.lstrip("?"))
        if "page" not in query:
            self.page = DEFAULT_PAGE
        self._window_from_query(query)

    def _sync_url(self) -> None:
        location = pn.state.location
        if location is None:
            return

        def bad_slug(_values: dict) -> None:
            self.page = DEFAULT_PAGE

        location.sync(self, {"page": "page"}, on_error=bad_slug)
        # The time window too (see ``window_query``): a shared link or a reload keeps it.
        self._window_from_query(parse_qs(location.search.lstrip("?")))
        if self.monitor is not None and "start" in self.monitor.param:
            self.monitor.param.watch(self._window_to_query, ["start", "end"])

    def _window_from_query(self, query: dict[str, list[str]]) -> None:
        """Set the window a URL names: ``window=all`` for every row, ``start``/``end`` (both
        optional) for a chosen one, neither for the monitoring window; a malformed one is left out."""
        monitor = self.monitor
        if monitor is None or "start" not in monitor.param:
            return
        if query.get("window") == [ALL_ROWS]:
            if not monitor.at_all_rows:
                monitor.all_rows()
            return
        if not query.get("start") and not query.get("end"):
            if not monitor.at_default:
                monitor.reset_window()
            return
        try:
            start, end = (
                parse_timestamp(query[key][0], key) if query.get(key) else None
                for key in ("start", "end")
            )
        except DriftdeckError:
            return
        if start is not None and end is not None and start >= end:
            return
        if (start, end) != self._window():
            monitor.set_window(start, end)

    def _window_to_query(self, *_events: Any) -> None:
        """Name the window in the URL: nothing for the monitoring window (a shared link keeps
        following the newest row), ``window=all`` for every row, else its ``start``/``end``."""
        location = pn.state.location
        if location is None:
            return
        query = {k: v for k, v in location.query_params.items() if k not in WINDOW_QUERY}
        query.update(window_query(self.monitor))
        search = "?" + urlencode(query)
        if search != location.search:
            location.search = search

    # -- time window -----------------------------------------------------------------
    def _window(self) -> tuple[Any, Any]:
        monitor = self.monitor
        return getattr(monitor, "start", None), getattr(monitor, "end", None)

    def _show_window(self, *_events: Any) -> None:
        monitor = self.monitor
        if monitor is None:
            self.window_text.object = theme.format_window(None, None)
            return
        self.window_text.object = monitor.window_label()
        self.reset_window.disabled = monitor.at_default
        self.all_rows.disabled = monitor.at_all_rows

    def _reset_window(self, _event: Any = None) -> None:
        if self.monitor is not None:
            self.monitor.reset_window()

    def _all_rows(self, _event: Any = None) -> None:
        if self.monitor is not None:
            self.monitor.all_rows()

    # -- live data -------------------------------------------------------------------
    def _show_notice(self, *_events: Any) -> None:
        message = getattr(self.monitor, "updating", "") or ""
        self.notice.object = f"Data is being updated: {message}" if message else ""
        self.notice.visible = bool(message)

    def _refresh(self) -> None:
        try:
            self.monitor.refresh()
        except Exception:  # a failed check must not stop the next one
            log.exception("refresh failed")

    # -- export ----------------------------------------------------------------------
    async def _export(self) -> io.BytesIO:
        """The static HTML of every page, built in a worker thread: building it takes seconds,
        and on the event loop it would stall every other session of the server meanwhile."""
        from app.export import render_pages

        self.download.loading = True
        try:
            html = await asyncio.to_thread(render_pages, self.monitor, title=self.title)
        finally:
            self.download.loading = False
        self.download.filename = f"driftdeck-{datetime.now():%Y%m%d-%H%M}.html"
        return io.BytesIO(html.encode("utf-8"))

    # -- assembly --------------------------------------------------------------------
    def template(self) -> pn.template.FastListTemplate:
        """The served page: call once per browser session."""
        sidebar = [
            self.navigation,
            pn.layout.Divider(),
            pn.pane.Markdown("**Time window**", margin=(0, 10)),
            self.window_text,
            self.reset_window,
            self.all_rows,
            pn.layout.Divider(),
            self.download,
            self.history,
        ]
        template = DashboardTemplate(
            title=self.title,
            # One root each for the sidebar and the main area: Bokeh walks every model of the
            # document again for each root added, so a root per widget cost a new session ~0.4 s.
            sidebar=[pn.Column(*sidebar, sizing_mode="stretch_width", margin=0)],
            main=[pn.Column(self.notice, self._main, sizing_mode="stretch_width", margin=0)],
            design=OfflineFast,
            accent=theme.ACCENT,
            font=theme.SYSTEM_FONTS,
            main_layout=None,
            sidebar_width=260,
        )
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:
            self._session_doc = doc
            self._sync_url()
            refresh = getattr(getattr(self.monitor, "config", None), "refresh_seconds", None)
            if refresh and hasattr(self.monitor, "refresh"):
                pn.state.add_periodic_callback(self._refresh, period=int(refresh * 1000))
            pn.state.onload(self._loaded)
            pn.state.on_session_destroyed(self._session_closed)
        # The page is prepared while the browser loads the shell's scripts.
        self._start()
        return template

    def __panel__(self) -> pn.viewable.Viewable:
        return self.template()


def create_app(config: Any = None, monitor: Any = None) -> pn.viewable.Viewable:
    """The dashboard for one browser session.

    ``monitor`` defaults to a new Monitor on ``config`` (default: $DRIFTDECK_CONFIG or
    ./driftdeck.toml); every session has its own Monitor (its own time window) while the
    engine behind it, and so every computed result, is shared by the whole process.
    """
    pn.extension("tabulator")
    local_stylesheets(pn.state.curdoc)
    if monitor is None:
        from app.errors import DriftdeckError
        from app.monitor import Monitor

        try:
            monitor = Monitor(config)
        except DriftdeckError as exc:
            return _error_page(str(exc))
        from app.pages.warmup import start_warm_up

        # Under ``panel serve`` the first session starts the warm-up (``driftdeck serve`` already
        # has): its other pages are computed while the user looks at the first one.
        start_warm_up(monitor)
    return Shell(monitor=monitor).template()


def _page_failed(exc: Exception) -> pn.pane.Alert:
    # The message may quote the user's data (a column name, a value): shown as text, never HTML.
    return pn.pane.Alert(
        f"This page could not be drawn: {html.escape(str(exc), quote=False)}", alert_type="danger"
    )


def _error_page(message: str) -> pn.template.FastListTemplate:
    """What a session shows when the configuration cannot be used."""
    return pn.template.FastListTemplate(
        title="Driftdeck",
        main=[
            pn.pane.Alert(
                f"**Driftdeck cannot start:** {html.escape(message, quote=False)}\n\n"
                "Fix the configuration (see README, section Configuration) and reload this page.",
                alert_type="danger",
            )
        ],
        design=OfflineFast,
        accent=theme.ACCENT,
        font=theme.SYSTEM_FONTS,
        main_layout=None,
    )
