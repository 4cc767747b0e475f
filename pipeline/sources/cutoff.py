"""An overall deadline for one remote fetch, however the server spends the time.

Timeouts in requests and urllib3 bound each socket operation, not a whole exchange: a
server that sends a byte every few seconds (in its headers, its TLS handshake or its
body) keeps a fetch going for ever. So every socket a fetch opens is registered with its
`Cutoff`, which shuts them down when the deadline passes; the blocked read then fails at
once, and the fetch reports that it ran out of time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from contextvars import ContextVar, Token
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

_current: ContextVar[Cutoff | None] = ContextVar("cutoff", default=None)
WATCH_STEP = 0.05  # seconds between looks at the clock


class Cutoff:
    """The deadline of one fetch and the sockets it must close when it passes; it applies
    to the connections this thread opens inside `with Cutoff(seconds):`."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.passed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._over = False
        self._token: Token[Cutoff | None] | None = None

    def __enter__(self) -> Cutoff:
        self._token = _current.set(self)
        threading.Thread(target=self._watch, name="fetch-deadline", daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._over = True
        if self._token is not None:
            _current.reset(self._token)

    def _watch(self) -> None:
        """Expire at the deadline unless the fetch is over first. Short sleeps, not a timed
        wait: libfaketime (which tests run under) breaks timed waits on a shifted clock."""
        while not self._over:
            left = self.ends - time.monotonic()
            if left <= 0:
                self.expire()
                return
            time.sleep(min(left, WATCH_STEP))

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(self.ends - time.monotonic(), 0.0)

    def track(self, sock: socket.socket) -> None:
        """Close `sock` at the deadline (at once if it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self.passed:
                _shut(sock)

    def expire(self) -> None:
        """End the fetch now: its sockets are shut and `passed` is set."""
        with self._lock:
            self.passed = True
            for sock in self._sockets:
                _shut(sock)


def current_cutoff() -> Cutoff | None:
    """The deadline of the fetch running in this thread, if any."""
    return _current.get()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class _Tracked:
    """A connection whose socket obeys the current fetch's deadline, connect included."""

    timeout: Any

    def _new_conn(self) -> socket.socket:
        cutoff = current_cutoff()
        if cutoff is not None and isinstance(self.timeout, int | float):
            self.timeout = min(self.timeout, max(cutoff.remaining(), 0.001))
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        if cutoff is not None:
            cutoff.track(sock)
        return sock


class _HTTPConnection(_Tracked, HTTPConnection):
    pass


class _HTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def track_connections(pool_manager: PoolManager) -> None:
    """Make `pool_manager` open connections that obey the current `Cutoff`."""
    pool_manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
