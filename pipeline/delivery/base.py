"""The one interface every delivery backend offers, and what it reports per recipient.

A backend takes finished messages and says, for each recipient, whether it went and, if
not, whether trying again could help. It never raises for one message's failure, so a
batch always yields a result per recipient that the outbox can record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline.mail.compose import OutgoingMessage
from pipeline.settings import SettingsProblem


class DeliveryConfigError(SettingsProblem):
    """The delivery settings cannot work; the message is one line naming the variable."""


@dataclass(frozen=True)
class SendResult:
    """The outcome for one recipient of one message.

    `permanent` is only meaningful when not `ok`: True means retrying cannot succeed (the
    server refused this message or address for good); False means try again later.
    """

    message_id: str
    recipient: str
    ok: bool
    permanent: bool = False
    error: str | None = None
    provider_id: str | None = None


DEFAULT_BATCH = 50


class Backend(Protocol):
    """Sends messages; `close` releases connections (safe to call more than once).

    `max_batch` is how many messages one `send` should get: the outbox marks results after
    each call, so it is also the most a crash can leave sent but unrecorded.
    """

    max_batch: int

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]: ...

    def close(self) -> None: ...


def delivered(message: OutgoingMessage, provider_id: str | None = None) -> list[SendResult]:
    """Success for every recipient of `message`."""
    return [
        SendResult(message.message_id, recipient, ok=True, provider_id=provider_id)
        for recipient in message.recipients
    ]


def failed(
    message: OutgoingMessage, error: str, *, permanent: bool, recipients: Sequence[str] = ()
) -> list[SendResult]:
    """Failure for `recipients` (all of the message's by default), with a one-line error."""
    line = " ".join(error.split())
    return [
        SendResult(message.message_id, recipient, ok=False, permanent=permanent, error=line)
        for recipient in recipients or message.recipients
    ]
