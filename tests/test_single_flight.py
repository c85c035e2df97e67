"""The one cache of engine and MLflow results: computed once however many threads ask."""

from __future__ import annotations

import threading
import time

import pytest

from app.single_flight import MISSING, NotAtHand, SingleFlight, at_hand_only


def test_many_threads_wait_for_one_computation():
    cache, calls, started = SingleFlight(), [], threading.Event()

    def compute():
        calls.append(1)
        started.set()
        time.sleep(0.2)
        return len(calls)

    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", compute))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert calls == [1]
    assert results == [1] * 8
    assert "k" in cache


def test_results_expire_after_their_ttl(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache, calls = SingleFlight(), []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get("k", compute, ttl=60) == 1
    now[0] += 59
    assert cache.get("k", compute, ttl=60) == 1
    now[0] += 2
    assert cache.get("k", compute, ttl=60) == 2


def test_a_kept_failure_is_raised_again_until_it_expires(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache, calls = SingleFlight(), []

    def failing():
        calls.append(1)
        raise ConnectionError("down")

    for _ in range(3):
        with pytest.raises(ConnectionError, match="down"):
            cache.get("k", failing, ttl=60, keep_failures=(ConnectionError,), failure_ttl=10)
    assert len(calls) == 1
    now[0] += 11
    assert cache.get("k", lambda: "up", ttl=60) == "up"


def test_a_failure_not_kept_is_not_cached():
    cache, calls = SingleFlight(), []

    def failing():
        calls.append(1)
        raise ValueError("bad")

    for _ in range(2):
        with pytest.raises(ValueError):
            cache.get("k", failing)
    assert len(calls) == 2
    assert "k" not in cache


def test_the_persistent_layer_answers_first_and_receives_new_results():
    saved: dict = {"old": 41}
    computed: list = []
    cache = SingleFlight(
        load=lambda key: saved.get(key, MISSING),
        save=saved.__setitem__,
        on_compute=computed.append,
    )
    assert cache.get("old", lambda: 0) == 41
    assert cache.get("new", lambda: 42) == 42
    assert saved["new"] == 42
    assert computed == ["new"]


def test_forget_keeps_only_what_it_is_told_to():
    cache = SingleFlight()
    for key in ("a", "b"):
        cache.get(key, lambda k=key: k)
    assert sorted(cache.keys()) == ["a", "b"]
    cache.forget(keep=lambda key: key == "a")
    assert cache.keys() == ["a"]
    assert "a" in cache
    assert "b" not in cache


def test_at_hand_only_answers_from_memory_and_computes_nothing():
    computed = []
    flight = SingleFlight(load=lambda key: computed.append(("load", key)) or MISSING)
    flight.get("kept", lambda: "value")
    computed.clear()
    with at_hand_only():
        assert flight.get("kept", lambda: computed.append("kept")) == "value"
        with pytest.raises(NotAtHand):
            flight.get("other", lambda: computed.append("other"))
    assert computed == []
    assert flight.get("other", lambda: "computed") == "computed"  # outside: as ever
