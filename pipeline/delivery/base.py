"""The one interface every delivery backend offers, and what it reports per recipient.

A backend takes finished messages and says, for each recipient, whether it went and, if
not, whether trying again could help. It never raises for one message's failure, so a
batch always yields a result per recipient that the outbox can record.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, TypeVar

from pipeline.mail.compose import OutgoingMessage
from pipeline.sanitize import clean_text
from pipeline.settings import SettingsProblem


class DeliveryConfigError(SettingsProblem):
    """The delivery settings cannot work; the message is one line naming the variable."""


@dataclass(frozen=True)
class SendResult:
    """The outcome for one recipient of one message.

    `permanent` is only meaningful when not `ok`: True means retrying cannot succeed (the
    server refused this message or address for good); False means try again later.
    `channel` marks a transient failure of the whole channel (no connection, credentials
    refused, a full disk), which says nothing about this message: the run pauses instead.
    """

    message_id: str
    recipient: str
    ok: bool
    permanent: bool = False
    error: str | None = None
    provider_id: str | None = None
    channel: bool = False


DEFAULT_BATCH = 50


class Ticket(Protocol):
    """Returned by a `Done` callback: `wait` returns once the outcomes it was given are
    recorded."""

    def wait(self) -> object: ...


Finished = list[tuple[OutgoingMessage, list[SendResult]]]
# Called as messages' results are known (a message's, or a whole request's at once, so
# they are recorded together), from the thread that sent them.
Done = Callable[[Finished], Ticket]


class Backend(Protocol):
    """Sends messages; `close` releases connections (safe to call more than once); a
    context manager that closes on exit.

    `max_batch` is how many messages one `send` should get. `sends_bytes` says whether
    each message goes out as its bytes (and so needs its DKIM signature made here); an
    email API is sent the parts, and the provider signs. With `done`, each message is
    handed over as soon as its results are known (an API's request, all its messages at
    once), and a backend ends a message (for SMTP, sends its body; for an API, sends the
    request) only once the outcome of the one before the previous on that connection
    (for an API: the previous request) is recorded, which bounds what a crash can leave
    sent but unrecorded.
    """

    @property
    def max_batch(self) -> int: ...

    @property
    def sends_bytes(self) -> bool: ...

    def ready(self, messages: Sequence[OutgoingMessage]) -> None:
        """Do ahead, from another thread, what `send(messages)` will need."""

    def send(
        self, messages: Sequence[OutgoingMessage], done: Done | None = None
    ) -> list[SendResult]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Backend: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None: ...


class Closing:
    """`with backend:` closes it on the way out; nothing to do ahead of a send."""

    def ready(self, messages: Sequence[OutgoingMessage]) -> None:
        """Nothing to do ahead."""

    def close(self) -> None:
        """Nothing to release."""

    def __enter__(self: _B) -> _B:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


_B = TypeVar("_B", bound=Closing)


class Pipeline:
    """One connection's view of recording: a message's end goes out only once the outcome
    of the one before its previous is recorded (`ready`), so at most two of its messages
    are sent but unrecorded at any time. Waiting as late as that, not before the next
    message starts, leaves the recorder the time of the envelope's round trip."""

    def __init__(self, done: Done | None) -> None:
        self.done = done
        self._unrecorded: deque[Ticket] = deque()  # oldest first

    def finished(self, message: OutgoingMessage, results: list[SendResult]) -> None:
        if self.done is None:
            return
        self._unrecorded.append(self.done([(message, results)]))
        self._wait_until(2)  # messages that never reached their end ask no `ready`

    def ready(self) -> None:
        """Before a message's end goes: wait until at most one outcome is unrecorded."""
        self._wait_until(1)

    def drain(self) -> None:
        """Wait until everything handed over is recorded."""
        self._wait_until(0)

    def _wait_until(self, unrecorded: int) -> None:
        while len(self._unrecorded) > unrecorded:
            self._unrecorded.popleft().wait()


def delivered(message: OutgoingMessage, provider_id: str | None = None) -> list[SendResult]:
    """Success for every recipient of `message`."""
    return [
        SendResult(message.message_id, recipient, ok=True, provider_id=provider_id)
        for recipient in message.recipients
    ]


def failed(
    message: OutgoingMessage,
    error: str,
    *,
    permanent: bool,
    recipients: Sequence[str] = (),
    channel: bool = False,
) -> list[SendResult]:
    """Failure for `recipients` (all of the message's by default), with a one-line error
    and no invisible control characters (a server's reply is shown in terminals and
    pages, and a NUL would stop PostgreSQL's writer)."""
    line = " ".join(clean_text(error).split())
    return [
        SendResult(
            message.message_id,
            recipient,
            ok=False,
            permanent=permanent and not channel,
            error=line,
            channel=channel,
        )
        for recipient in recipients or message.recipients
    ]


def one_by_one(
    messages: Sequence[OutgoingMessage],
    deliver: Callable[[OutgoingMessage], list[SendResult]],
    done: Done | None,
) -> list[SendResult]:
    """Send `messages` in turn with `deliver`, handing each one's results to `done`."""
    line = Pipeline(done)
    results: list[SendResult] = []
    for message in messages:
        line.ready()
        outcome = deliver(message)
        results += outcome
        line.finished(message, outcome)
    line.drain()
    return results
