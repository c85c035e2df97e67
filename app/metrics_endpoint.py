"""``GET /metrics`` of ``driftdeck serve``: the monitoring window's report in the Prometheus
text format (``app/prometheus.py``), behind the same login as the pages.

A scraper cannot fill in a login form, so besides the login cookie of a browser the endpoint
takes HTTP Basic credentials (``basic_auth`` in a Prometheus scrape config) checked against the
same password or credentials file.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import time
from pathlib import Path
from typing import Any

from bokeh.server.views.auth_request_handler import AuthRequestHandler
from tornado.ioloop import IOLoop

from app.config import Config
from app.errors import DriftdeckError


def credentials_match(basic_auth: str, user: str, password: str) -> bool:
    """Whether ``user``/``password`` log in under ``basic_auth`` (one shared password, any user
    name; or a JSON file of user names and passwords, as ``resolve_basic_auth`` resolved it)."""
    path = Path(basic_auth)
    try:
        users = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        users = None
    if isinstance(users, dict):
        expected = users.get(user)
        return isinstance(expected, str) and hmac.compare_digest(expected, password)
    return hmac.compare_digest(basic_auth, password)


class MetricsHandler(AuthRequestHandler):
    """Computes (or takes from the engine's cache) the report of the monitoring window."""

    def initialize(self, config: Config, basic_auth: str | None = None) -> None:
        self.config = config
        self.basic_auth = basic_auth

    def _allowed(self) -> bool:
        if not self.basic_auth:
            return True
        if self.current_user:  # a browser logged in to the dashboard
            return True
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return credentials_match(self.basic_auth, user, password)

    async def get(self) -> None:
        if not self._allowed():
            self.set_status(401)
            self.set_header("WWW-Authenticate", 'Basic realm="driftdeck"')
            self.finish("login required\n")
            return
        from app.prometheus import CONTENT_TYPE, exposition

        try:
            body = await IOLoop.current().run_in_executor(None, self._exposition, exposition)
        except DriftdeckError as exc:  # no data, a bad config: said in one line, not a traceback
            self.set_status(503)
            self.finish(f"driftdeck: {exc}\n")
            return
        self.set_header("Content-Type", CONTENT_TYPE)
        self.finish(body)

    def _exposition(self, exposition: Any) -> bytes:
        from app.engine import shared_engine
        from app.report import shared_report

        started = time.perf_counter()
        engine = shared_engine(self.config)
        engine.refresh()
        # The report the pages of the monitoring window share (computed once for both).
        report = shared_report(
            engine, engine.monitoring_window(), self.config, mlflow=False, mlflow_baseline=True
        )
        return exposition(report, time.perf_counter() - started)
