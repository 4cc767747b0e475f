"""Running the app under uvicorn, on a socket bound before start-up, hardened for the open
internet.

- A client must send a request's headers within HEADER_TIMEOUT_SECONDS of starting it (or
  of connecting), and its body within BODY_TIMEOUT_SECONDS after them, or the connection
  is closed: trickling clients cannot hold connections open (uvicorn itself waits forever).
- Beyond LIMIT_CONCURRENCY open connections, requests are answered 503 at once.
- X-Forwarded-For/-Proto are read only from the proxies FORWARDED_ALLOW_IPS names
  (unset: from no one; uvicorn would trust 127.0.0.1, letting any local client pick its
  address and slip past the per-address limits).
- Log lines go through the redacting filter, so no URL password reaches the log.
"""

from __future__ import annotations

import asyncio
import copy
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from pipeline.web.state import web_state

HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 30.0
LIMIT_CONCURRENCY = 200
REDACTING_FILTER = "pipeline.redact.RedactingFilter"


def listen(host: str, port: int) -> socket.socket:
    """A listening socket: a busy port fails here, readably; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def server(
    app: FastAPI,
    *,
    header_timeout: float = HEADER_TIMEOUT_SECONDS,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
    **options: Any,
) -> uvicorn.Server:
    """The uvicorn server of `newsletter serve` for `app` (tests and the benchmark run the
    same one); `options` go to uvicorn."""
    trusted = web_state(app).settings.forwarded_allow_ips
    defaults: dict[str, Any] = {
        "server_header": False,
        "http": deadline_protocol(header_timeout, body_timeout),
        "limit_concurrency": LIMIT_CONCURRENCY,
        "proxy_headers": trusted is not None,
        "forwarded_allow_ips": trusted or "",
        "log_config": redacting_log_config(),
    }
    return uvicorn.Server(uvicorn.Config(app, **defaults | options))


def redacting_log_config() -> dict[str, Any]:
    """uvicorn's logging, with URL passwords redacted from its server log (not from the
    access log, which shows only request lines)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": REDACTING_FILTER}}
    config["handlers"]["default"]["filters"] = ["redact"]
    return config


def deadline_protocol(header_timeout: float, body_timeout: float) -> type[HttpToolsProtocol]:
    """uvicorn's HTTP protocol with the two read deadlines."""
    return type(
        "DeadlineProtocol",
        (_DeadlineProtocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout},
    )


class _DeadlineProtocol(HttpToolsProtocol):
    """Closes a connection whose request headers or body arrive too slowly."""

    header_timeout: float
    body_timeout: float
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a keep-alive connection's next request
            self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
