"""No way in without a login: ``driftdeck serve`` with basic auth.

Plain HTTP for what a script sees, one browser session for what a person sees.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

from tests.worlds import make_world

pytestmark = pytest.mark.ui

PASSWORD = "pa55-w0rd-for-alice"
# Feature names and category values of the test world: data a stranger must not see.
DATA_WORDS = ("district", "harbour", "street ", "address")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, cookie: str = "", follow: bool = True) -> tuple[int, str, dict]:
    handlers = [] if follow else [_NoRedirect()]
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


def _login(base: str, user: str, password: str) -> tuple[str, str]:
    """POST the login form; returns (Location, the signed ``user`` cookie or "")."""
    body = urllib.parse.urlencode({"username": user, "password": password}).encode()
    opener = urllib.request.build_opener(_NoRedirect())
    try:
        opener.open(urllib.request.Request(f"{base}login", data=body), timeout=60)
    except urllib.error.HTTPError as exc:
        assert exc.code == 302, exc.code
        cookies = exc.headers.get_all("Set-Cookie") or []
        user_cookie = next((c.split(";")[0] for c in cookies if c.startswith("user=")), "")
        return exc.headers["Location"], user_cookie
    raise AssertionError("login did not redirect")


async def _websocket(base: str, origin: str, cookie: str):
    url = base.replace("http://", "ws://") + "ws"
    request = HTTPRequest(url, headers={"Origin": origin, "Cookie": cookie})
    try:
        connection = await websocket_connect(request)
    except HTTPClientError as exc:
        return exc.code
    connection.close()
    return "open"


@pytest.fixture(scope="module")
def auth_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small world whose config asks for a login from a credentials file next to it."""
    root = tmp_path_factory.mktemp("auth-world")
    make_world(root)
    (root / "users.json").write_text(json.dumps({"alice": PASSWORD}), encoding="utf-8")
    config = root / "driftdeck.toml"
    config.write_text(
        '[columns]\ntarget = "target"\nhigh_cardinality = ["address"]\n'
        '[server]\nbasic_auth = "users.json"\ncookie_secret = "a-cookie-secret-for-tests"\n',
        encoding="utf-8",
    )
    return config


# With several processes the login, the cookie and the origin check pass the session router.
@pytest.mark.parametrize("num_procs", ["1", "2"])
def test_login_required_websocket_origin_checked(auth_world, launch_server, tmp_path, num_procs):
    command = [sys.executable, "-m", "app.cli", "serve", "--config", str(auth_world)]
    command += ["--num-procs", num_procs]
    login_url = launch_server([*command, "--port", "{port}"], auth_world, path="/login")
    base = login_url.removesuffix("login")

    # A stranger is sent to the login page and sees no data, on every page.
    for path in ("", "?page=features", "?page=production"):
        status, _, headers = _get(base + path, follow=False)
        assert status == 302 and "login" in headers["Location"]
        status, body, _ = _get(base + path)
        assert status == 200 and 'name="password"' in body
        assert not any(word in body for word in DATA_WORDS), body
        assert '"token"' not in body  # no Bokeh session was created
    assert PASSWORD not in body

    # Wrong password or unknown user: back to the login page with an error, no cookie.
    for user, password in (("alice", "wrong"), ("mallory", PASSWORD)):
        location, cookie = _login(base, user, password)
        assert "error=" in location and not cookie

    # The right password: a signed cookie that opens the dashboard.
    location, cookie = _login(base, "alice", PASSWORD)
    assert cookie and location == "/"
    status, body, _ = _get(base, cookie=cookie)
    assert status == 200 and "Driftdeck" in body and '"token"' in body
    assert PASSWORD not in body

    # Websocket: only from the configured host, and only with a login.
    host = base.removeprefix("http://").rstrip("/")
    assert asyncio.run(_websocket(base, "http://evil.example", cookie)) == 403
    assert asyncio.run(_websocket(base, f"http://evil.example:{host.split(':')[1]}", cookie)) == 403
    assert asyncio.run(_websocket(base, f"http://{host}", "")) == 403
    assert asyncio.run(_websocket(base, f"http://{host}", cookie)) == "open"

    # The server's own output never shows the password.
    for log in tmp_path.glob("server-*.log"):
        assert PASSWORD not in log.read_text(errors="replace")


@pytest.mark.parametrize("num_procs", ["1", "2"])
def test_login_page_in_a_browser(page, auth_world, launch_server, wait_for_page, num_procs):
    """The login page loads nothing from outside (the fixture fails on any external request)
    and a person who logs in gets the dashboard."""
    command = [sys.executable, "-m", "app.cli", "serve", "--config", str(auth_world)]
    command += ["--num-procs", num_procs]
    command += ["--basic-auth", PASSWORD, "--port", "{port}"]  # the flag overrides the file
    login_url = launch_server(command, auth_world, path="/login")
    page.goto(login_url.removesuffix("login") + "?page=alerts")
    page.get_by_placeholder("user name").fill("anyone")
    page.get_by_placeholder("password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    wait_for_page(page, "alerts")
