"""Loaded (through PYTHONPATH) only by the server that test_closed_browser.py starts: the server
notices a connection its browser closed ``DRIFTDECK_TEST_LATE_CLOSE`` seconds late, as a server
busy computing pages does.

A closed browser's connection can still be written to until the event loop reads its end; a
write in that gap fails half-way through a message, which is what leaves the never-retrieved
``WebSocketClosedError`` behind. On an idle server the gap is short and the traceback shows up
about once in ten closed browsers; this makes the gap a few seconds, so every page that is
still drawing when its browser goes away writes into it.
"""

import os
import socket
import weakref

LATE = float(os.environ.get("DRIFTDECK_TEST_LATE_CLOSE") or 0)


def _install() -> None:
    import tornado.platform.asyncio as tornado_asyncio
    from tornado.ioloop import IOLoop

    original = tornado_asyncio.BaseAsyncIOLoop._handle_events
    noticed_late: weakref.WeakSet = weakref.WeakSet()

    def peer_closed(sock: socket.socket) -> bool:
        try:
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                return False  # the listening socket
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except ConnectionResetError:
            return True
        except OSError:
            return False

    def handle_events(self, fd, events):
        sock = self.handlers.get(fd, (None, None))[0]
        if events & IOLoop.READ and isinstance(sock, socket.socket) and sock not in noticed_late:
            if peer_closed(sock):
                noticed_late.add(sock)
                self.asyncio_loop.remove_reader(fd)

                def notice() -> None:
                    if self.handlers.get(fd, (None,))[0] is sock:
                        self.asyncio_loop.add_reader(fd, self._handle_events, fd, IOLoop.READ)

                self.asyncio_loop.call_later(LATE, notice)
                return None
        return original(self, fd, events)

    tornado_asyncio.BaseAsyncIOLoop._handle_events = handle_events


if LATE > 0:
    _install()
