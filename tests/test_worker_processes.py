"""Worker processes: each reports the port it serves on, a failed start is said, a stop ends
them all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.errors import DriftdeckError
from app.worker_processes import ended, start_workers, stop_workers


class _Loop:
    def start(self) -> None:
        time.sleep(120)  # "serves" until stopped


class _Server:
    port = 40123
    io_loop = _Loop()

    def start(self) -> None:
        pass


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_report_their_ports_and_stop():
    workers = start_workers(2, _Server)
    try:
        assert [w.port for w in workers] == [40123, 40123]
        assert len({w.pid for w in workers}) == 2
        assert ended(workers) == []
    finally:
        stop_workers(workers)
    assert not any(_running(w.pid) for w in workers)


def test_a_worker_that_cannot_start_is_said_and_the_others_stopped(capfd):
    def broken():
        raise RuntimeError("no server today")

    with pytest.raises(DriftdeckError, match="ended while starting"):
        start_workers(2, broken)
    assert "no server today" in capfd.readouterr().err
