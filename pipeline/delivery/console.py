"""The `console` backend: messages printed to a stream, to see exactly what would be sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from pipeline.delivery.base import DEFAULT_BATCH, Closing, Done, SendResult, delivered, one_by_one
from pipeline.mail.compose import OutgoingMessage

_SEPARATOR = "-" * 72


class ConsoleBackend(Closing):
    """Writes each message, as it would go on the wire, between separator lines."""

    max_batch = DEFAULT_BATCH
    sends_bytes = True

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(
        self, messages: Sequence[OutgoingMessage], done: Done | None = None
    ) -> list[SendResult]:
        return one_by_one(messages, self._print, done)

    def _print(self, message: OutgoingMessage) -> list[SendResult]:
        envelope = f"MAIL FROM:<{message.sender}> RCPT TO:{', '.join(message.recipients)}"
        body = message.raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
        self.stream.write(f"{_SEPARATOR}\n{envelope}\n{_SEPARATOR}\n{body}\n")
        self.stream.flush()
        return delivered(message)
