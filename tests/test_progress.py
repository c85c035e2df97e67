"""Progress lines appear only for a person at a terminal, never in piped or redirected output."""

from __future__ import annotations

import io

import pytest

from app.progress import quiet, terminal_progress


class _Stream(io.StringIO):
    def __init__(self, tty: bool):
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("stdout_tty", "stderr_tty", "shown"),
    [(True, True, True), (False, True, False), (True, False, False), (False, False, False)],
)
def test_progress_only_when_both_streams_are_terminals(monkeypatch, stdout_tty, stderr_tty, shown):
    out, err = _Stream(stdout_tty), _Stream(stderr_tty)
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    progress = terminal_progress("driftdeck monitor")
    progress("computing metrics")
    assert (progress is not quiet) == shown
    assert out.getvalue() == ""
    assert ("driftdeck monitor: computing metrics" in err.getvalue()) == shown
