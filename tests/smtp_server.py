"""A real SMTP server for tests: aiosmtpd on a free loopback port.

It records what it accepts and answers as a test tells it to: a given reply for one
recipient, scripted replies for the next MAIL or DATA commands, or a dropped connection.
aiosmtpd reads commands in order from its buffer, so it serves a client that pipelines
them; `SMTPServer(pipelining=True)` also offers PIPELINING (RFC 2920) in its EHLO reply,
and `segments` shows how the client's bytes arrived.

In a test module::

    pytest_plugins = ["smtp_server"]

    def test_sends(smtp_server):
        settings = load_settings(**smtp_server.settings)
        ...
        assert smtp_server.received[0].rcpt_tos == ("ada@example.org",)

or `with SMTPServer() as server:` where a fixture does not fit. Test modules import from
here before pytest loads it as a plugin, hence PYTEST_DONT_REWRITE (its asserts only narrow
types).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

DROP = "drop"  # in `data_replies`: close the connection instead of answering DATA


@dataclass(frozen=True)
class Received:
    """One accepted message: the envelope and the bytes exactly as they arrived."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    peer: tuple[str, int] = ("", 0)  # the client's address: which connection it came on


class SMTPServer:
    """The server and its script. Set `rcpt_replies[address] = "550 5.1.1 No such user"`
    to refuse a recipient, append to `mail_replies` or `data_replies` (a reply such as
    "451 4.3.0 Try later", or DROP for DATA) to script the next MAIL FROM or end of DATA;
    anything unscripted is accepted. With `forgets_after_end` it offers PIPELINING as
    told but loses whatever came in the same read after a message's end, as some broken
    servers do. With `data_delay` seconds each DATA answer waits, so
    that concurrent clients overlap; `peak_data` is the most DATA commands that were in
    progress at once. `segments` holds the bytes each read from a client brought, in
    order (the client's bytes as they arrived; message bodies included)."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        credentials: tuple[str, str] | None = None,
        pipelining: bool = False,
        forgets_after_end: bool = False,
    ) -> None:
        self.credentials = credentials
        self.pipelining = pipelining
        self.forgets_after_end = forgets_after_end
        self.received: list[Received] = []
        self.segments: list[bytes] = []
        self.rcpt_replies: dict[str, str] = {}
        self.mail_replies: list[str] = []
        self.data_replies: list[str] = []
        self.connections = 0
        self.data_delay = 0.0
        self.peak_data = 0
        self._in_data = 0
        self._ids = itertools.count(1)
        self._controller = _Controller(
            self,
            hostname=self.host,
            port=0,
            authenticator=self._authenticate,
            auth_required=credentials is not None,
            auth_require_tls=False,
        )

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def settings(self) -> dict[str, Any]:
        """Keyword arguments for `load_settings` that send through this server."""
        overrides: dict[str, Any] = {
            "email_backend": "smtp",
            "smtp_host": self.host,
            "smtp_port": self.port,
            "smtp_security": "none",
        }
        if self.credentials:
            overrides["smtp_username"], overrides["smtp_password"] = self.credentials
        return overrides

    def __enter__(self) -> SMTPServer:
        self._controller.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    # aiosmtpd handler hooks, run in the server's thread.

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        if self.pipelining:  # before the last line ("250 HELP"), which has no dash
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str | object:
        return self.mail_replies.pop(0) if self.mail_replies else MISSING

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self._in_data += 1
        self.peak_data = max(self.peak_data, self._in_data)
        try:
            await asyncio.sleep(self.data_delay)
        finally:
            self._in_data -= 1
        reply = self.data_replies.pop(0) if self.data_replies else None
        if reply == DROP:
            assert server.transport is not None
            server.transport.abort()
            return "421 never seen: the connection is gone"
        if reply:
            return reply
        assert envelope.mail_from is not None and envelope.original_content is not None
        self.received.append(
            Received(
                envelope.mail_from,
                tuple(envelope.rcpt_tos),
                envelope.original_content,
                tuple(session.peer[:2]),
            )
        )
        return f"250 2.0.0 OK queued as test-{next(self._ids)}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        given = (
            (data.login.decode(), data.password.decode())
            if isinstance(data, LoginPassword)
            else None
        )
        # handled=False: aiosmtpd then answers a failure itself (535)
        return AuthResult(success=given is not None and given == self.credentials, handled=False)


class _Recording(SMTP):
    """aiosmtpd's SMTP session, noting each read's bytes in the server's `segments`."""

    def __init__(self, server: SMTPServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server = server

    def data_received(self, data: bytes) -> None:
        self._server.segments.append(data)
        end = data.find(b"\r\n.\r\n")
        if self._server.forgets_after_end and end >= 0:  # as a broken server: what follows is lost
            data = data[: end + 5]
        super().data_received(data)


class _Controller(Controller):
    """A Controller that binds port 0 and learns the port the system chose, so parallel
    test runs never collide on a fixed port."""

    def factory(self) -> SMTP:
        return _Recording(self.handler, self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def smtp_server() -> Iterator[SMTPServer]:
    """A running SMTP server that accepts everything until told otherwise."""
    with SMTPServer() as server:
        yield server
