"""One SMTP connection, kept open between batches: what `SMTPPool` runs in each worker.

Replies decide the outcome: 2xx sent, 4xx try again later, 5xx refused for good. A dropped
connection or a 421 (the server closing) gets one fresh connection for the same message,
since servers close idle connections and that says nothing about the message. If no
connection can be made at all, the rest of the batch fails at once as transient instead of
waiting for a timeout per message. After `max_messages` on one connection it says QUIT and
opens a new one: many servers limit messages per session, and some leak state across long
ones. smtplib opens the connection (TLS, AUTH); each message is one `transact` on it,
pipelined where the server offers it, and then told the message that comes next on the
connection, so that its envelope goes with this one's end. A connection whose server waits
for the content of a message announced that way is never used for anything else: it is
closed without QUIT (which would be read as content), and the server drops the message.
A server that offers PIPELINING but throws away what came after a message's end never
answers such an envelope: once a wait for those answers times out, the connection
announces nothing more, and that message goes again on a fresh connection.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from collections.abc import Sequence
from typing import Literal

from pipeline.delivery.base import (
    DEFAULT_BATCH,
    Closing,
    DeliveryConfigError,
    Done,
    Pipeline,
    SendResult,
    failed,
)
from pipeline.delivery.transaction import (
    ConnectionLost,
    Ready,
    Reply,
    Then,
    at_once,
    envelope,
    nothing,
    sendable,
    transact,
)
from pipeline.mail.compose import OutgoingMessage
from pipeline.settings import ENV_PREFIX, Settings

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]
MESSAGES_PER_CONNECTION = 500
TIMEOUT_SECONDS = 30.0


class Unreachable(Exception):
    """No connection could be opened (network, TLS or authentication): no message can go."""


def smtp_connection(settings: Settings) -> SMTPBackend:
    """One connection's worth of the SMTP_* settings (not yet connected)."""
    password = settings.smtp_password
    if settings.smtp_username and not password:
        raise DeliveryConfigError(
            f"{ENV_PREFIX}SMTP_PASSWORD: needed when {ENV_PREFIX}SMTP_USERNAME is set"
        )
    return SMTPBackend(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=password.get_secret_value() if password else None,
    )


