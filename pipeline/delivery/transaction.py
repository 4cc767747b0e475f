"""One SMTP mail transaction (MAIL, RCPT, DATA) over a connection smtplib opened.

smtplib keeps what it does well: connecting, EHLO, STARTTLS or implicit TLS, AUTH. The
transaction is ours for two reasons. Where the server offers PIPELINING (RFC 2920), MAIL
FROM, every RCPT TO and DATA go out in one write and their replies are read afterwards:
one round trip instead of two or more per message; and the next message's envelope goes
in the same write as this message's end (`then`: RFC 2920 lets message content lead a
group of commands), so a message costs one write and one wait for replies, not two. And
the message's bytes are written as they come, already prepared for DATA (see
`pipeline.mail.wire`), instead of smtplib running its line-end and dot-stuffing regexes
over every copy.

Each recipient gets the reply that decided its fate: a refused RCPT its own reply, the
others the reply to DATA or to the message's end. A 421, a reply that cannot be read or
a dropped connection raises `ConnectionLost`: the connection is useless afterwards.
"""

from __future__ import annotations

import re
import smtplib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

CLOSING = 421  # "service not available, closing transmission channel"
START_INPUT = 354  # "start mail input": the answer DATA needs before the message goes
# An address SMTP can carry in a command without quoting: printable ASCII, no spaces,
# angle brackets or line breaks (a line break would smuggle in a command of its own).
_SENDABLE = re.compile(r"[!-;=?-~]+@[!-;=?-~]+")

Ready = Callable[[], None]  # runs just before a message itself goes; may wait
Then = Callable[[], bytes]  # what goes in the same write as a message's end


def at_once() -> None:
    """A `Ready` for a sender that need not wait before a message goes."""


def nothing() -> bytes:
    """A `Then` for a message with no next one to announce."""
    return b""


@dataclass(frozen=True)
class Reply:
    """A server reply: its code and its text on one line."""

    code: int
    text: str

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 300

    def __str__(self) -> str:
        return " ".join(f"{self.code} {self.text}".split())


class ConnectionLost(Exception):
    """The server closed (421), dropped the connection or answered out of protocol."""


def sendable(address: str) -> bool:
    """Whether `address` can go into MAIL FROM or RCPT TO as it is."""
    return _SENDABLE.fullmatch(address) is not None


def transact(
    connection: smtplib.SMTP,
    sender: str,
    recipients: Sequence[str],
    data: bytes,
    ready: Ready = at_once,
    *,
    sent: bool = False,
    then: Then = nothing,
) -> dict[str, Reply]:
    """Send one message (`data` as DATA carries it, terminator included) and return the
    reply that decided each recipient's fate. Addresses must be `sendable`. `ready` runs
    just before the message itself goes (see `pipeline.delivery.base.Pipeline`). Where the
    server offers PIPELINING: `sent` says the envelope already went, after the previous
    message's end, and `then()`, called only if this message's end goes, gives what goes
    with it (the next message's `envelope`).

    Raises ConnectionLost; a connection that cannot be reset after a refusal is closed
    (its `sock` is None then), so the caller opens a new one for the next message.
    """
    try:
        connection.ehlo_or_helo_if_needed()
        mail = _command("MAIL FROM", sender, _size(connection, data))
        rcpts = {recipient: _command("RCPT TO", recipient) for recipient in recipients}
        if connection.has_extn("pipelining"):
            return _pipelined(connection, mail, rcpts, data, ready, sent, then)
        return _lockstep(connection, mail, rcpts, data, ready)
    except (smtplib.SMTPException, OSError) as exc:  # disconnected, reset, timed out
        raise ConnectionLost(str(exc) or type(exc).__name__) from exc


def envelope(
    connection: smtplib.SMTP, sender: str, recipients: Sequence[str], data: bytes
) -> bytes:
    """A message's MAIL FROM, RCPT TOs and DATA as one pipelined write (see `transact`'s
    `then`). Addresses must be `sendable`."""
    rcpts = (_command("RCPT TO", recipient) for recipient in dict.fromkeys(recipients))
    return _commands(_command("MAIL FROM", sender, _size(connection, data)), rcpts)


