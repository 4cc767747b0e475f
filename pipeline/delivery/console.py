"""The `console` backend: messages printed to a stream, to see exactly what would be sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from pipeline.delivery.base import DEFAULT_BATCH, SendResult, delivered
from pipeline.mail.compose import OutgoingMessage

_SEPARATOR = "-" * 72


class ConsoleBackend:
    """Writes each message, as it would go on the wire, between separator lines."""

    max_batch = DEFAULT_BATCH

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        results: list[SendResult] = []
        for message in messages:
            envelope = f"MAIL FROM:<{message.sender}> RCPT TO:{', '.join(message.recipients)}"
            body = message.raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
            self.stream.write(f"{_SEPARATOR}\n{envelope}\n{_SEPARATOR}\n{body}\n")
            results += delivered(message)
        self.stream.flush()
        return results

    def close(self) -> None:
        """Nothing to release; the stream belongs to the caller."""
