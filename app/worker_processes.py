"""The worker processes of ``driftdeck serve --num-procs N``: forked from the server process once
the configuration is loaded (so they share its login secret), each serving the dashboard on a
loopback port of its own, and ending with the process that forked them."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from app.errors import DriftdeckError

PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process receives when its parent ends."""

START_SECONDS = 600.0
"""How long a worker may take to build its server (imports, a first session) before it is
given up on."""

STOP_SECONDS = 10.0


@dataclass(frozen=True)
class Worker:
    """One worker process and the loopback port it serves on."""

    pid: int
    port: int


def start_workers(
    count: int, build_server: Callable[[], Any], inherited: Iterable[Any] = ()
) -> list[Worker]:
    """Fork ``count`` workers; each runs ``build_server()`` (a Bokeh server bound to a loopback
    port, not started), reports its port and serves until it is stopped.

    ``inherited``: sockets of this process the workers must not keep open (the router's).
    Returns once every worker listens; raises ``DriftdeckError`` (after stopping the others)
    when one ends first."""
    parent = os.getpid()
    inherited = list(inherited)
    started: list[tuple[int, int]] = []  # (pid, read end of its port pipe)
    for _ in range(count):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            for _pid, other in started:
                os.close(other)
            _serve_worker(parent, build_server, write_end, inherited)  # never returns
        os.close(write_end)
        started.append((pid, read_end))
    workers = []
    try:
        for pid, read_end in started:
            workers.append(Worker(pid, _read_port(pid, read_end)))
    except BaseException:  # one failed, or Ctrl+C while they start
        stop_workers([Worker(pid, 0) for pid, _ in started])
        raise
    finally:
        for _pid, read_end in started:
            with contextlib.suppress(OSError):
                os.close(read_end)
    return workers


def _serve_worker(
    parent: int, build_server: Callable[[], Any], port_pipe: int, inherited: list[Any]
) -> None:
    """The life of a forked worker: it never returns into the caller's code."""
    code = 1
    try:
        for sock in inherited:
            sock.close()
        # Ctrl+C reaches the whole process group: the parent stops the workers in order.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_with_parent(parent)
        server = build_server()
        os.write(port_pipe, f"{server.port}\n".encode())
        os.close(port_pipe)
        server.start()
        server.io_loop.start()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _read_port(pid: int, read_end: int) -> int:
    deadline = time.monotonic() + START_SECONDS
    received = b""
    while not received.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DriftdeckError(f"server process {pid} did not start within {START_SECONDS:.0f} s")
        ready, _, _ = select.select([read_end], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_end, 64)
        if not chunk:
            raise DriftdeckError(f"server process {pid} ended while starting (see above)")
        received += chunk
    return int(received)


def ended(workers: Iterable[Worker]) -> list[tuple[Worker, int]]:
    """The workers that have ended, with their exit status (reaped)."""
    gone = []
    for worker in workers:
        try:
            pid, status = os.waitpid(worker.pid, os.WNOHANG)
        except ChildProcessError:
            gone.append((worker, -1))
            continue
        if pid:
            gone.append((worker, os.waitstatus_to_exitcode(status)))
    return gone


def stop_workers(workers: Iterable[Worker]) -> None:
    """SIGTERM every worker, wait for them, SIGKILL those still running after ``STOP_SECONDS``."""
    waiting = []
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)
            waiting.append(worker)
    deadline = time.monotonic() + STOP_SECONDS
    while waiting and time.monotonic() < deadline:
        gone = {worker for worker, _status in ended(waiting)}
        waiting = [worker for worker in waiting if worker not in gone]
        if waiting:
            time.sleep(0.05)
    for worker in waiting:
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(worker.pid, 0)


def stop_with_parent(parent: int) -> None:
    """Make this worker stop when the process that forked it does, however that one ends
    (``kill PID``, a process manager that signals the main process, SIGKILL): Linux's
    parent-death signal ends each worker with it."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's SIGTERM stops them in order
        return
    if os.getppid() != parent:  # the parent ended before the signal was set
        os._exit(0)