def _commands(mail: bytes, rcpts: Iterable[bytes]) -> bytes:
    return b"".join([mail, *rcpts, b"DATA\r\n"])


def _pipelined(
    connection: smtplib.SMTP,
    mail: bytes,
    rcpts: dict[str, bytes],
    data: bytes,
    ready: Ready,
    sent: bool,
    then: Then,
) -> dict[str, Reply]:
    """RFC 2920: the envelope and DATA in one write (unless it went ahead), then every
    reply in order."""
    if not sent:
        connection.send(_commands(mail, rcpts.values()))
    mail_reply = _read(connection)
    replies = {recipient: _read(connection) for recipient in rcpts}
    data_reply = _read(connection)
    if not mail_reply.positive:
        return _abandon(connection, data_reply, dict.fromkeys(rcpts, mail_reply))
    return _finish(connection, replies, data_reply, data, ready, then)


def _lockstep(
    connection: smtplib.SMTP,
    mail: bytes,
    rcpts: dict[str, bytes],
    data: bytes,
    ready: Ready,
) -> dict[str, Reply]:
    """Each command waits for the reply to the one before, as servers without
    PIPELINING require; a refused MAIL or every RCPT refused stops before DATA."""
    mail_reply = _ask(connection, mail)
    if not mail_reply.positive:
        return _abandon(connection, None, dict.fromkeys(rcpts, mail_reply))
    replies = {recipient: _ask(connection, rcpt) for recipient, rcpt in rcpts.items()}
    if not any(reply.positive for reply in replies.values()):
        return _abandon(connection, None, replies)
    return _finish(connection, replies, _ask(connection, b"DATA\r\n"), data, ready)


def _finish(
    connection: smtplib.SMTP,
    replies: dict[str, Reply],
    data_reply: Reply,
    data: bytes,
    ready: Ready,
    then: Then = nothing,
) -> dict[str, Reply]:
    """The message itself, if DATA was accepted for at least one recipient, and with it
    what `then` gives."""
    accepted = [recipient for recipient, reply in replies.items() if reply.positive]
    if not accepted or data_reply.code != START_INPUT:
        if data_reply.code != START_INPUT:
            replies |= dict.fromkeys(accepted, data_reply)
        return _abandon(connection, data_reply, replies)
    following = then()
    ready()
    return replies | dict.fromkeys(accepted, _ask(connection, data + following))


def _abandon(
    connection: smtplib.SMTP, data_reply: Reply | None, replies: dict[str, Reply]
) -> dict[str, Reply]:
    """End a transaction that will not deliver: an empty message if the server is
    already waiting for one (RFC 2920 3.1: it must not deliver it to anybody), then
    RSET. A server that does not take the reset loses the connection."""
    try:
        if data_reply is not None and data_reply.code == START_INPUT:
            _ask(connection, b".\r\n")
        if not _ask(connection, b"RSET\r\n").positive:
            connection.close()
    except (ConnectionLost, smtplib.SMTPException, OSError):
        connection.close()
    return replies


def _ask(connection: smtplib.SMTP, command: bytes) -> Reply:
    connection.send(command)
    return _read(connection)


def _read(connection: smtplib.SMTP) -> Reply:
    """The next reply; a 421 or an unreadable reply raises ConnectionLost."""
    code, text = connection.getreply()
    reply = Reply(code, text.decode("utf-8", errors="replace"))
    if code == CLOSING:
        raise ConnectionLost(str(reply))
    if not 200 <= code < 600:
        raise ConnectionLost(f"unreadable reply: {reply.text!r}")
    return reply


def _command(verb: str, address: str, options: str = "") -> bytes:
    if not sendable(address):
        raise ValueError(f"not an address SMTP can carry: {address!r}")
    return f"{verb}:<{address}>{options}\r\n".encode("ascii")


def _size(connection: smtplib.SMTP, data: bytes) -> str:
    """RFC 1870: declare the size, so a server with a limit refuses before the upload."""
    return f" SIZE={len(data)}" if connection.has_extn("size") else ""
