"""The page and the time window in the browser's address: the ``?page=`` the back and forward
buttons follow (``BrowserHistory``), and the query that names the window (``window_query``), so a
shared link or a reload shows what the user saw."""

from __future__ import annotations

from typing import Any

from panel.custom import JSComponent

from app.window import ALL_ROWS

WINDOW_QUERY = ("start", "end", "window")
"""URL query keys that name the time window."""


def window_query(monitor: Any) -> dict[str, str]:
    """The URL query naming ``monitor``'s window: nothing for the monitoring window, so a link
    shared or reloaded keeps trailing the newest row; ``window=all`` for every row; else the
    chosen ``start`` and ``end`` (an open end left out)."""
    if monitor is None or monitor.at_default:
        return {}
    if monitor.at_all_rows:
        return {"window": ALL_ROWS}
    ends = zip(("start", "end"), (monitor.start, monitor.end), strict=True)
    return {key: value.isoformat() for key, value in ends if value is not None}


class BrowserHistory(JSComponent):
    """Tells the server when the user goes back or forward, so ``?page=`` follows the URL.

    Panel's ``Location`` writes the URL (``history.pushState``) but does not listen for
    ``popstate``. This component does, and it stops the server's echo of the URL the browser
    already shows from pushing a duplicate history entry (which would break "forward").
    """

    _esm = """
    export function render({ model }) {
      if (!window.__driftdeckHistory) {
        window.__driftdeckHistory = true
        const push = window.history.pushState.bind(window.history)
        const replace = window.history.replaceState.bind(window.history)
        window.history.pushState = (state, title, url) => {
          if (url == null) { return push(state, title, url) }
          const target = new URL(url, window.location.href)
          if (target.href === window.location.href) { return }
          // The first write only adds ?page= to the address the user typed: same page.
          if (!new URLSearchParams(window.location.search).has("page") &&
              target.pathname === window.location.pathname) {
            return replace(state, title, url)
          }
          return push(state, title, url)
        }
      }
      const onPop = () => model.send_msg({ search: window.location.search })
      window.addEventListener("popstate", onPop)
      model.on("remove", () => window.removeEventListener("popstate", onPop))
      const el = document.createElement("span")
      el.style.display = "none"
      return el
    }
    """

    def __init__(self, on_navigate: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self._on_navigate = on_navigate

    def _handle_msg(self, data: Any) -> None:
        search = data.get("search") if isinstance(data, dict) else None
        if isinstance(search, str) and self._on_navigate is not None:
            self._on_navigate(search)
