"""MLflow calls bounded in time, and what their failures mean.

Each MLflow request runs in a daemon thread and is abandoned after its timeout: a server that is
down, or accepts connections and never answers, costs at most the timeout, and an abandoned
request never keeps the process alive at exit.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from app.errors import DriftdeckError
from app.mlflow_location import StoreLocation

T = TypeVar("T")


class _Timeout(Exception):
    pass


def run_bounded(fn: Callable[[], T], timeout: float, name: str = "mlflow-call") -> T:
    """``fn()`` in a daemon thread; raises ``_Timeout`` when it has not returned in time."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    # A daemon thread, not an executor: executor threads are joined at exit, so a request that
    # never answers would keep `driftdeck monitor` alive long after it printed its result.
    threading.Thread(target=work, name=f"driftdeck-{name}", daemon=True).start()
    if not done.wait(timeout):
        raise _Timeout
    if "error" in box:
        raise box["error"]
    return box["value"]


def _is_mlflow_failure(exc: BaseException) -> bool:
    """Errors that mean MLflow or its store failed (as opposed to a bug in Driftdeck)."""
    if isinstance(exc, OSError | sqlite3.Error | TimeoutError | DriftdeckError):
        return True
    module = type(exc).__module__ or ""
    return module.split(".")[0] in ("mlflow", "sqlalchemy", "alembic", "requests", "urllib3")


def _reason(exc: BaseException, timeout: float) -> tuple[str, bool]:
    """A short reason for a failure, and whether it is about reaching MLflow at all."""
    text = str(exc)
    lowered = text.lower()
    connectivity = [
        (("connection refused",), "connection refused"),
        (
            (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo",
                "name resolution",
            ),
            "host not found",
        ),
        (("timed out", "timeout"), f"no answer within {timeout:g} s"),
        (
            ("max retries exceeded", "connection aborted", "connection reset", "remote end closed"),
            "connection failed",
        ),
    ]
    for needles, reason in connectivity:
        if any(n in lowered for n in needles):
            return reason, True
    if any(
        n in lowered for n in ("readonly database", "read-only file system", "permission denied")
    ):
        return "the MLflow store is not writable (a read-only file or folder)", False
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return (first if len(first) <= 240 else first[:237] + "..."), False


def _not_found(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def probe_http(location: StoreLocation, timeout: float) -> str | None:
    """Why an MLflow server is certainly unreachable (None: it answers, or cannot be judged).

    One GET of ``/health`` with plain urllib, so no MLflow import is needed to find out.
    """
    parts = urlsplit(location.uri)
    netloc = parts.netloc.rsplit("@", 1)[-1]  # urllib takes no credentials in the URL
    url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", ""))
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
            response.read(64)
    except urllib.error.HTTPError:
        return None  # it answers (perhaps a proxy wanting credentials): let MLflow ask
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            return f"no answer within {timeout:g} s"
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, socket.gaierror):
            return "host not found"
        if isinstance(reason, ConnectionError):
            return "connection failed"
        return None  # e.g. TLS settings that MLflow may handle differently: let MLflow try
    return None
