"""Webhook notifications (Slack-compatible) on transitions: when a critical alert becomes
active, and once more when it clears ("resolved"), never while it stays active.

Each webhook's state (the keys, metric and feature, of the critical alerts it was told about) is
kept in a small file beside the config, so it survives restarts; an alert is announced again
only after it has cleared and come back. A silenced alert is neither announced nor resolved
while its silence lasts. Webhook URLs are secrets, so the state file stores their hashes, never
the URLs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from app.alerts import CRITICAL, alert_key, field, recommendation
from app.config import Config
from app.errors import DriftdeckError
from app.mlflow_location import redact_uri

STATE_DIR_NAME = ".driftdeck"
STATE_FILE_NAME = "notifications.json"
USER_AGENT = "driftdeck-notifications"


def default_state_dir(config: Config) -> Path:
    """Where Driftdeck keeps its own state: a hidden folder next to the config file."""
    base = config.source_file.parent if config.source_file else config.base_dir
    return Path(base) / STATE_DIR_NAME


def _webhook_id(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def _read_state(path: Path) -> dict[str, list[str]]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no state yet, or unreadable: at worst an alert is announced again
    hooks = raw.get("webhooks") if isinstance(raw, dict) else None
    if not isinstance(hooks, dict):
        return {}
    return {k: [str(x) for x in v] for k, v in hooks.items() if isinstance(v, list)}


def _write_state(path: Path, state: dict[str, list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"webhooks": state, "updated": time.time()}, indent=2, sort_keys=True)
    # Write and rename so that a crash never leaves half a file.
    fd, tmp = tempfile.mkstemp(prefix=".notifications-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fmt(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def message_text(alerts: list[Any], all_alerts: list[Any] | None = None) -> str:
    """The Slack message for newly active critical alerts (``Alert`` objects or their dicts)."""
    count = len(alerts)
    lines = [f"Driftdeck: {count} critical alert{'s' if count != 1 else ''} became active"]
    for a in alerts:
        lines.append(
            f"• {field(a, 'metric')} on {field(a, 'feature')}: {_fmt(field(a, 'value'))} "
            f"(critical at {_fmt(field(a, 'threshold'))}) — {field(a, 'recommendation')}"
        )
    lines.append(recommendation(all_alerts if all_alerts is not None else alerts))
    return "\n".join(lines)


def resolved_text(keys: list[str], still_active: int) -> str:
    """The Slack message for critical alerts that cleared."""
    count = len(keys)
    lines = [f"Driftdeck: {count} critical alert{'s' if count != 1 else ''} resolved"]
    for key in keys:
        metric, _, feature = key.partition(":")
        lines.append(f"• {metric} on {feature} is back under its critical level")
    lines.append(
        f"{still_active} critical alert{'s' if still_active != 1 else ''} still active."
        if still_active
        else "No critical alert is active."
    )
    return "\n".join(lines)


def post_json(
    url: str, body: dict, *, timeout: float = 5.0, retries: int = 2, backoff: float = 0.5
) -> None:
    """POST ``body`` as JSON; retries on network errors, 429 and 5xx; raises ``DriftdeckError``."""
    if not url.lower().startswith(("http://", "https://")):
        raise DriftdeckError(f"webhook {redact_uri(url)}: only http and https URLs are supported")
    data = json.dumps(body).encode("utf-8")
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        request = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - scheme checked above
                response.read()
            return
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code}"
            if exc.code != 429 and exc.code < 500:
                break  # the hook refuses this message; asking again will not help
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            problem = "timed out" if isinstance(reason, TimeoutError) else str(reason)
    raise DriftdeckError(
        f"webhook {_display(url)} failed after {attempt + 1} attempt(s): {problem}"
    )


def _display(url: str) -> str:
    # Slack-style hook URLs carry their secret in the path: show only scheme and host.
    try:
        scheme, rest = url.split("://", 1)
    except ValueError:
        return "(invalid URL)"
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme}://{host}/…"


def notify_critical(
    alerts: Iterable[Mapping],
    config: Config,
    *,
    silenced: Iterable[Mapping] = (),
    state_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
    retries: int = 2,
    backoff: float = 0.5,
) -> list[dict]:
    """Tell every configured webhook about critical alerts that became active since its last
    message, and about those it was told of that have cleared since (``silenced`` alerts: neither).

    Returns one entry per webhook: ``{"webhook", "ok", "sent", "message"}``. Raises
    ``DriftdeckError`` (one line) when any webhook failed; the others are still remembered,
    and the failed one is retried on the next run.
    """
    alerts = list(alerts)
    if not config.webhooks:
        return []
    active = {alert_key(a): a for a in alerts if field(a, "severity") == CRITICAL}
    muted = {alert_key(a) for a in silenced}
    path = Path(state_dir or default_state_dir(config)) / STATE_FILE_NAME
    state = _read_state(path)
    timeout = timeout if timeout is not None else config.mlflow.timeout_seconds
    results, failures = [], []
    new_state: dict[str, list[str]] = {}
    for url in config.webhooks:
        hook = _webhook_id(url)
        before = set(state.get(hook, []))
        told = before & (set(active) | muted)  # a silenced alert is not resolved by its silence
        cleared = sorted(before - told)
        fresh = [a for key, a in active.items() if key not in told]
        entry = {"webhook": _display(url), "ok": True, "sent": 0, "message": "nothing new"}
        said = []
        for text, keys in (
            (message_text(fresh, alerts) if fresh else None, [alert_key(a) for a in fresh]),
            (resolved_text(cleared, len(active)) if cleared else None, cleared),
        ):
            if text is None:
                continue
            try:
                post_json(url, {"text": text}, timeout=timeout, retries=retries, backoff=backoff)
            except DriftdeckError as exc:
                entry.update(ok=False, message=str(exc))
                failures.append(str(exc))
                if keys is cleared:
                    told |= set(cleared)  # not resolved yet: said again on the next run
                continue
            if keys is cleared:
                said.append(f"resolved {len(cleared)}")
            else:
                told |= set(keys)
                entry["sent"] += len(keys)
                said.append(f"announced {len(keys)} critical alert(s)")
        if said and entry["ok"]:
            entry["message"] = "; ".join(said)
        new_state[hook] = sorted(told)
        results.append(entry)
    try:
        _write_state(path, new_state)
    except OSError as exc:
        failures.append(f"cannot write notification state {path}: {exc.strerror or exc}")
    if failures:
        raise DriftdeckError("; ".join(failures))
    return results
