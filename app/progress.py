"""Progress lines on stderr, only when a person watches: stderr and stdout both terminals (piped
output, ``--json > file`` and logs stay clean)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

Progress = Callable[[str], None]


def quiet(_message: str) -> None:
    """A progress callback that says nothing."""


def terminal_progress(prefix: str = "driftdeck") -> Progress:
    """A callback printing ``prefix: message (elapsed)`` to stderr when stderr and stdout are
    terminals (a command whose output is piped or redirected is being scripted)."""
    if not (sys.stderr.isatty() and sys.stdout.isatty()):
        return quiet
    started = time.perf_counter()

    def report(message: str) -> None:
        print(
            f"{prefix}: {message} ({time.perf_counter() - started:.1f}s)",
            file=sys.stderr,
            flush=True,
        )

    return report
