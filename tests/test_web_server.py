"""The server's defences at the connection level, over real sockets against uvicorn as
`newsletter serve` runs it: read deadlines for headers and bodies, the concurrency limit,
and X-Forwarded-For trusted only from FORWARDED_ALLOW_IPS."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlsplit

import pytest
import requests
from helpers import running

from pipeline.settings import Settings
from pipeline.storage import Database
from pipeline.web import create_app
from pipeline.web.server import LIMIT_CONCURRENCY
from pipeline.web.subscribe import SIGNUP_LIMIT

SHORT = 0.5  # the deadlines these tests give the server, in seconds
PATIENCE = 20.0  # how long a test waits for the server to act before failing


@contextmanager
def connected(base_url: str) -> Iterator[socket.socket]:
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=PATIENCE) as sock:
        yield sock


def closed_by_server(sock: socket.socket, trickle: bytes = b"") -> bool:
    """Send `trickle` a byte at a time (a slow client) until the server closes the
    connection; whether it did before the trickle ran out."""
    for byte in trickle:
        try:
            sock.sendall(bytes([byte]))
        except OSError:  # reset: closed
            return True
        time.sleep(SHORT / 5)
        sock.setblocking(False)
        try:
            if sock.recv(1) == b"":
                return True
        except BlockingIOError:
            pass
        except OSError:
            return True
        finally:
            sock.setblocking(True)
    sock.settimeout(PATIENCE)
    try:
        return sock.recv(1) == b""
    except OSError:
        return True


@pytest.fixture
def quick(settings: Settings, db: Database) -> Iterator[str]:
    """The site with short read deadlines."""
    with running(create_app(settings, db), header_timeout=SHORT, body_timeout=SHORT) as url:
        yield url


def test_a_client_that_sends_nothing_is_disconnected(quick: str) -> None:
    with connected(quick) as sock:
        assert closed_by_server(sock)


def test_a_client_trickling_its_headers_is_disconnected(quick: str) -> None:
    headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    with connected(quick) as sock:
        assert closed_by_server(sock, headers)


def test_a_client_trickling_its_body_is_disconnected(quick: str) -> None:
    head = b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
    head += b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    with connected(quick) as sock:
        sock.sendall(head)
        assert closed_by_server(sock, b"email=" + b"a" * 200)


def test_a_keep_alive_connection_gets_the_deadline_again(quick: str) -> None:
    with connected(quick) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 200")
        assert closed_by_server(sock, b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 200)


def test_a_prompt_client_is_served(quick: str) -> None:
    answer = requests.post(f"{quick}/subscribe", data={"email": "ann@example.org"}, timeout=10)
    assert answer.status_code == 200


def test_beyond_the_concurrency_limit_requests_get_503(settings: Settings, db: Database) -> None:
    with running(create_app(settings, db)) as base_url:
        with ExitStack() as idle:
            for _ in range(LIMIT_CONCURRENCY):
                idle.enter_context(connected(base_url))
            answer = requests.get(f"{base_url}/healthz", timeout=PATIENCE)
            assert answer.status_code == 503
        deadline = time.monotonic() + PATIENCE  # until the server has seen them close
        while requests.get(f"{base_url}/healthz", timeout=PATIENCE).status_code == 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def signups(base_url: str, count: int) -> list[int]:
    """`count` sign-ups, each claiming another client address in X-Forwarded-For."""
    addresses = (f"198.51.100.{n}" for n in itertools.count(1))
    return [
        requests.post(
            f"{base_url}/subscribe",
            data={"email": f"reader{n}@example.org"},
            headers={"X-Forwarded-For": next(addresses)},
            timeout=10,
        ).status_code
        for n in range(count)
    ]


def test_x_forwarded_for_is_ignored_by_default(settings: Settings, db: Database) -> None:
    with running(create_app(settings, db)) as base_url:
        answers = signups(base_url, SIGNUP_LIMIT + 1)
    assert answers == [200] * SIGNUP_LIMIT + [429]


def test_x_forwarded_for_is_read_from_the_proxies_named(settings: Settings, db: Database) -> None:
    trusting = settings.model_copy(update={"forwarded_allow_ips": "127.0.0.1"})
    with running(create_app(trusting, db)) as base_url:
        answers = signups(base_url, SIGNUP_LIMIT + 1)
    assert answers == [200] * (SIGNUP_LIMIT + 1)