class SMTPBackend(Closing):
    """Sends through one SMTP server; STARTTLS or implicit TLS, AUTH when a username is set."""

    max_batch = DEFAULT_BATCH
    sends_bytes = True

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Security,
        username: str | None = None,
        password: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        max_messages: int = MESSAGES_PER_CONNECTION,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.username, self.password = username, password
        self.timeout, self.max_messages = timeout, max_messages
        self._connection: smtplib.SMTP | None = None
        self._used = 0  # transactions on the current connection
        # The message whose envelope went with the last one's end, and its bytes: the
        # server now waits for its content.
        self._ahead: tuple[OutgoingMessage, bytes] | None = None
        self._announcing = True  # until the server once left such an envelope unanswered

    def send(
        self, messages: Sequence[OutgoingMessage], done: Done | None = None
    ) -> list[SendResult]:
        line = Pipeline(done)
        results: list[SendResult] = []
        for index, message in enumerate(messages):
            upcoming = messages[index + 1] if index + 1 < len(messages) else None
            try:
                outcome = self.deliver(message, line.ready, upcoming)
            except Unreachable as exc:
                for unsent in messages[index:]:
                    outcome = failed(unsent, str(exc), permanent=False, channel=True)
                    results += outcome
                    line.finished(unsent, outcome)
                break
            results += outcome
            line.finished(message, outcome)
        line.drain()
        return results

    def close(self) -> None:
        """Say QUIT if the server still listens (and waits for no content), and drop the
        connection."""
        if self._connection is not None and self._ahead is None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._connection.quit()
        self._drop()

    def _drop(self) -> None:
        """Drop the connection without a word: in the middle of a transaction a QUIT would
        be read as content, and the server, given no end, delivers nothing of it."""
        connection, self._connection = self._connection, None
        self._ahead, self._used = None, 0
        if connection is not None:
            connection.close()

    def deliver(
        self,
        message: OutgoingMessage,
        ready: Ready = at_once,
        upcoming: OutgoingMessage | None = None,
    ) -> list[SendResult]:
        """One message's results; raises `Unreachable` if no connection can be opened.
        `ready` runs just before the message itself goes; `upcoming`, the message this
        connection delivers next, if known, is announced with its end."""
        if (bad := _unsendable(message)) is not None:  # no command may carry it: nothing goes
            return failed(message, f"not an address SMTP can carry: {bad!r}", permanent=True)
        ahead = self._ahead
        data = ahead[1] if ahead is not None and ahead[0] is message else message.wire()
        outcome = self._attempt(message, data, ready, upcoming)
        if isinstance(outcome, str):  # the connection went away: once more on a fresh one
            outcome = self._attempt(message, data, ready, upcoming)
        if isinstance(outcome, str):
            return failed(message, outcome, permanent=False)
        return _outcome(message, outcome)

    def _attempt(
        self,
        message: OutgoingMessage,
        data: bytes,
        ready: Ready,
        upcoming: OutgoingMessage | None,
    ) -> dict[str, Reply] | str:
        """Each recipient's deciding reply, or why the connection was lost before the
        message was accepted."""
        if self._ahead is not None and self._ahead[0] is not message:
            self._drop()  # the server waits for another message's content: never give it
        connection = self._connect()  # a fresh connection forgets what was announced
        sent, self._ahead = self._ahead is not None, None
        try:
            replies = transact(
                connection,
                message.sender,
                message.recipients,
                data,
                ready,
                sent=sent,
                then=self._announce(connection, upcoming),
            )
        except ConnectionLost as exc:
            self.close()
            if sent and self._announcing and _timed_out(exc):
                self._announcing = False
                log.warning(
                    "SMTP %s:%s left an envelope sent after a message's end unanswered:"
                    " this connection sends each envelope on its own from now on",
                    self.host,
                    self.port,
                )
            return f"connection to {self.host}:{self.port} lost: {exc}"
        except BaseException:  # e.g. the recorder stopped: mid-transaction, never reused
            self._drop()
            raise
        if connection.sock is None:  # refused, and the server would not reset
            self.close()
        return replies

    def _announce(self, connection: smtplib.SMTP, upcoming: OutgoingMessage | None) -> Then:
        """What goes with a message's end: `upcoming`'s envelope, unless there is none to
        send on this connection (it closes after this message), or it cannot be made (its
        bytes, or an address no command can carry: its own `deliver` meets that again)."""
        if upcoming is None or self._used >= self.max_messages or not self._announcing:
            return nothing

        def then() -> bytes:
            try:
                data = upcoming.wire()
                commands = envelope(connection, upcoming.sender, upcoming.recipients, data)
            except Exception:  # the next message's fault: this one goes on
                return b""
            self._ahead = (upcoming, data)
            return commands

        return then

    def _connect(self) -> smtplib.SMTP:
        if self._used >= self.max_messages:
            self.close()
        if self._connection is None:
            try:
                self._connection = self._open()
            except (smtplib.SMTPException, OSError) as exc:
                detail = (
                    str(Reply(exc.smtp_code, _text(exc.smtp_error)))
                    if isinstance(exc, smtplib.SMTPResponseException)
                    else str(exc) or type(exc).__name__
                )
                raise Unreachable(f"SMTP {self.host}:{self.port}: {detail}") from exc
        self._used += 1
        return self._connection

    def _open(self) -> smtplib.SMTP:
        context = ssl.create_default_context() if self.security != "none" else None
        if self.security == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                connection.starttls(context=context)
            if self.username:
                connection.login(self.username, self.password or "")
        except BaseException:
            connection.close()
            raise
        return connection


def _timed_out(error: BaseException) -> bool:
    """Whether a wait for the server timed out somewhere below `error`."""
    below: BaseException | None = error
    seen: set[int] = set()
    while below is not None and id(below) not in seen:
        if isinstance(below, TimeoutError):
            return True
        seen.add(id(below))
        below = below.__cause__ or below.__context__
    return False


def _unsendable(message: OutgoingMessage) -> str | None:
    """The first address of `message` that no command can carry as it is, if any."""
    return next(
        (address for address in (message.sender, *message.recipients) if not sendable(address)),
        None,
    )


def _outcome(message: OutgoingMessage, replies: dict[str, Reply]) -> list[SendResult]:
    """One result per recipient, from the reply that decided it."""
    results: list[SendResult] = []
    for recipient, reply in replies.items():
        if reply.positive:
            results.append(SendResult(message.message_id, recipient, ok=True))
        else:
            results += failed(
                message, str(reply), permanent=_permanent(reply.code), recipients=[recipient]
            )
    return results


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _text(error: bytes | str) -> str:
    return error.decode("utf-8", errors="replace") if isinstance(error, bytes) else error
