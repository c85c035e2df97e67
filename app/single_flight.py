"""One cache for results that are expensive to compute and shared by many callers.

``SingleFlight`` keeps each result by key and computes it once however many threads ask at the
same time (the others wait for it: "single flight"). A result may expire (MLflow's answers are
kept for a minute, its failures for less), and a persistent layer may stand behind the memory
(the engine's results store, so another process or an earlier run answers first).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any

MISSING = object()
"""What a persistent layer's ``get`` returns for a key it does not hold."""

_at_hand = threading.local()


class NotAtHand(LookupError):
    """Raised by ``SingleFlight.get`` inside ``at_hand_only`` for a result not kept in memory."""


@contextmanager
def at_hand_only() -> Iterator[None]:
    """Inside (in this thread), every ``SingleFlight.get`` answers from memory or raises
    ``NotAtHand``: nothing is loaded or computed. A page asks so on the event loop, where a
    result at hand can be drawn at once and anything else must go to a worker thread."""
    before = getattr(_at_hand, "only", False)
    _at_hand.only = True
    try:
        yield
    finally:
        _at_hand.only = before


class SingleFlight:
    """Results by key, each computed once at a time; optionally expiring and persisted.

    ``load(key)`` / ``save(key, value)`` reach the persistent layer (``load`` returns ``MISSING``
    for a key it does not hold). ``on_compute(key)`` is told of every computation.
    """

    def __init__(
        self,
        load: Callable[[Hashable], Any] | None = None,
        save: Callable[[Hashable, Any], None] | None = None,
        on_compute: Callable[[Hashable], None] | None = None,
    ) -> None:
        self._load, self._save, self._on_compute = load, save, on_compute
        self._results: dict[Hashable, tuple[float, Any, BaseException | None]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(
        self,
        key: Hashable,
        compute: Callable[[], Any],
        ttl: float | None = None,
        keep_failures: tuple[type[BaseException], ...] = (),
        failure_ttl: float | None = None,
    ) -> Any:
        """The result for ``key``: kept, else loaded, else ``compute()`` (once for all waiting).

        ``ttl`` seconds after it was computed a result is computed again (None: kept until
        ``forget``). A failure of one of the ``keep_failures`` types is kept too, for
        ``failure_ttl`` seconds, and raised again to every caller meanwhile.
        """
        found = self._fresh(key)
        if found is not MISSING:
            return found
        if getattr(_at_hand, "only", False):
            raise NotAtHand(key)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self._fresh(key)
            if found is not MISSING:
                return found
            value = self._load(key) if self._load else MISSING
            error = None
            if value is MISSING:
                try:
                    value = compute()
                except keep_failures as exc:
                    value, error = None, exc
                if self._on_compute:
                    self._on_compute(key)
                if error is None and self._save:
                    self._save(key, value)
            lifetime = failure_ttl if error is not None else ttl
            expires = float("inf") if lifetime is None else time.monotonic() + lifetime
            with self._guard:
                self._results[key] = (expires, value, error)
            if error is not None:
                raise error
            return value

    def _entry(self, key: Hashable) -> tuple[float, Any, BaseException | None] | None:
        with self._guard:
            entry = self._results.get(key)
        return None if entry is None or time.monotonic() >= entry[0] else entry

    def _fresh(self, key: Hashable) -> Any:
        entry = self._entry(key)
        if entry is None:
            return MISSING
        _, value, error = entry
        if error is not None:
            raise error
        return value

    def forget(self, keep: Callable[[Hashable], bool] = lambda _key: False) -> None:
        """Drop every kept result whose key ``keep`` does not accept."""
        with self._guard:
            for key in list(self._results):
                if not keep(key):
                    del self._results[key]
                    self._locks.pop(key, None)

    def keys(self) -> list[Hashable]:
        """The keys of the results kept now."""
        with self._guard:
            return list(self._results)

    def clear(self) -> None:
        """Drop every kept result."""
        self.forget()

    def __contains__(self, key: Hashable) -> bool:
        return self._entry(key) is not None
