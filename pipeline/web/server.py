"""Running the app under uvicorn, on a socket bound before start-up."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from starlette.types import ASGIApp


def listen(host: str, port: int) -> socket.socket:
    """A listening socket: a busy port fails here, readably; port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family)


def server(app: ASGIApp, **options: Any) -> uvicorn.Server:
    """The uvicorn server of `newsletter serve` (tests and the benchmark run the same one)."""
    return uvicorn.Server(uvicorn.Config(app, server_header=False, **options))
