"""``driftdeck serve``: loopback by default, websocket origins restricted to the configured host."""

from __future__ import annotations

import gc
import socket

from app.server import YOUNG_COLLECTION_ALLOCATIONS, serve, websocket_origins


def test_loopback_origins():
    assert websocket_origins("127.0.0.1", 8501) == ["127.0.0.1:8501", "localhost:8501"]


def test_named_host_allows_only_itself(monkeypatch):
    monkeypatch.delenv("DRIFTDECK_ALLOW_WEBSOCKET_ORIGIN", raising=False)
    assert websocket_origins("dash.internal", 9000) == ["dash.internal:9000"]


def test_any_address_allows_loopback_and_this_host_plus_configured(monkeypatch):
    monkeypatch.setenv("DRIFTDECK_ALLOW_WEBSOCKET_ORIGIN", "proxy.example:443, other:80")
    origins = websocket_origins("0.0.0.0", 8501)
    assert "localhost:8501" in origins and f"{socket.gethostname()}:8501" in origins
    assert "proxy.example:443" in origins and "other:80" in origins


def test_serve_binds_the_configured_loopback_port(world):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gc.unfreeze()
    thresholds = gc.get_threshold()
    server = serve(world, port=port, start=False)
    try:
        # Sessions build thousands of objects: the youngest generation is collected rarely.
        assert gc.get_threshold()[0] == YOUNG_COLLECTION_ALLOCATIONS > thresholds[0]
        # The start-up objects are set aside from the garbage collector, so the full
        # collection Panel runs after sessions close does not walk them every time.
        assert gc.get_freeze_count() > 10_000
        assert server.port == port
        assert server.address == "127.0.0.1"
        assert set(server._tornado._websocket_origins) == {f"127.0.0.1:{port}", f"localhost:{port}"}
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        server.stop()
