"""Webhook notifications against a local HTTP server: once per alert, retries, timeouts."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from app.config import Config
from app.errors import DriftdeckError
from app.notifications import STATE_FILE_NAME, default_state_dir, notify_critical, post_json


class Hook:
    """A local webhook that records each POST and answers with the next scripted status."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.statuses: list[int] = []  # consumed per request; 200 when empty
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                hook.bodies.append({"body": body, "content_type": self.headers.get("Content-Type")})
                if hook.delay:
                    time.sleep(hook.delay)
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secretpath"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def critical(feature: str = "district", metric: str = "psi", value: float = 0.4) -> dict:
    return {
        "severity": "critical",
        "metric": metric,
        "feature": feature,
        "value": value,
        "threshold": 0.25,
        "message": f"PSI of '{feature}' is {value}",
        "recommendation": "retrain",
    }


def warning(feature: str = "rooms") -> dict:
    return dict(critical(feature), severity="warning", threshold=0.1)


@pytest.fixture
def config(tmp_path, hook) -> Config:
    return replace(Config(base_dir=tmp_path), webhooks=(hook.url,))


def notify(alerts, config, tmp_path, **kwargs):
    return notify_critical(alerts, config, state_dir=tmp_path / "state", backoff=0.01, **kwargs)


def test_a_new_critical_alert_is_posted_once(hook, config, tmp_path):
    results = notify([critical(), warning()], config, tmp_path)
    assert len(hook.bodies) == 1
    posted = hook.bodies[0]
    assert posted["content_type"] == "application/json"
    assert set(posted["body"]) == {"text"}  # Slack-compatible
    text = posted["body"]["text"]
    assert (
        "1 critical alert became active" in text
        and "district" in text
        and "rooms" not in text.split("\n")[1]
    )
    assert results == [{"webhook": f"http://127.0.0.1:{hook.server.server_address[1]}/…", "ok": True, "sent": 1,
                        "message": "announced 1 critical alert(s)"}]  # fmt: skip

    notify([critical(value=0.5), warning()], config, tmp_path)  # still active: no repeat
    assert len(hook.bodies) == 1

    notify([critical(), critical("area")], config, tmp_path)  # only the new one
    assert len(hook.bodies) == 2 and "area" in hook.bodies[1]["body"]["text"]
    assert "district" not in hook.bodies[1]["body"]["text"].split("\n")[1]


def test_an_alert_that_clears_is_resolved_once_and_posted_again_when_it_returns(
    hook, config, tmp_path
):
    notify([critical()], config, tmp_path)
    notify([warning("district")], config, tmp_path)  # dropped to a warning: cleared
    notify([], config, tmp_path)
    assert len(hook.bodies) == 2  # the activation, then one "resolved"
    resolved = hook.bodies[1]["body"]["text"]
    assert "1 critical alert resolved" in resolved and "psi on district" in resolved
    notify([critical()], config, tmp_path)
    assert len(hook.bodies) == 3 and "became active" in hook.bodies[2]["body"]["text"]


def test_a_silenced_alert_is_neither_announced_nor_resolved(hook, config, tmp_path):
    notify([], config, tmp_path, silenced=[critical()])  # muted from the start: no message
    assert hook.bodies == []
    notify([critical("area")], config, tmp_path)
    notify([], config, tmp_path, silenced=[critical("area")])  # muted later: not "resolved"
    assert len(hook.bodies) == 1
    notify([critical("area")], config, tmp_path)  # the silence ends, still active: no repeat
    assert len(hook.bodies) == 1


def test_warnings_alone_post_nothing(hook, config, tmp_path):
    assert notify([warning()], config, tmp_path)[0]["sent"] == 0
    assert hook.bodies == []


def test_state_file_holds_no_url(hook, config, tmp_path):
    notify([critical()], config, tmp_path)
    state = (tmp_path / "state" / STATE_FILE_NAME).read_text()
    assert "psi:district" in state
    assert "secretpath" not in state and "127.0.0.1" not in state


def test_default_state_dir_is_next_to_the_config(tmp_path):
    config = replace(
        Config(base_dir=tmp_path / "data"), source_file=tmp_path / "conf" / "driftdeck.toml"
    )
    assert default_state_dir(config) == tmp_path / "conf" / ".driftdeck"
    assert default_state_dir(Config(base_dir=tmp_path)) == tmp_path / ".driftdeck"


def test_server_errors_are_retried(hook, config, tmp_path):
    hook.statuses = [503, 500]
    assert notify([critical()], config, tmp_path, retries=2)[0]["ok"]
    assert len(hook.bodies) == 3


def test_a_refused_message_is_not_retried_and_is_tried_again_next_run(hook, config, tmp_path):
    hook.statuses = [400]
    with pytest.raises(DriftdeckError, match="HTTP 400") as failure:
        notify([critical()], config, tmp_path, retries=2)
    assert len(hook.bodies) == 1
    assert "secretpath" not in str(failure.value)
    notify([critical()], config, tmp_path)  # not remembered as told: sent now
    assert len(hook.bodies) == 2


def test_a_slow_hook_times_out(hook, config, tmp_path):
    hook.delay = 1.5
    started = time.monotonic()
    with pytest.raises(DriftdeckError, match="timed out"):
        notify([critical()], config, tmp_path, timeout=0.3, retries=1)
    assert time.monotonic() - started < 1.5


def test_each_webhook_remembers_separately(hook, tmp_path):
    other = Hook()
    try:
        other.statuses = [500]
        config = replace(Config(base_dir=tmp_path), webhooks=(hook.url, other.url))
        with pytest.raises(DriftdeckError):
            notify([critical()], config, tmp_path, retries=0)
        notify([critical()], config, tmp_path, retries=0)
        assert len(hook.bodies) == 1 and len(other.bodies) == 2
    finally:
        other.close()


def test_no_webhooks_no_work(tmp_path):
    assert notify_critical([critical()], Config(base_dir=tmp_path)) == []
    assert not (tmp_path / ".driftdeck").exists()


def test_only_http_urls(tmp_path):
    with pytest.raises(DriftdeckError, match="only http"):
        post_json(f"file://{tmp_path}/x", {"text": "hi"})
    assert not Path(tmp_path / "x").exists()


def test_monitor_without_mlflow_notifies_and_a_silence_keeps_it_quiet(hook, tmp_path, capsys):
    """A cron job with --no-log (no MLflow at all) still tells the webhook; once its critical
    alerts are silenced, the next runs exit 0 and send nothing, not even "resolved"."""
    from app.cli import main
    from tests.worlds import make_world

    make_world(tmp_path)
    path = tmp_path / "driftdeck.toml"
    base = (
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        f'[notifications]\nwebhooks = ["{hook.url}"]\n'
    )
    path.write_text(base)
    args = ["monitor", "--json", "--no-log", "--config", str(path)]
    assert main(args) == 3
    report = json.loads(capsys.readouterr().out)
    assert len(hook.bodies) == 1 and "became active" in hook.bodies[0]["body"]["text"]
    assert not (tmp_path / "mlflow.db").exists()
    silences = "".join(
        f'[[silences]]\nmetric = "{a["metric"]}"\nfeature = "{a["feature"]}"\nuntil = 2999-01-01\n'
        for a in report["alerts"]
        if a["severity"] == "critical"
    )
    path.write_text(base + silences)
    assert main(args) == 0 and main(args) == 0
    capsys.readouterr()
    assert len(hook.bodies) == 1
