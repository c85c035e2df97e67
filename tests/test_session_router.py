"""The session router's choices: a page and its websocket reach the same worker."""

from __future__ import annotations

from bokeh.util.token import generate_jwt_token, get_session_id
from tornado.httputil import HTTPHeaders, HTTPServerRequest, RequestStartLine

from app.session_router import SessionRouter, forwarded_headers, new_session_id


def test_a_session_id_and_its_token_pick_the_same_worker_every_time():
    router = SessionRouter([9001, 9002, 9003])
    chosen = set()
    for _ in range(60):
        session_id = new_session_id()
        port = router.for_session(session_id)
        # The websocket names its session through the token the page carried.
        token = generate_jwt_token(session_id, extra_payload={"headers": {}})
        assert router.for_session(get_session_id(token)) == port
        assert SessionRouter([9001, 9002, 9003]).for_session(session_id) == port
        chosen.add(port)
    assert chosen == {9001, 9002, 9003}


def test_a_new_session_goes_to_the_least_busy_worker():
    router = SessionRouter([9001, 9002, 9003])
    router.in_flight.update({9001: 4, 9002: 1, 9003: 2})
    for _ in range(10):
        session_id, port = router.new_session()
        assert port == 9002 == router.for_session(session_id)
    router.in_flight[9002] = 5
    assert router.new_session()[1] == 9003


def test_requests_without_a_session_go_round():
    router = SessionRouter([9001, 9002])
    assert [router.next_port() for _ in range(4)] == [9001, 9002, 9001, 9002]


def test_forwarded_headers_keep_host_origin_cookies_and_add_the_client():
    headers = HTTPHeaders()
    for name, value in [
        ("Host", "dash.internal:8501"),
        ("Origin", "http://dash.internal:8501"),
        ("Cookie", "user=abc"),
        ("Connection", "keep-alive"),
        ("Upgrade", "websocket"),
        ("X-Real-Ip", "6.6.6.6"),  # said by the client itself: not believed
        ("Sec-WebSocket-Key", "k"),
    ]:
        headers.add(name, value)
    request = HTTPServerRequest(
        start_line=RequestStartLine("GET", "/ws", "HTTP/1.1"), headers=headers
    )
    request.remote_ip = "10.0.0.7"
    got = forwarded_headers(request, drop=frozenset({"sec-websocket-key"}))
    assert got["Host"] == "dash.internal:8501"
    assert got["Origin"] == "http://dash.internal:8501"
    assert got["Cookie"] == "user=abc"
    assert got["X-Real-Ip"] == "10.0.0.7" and got["X-Forwarded-For"] == "10.0.0.7"
    assert "Connection" not in got and "Upgrade" not in got and "Sec-WebSocket-Key" not in got
