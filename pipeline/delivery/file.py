"""The `file` backend: each message becomes an .eml file in DATA_DIR/outbox.

For development and the demo: any mail client opens the files. Each file appears whole or
not at all (written to a temporary name, then renamed), so a watcher never reads half a
message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pipeline.atomic import replace_file
from pipeline.delivery.base import (
    DEFAULT_BATCH,
    Closing,
    Done,
    SendResult,
    delivered,
    failed,
    one_by_one,
)
from pipeline.mail.compose import OutgoingMessage

MESSAGE_MODE = 0o600  # messages hold subscribers' addresses: owner only
_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")


class FileBackend(Closing):
    """Writes `<timestamp>-<message-id>.eml` files into `outbox`."""

    max_batch = DEFAULT_BATCH
    sends_bytes = True

    def __init__(self, outbox: Path) -> None:
        self.outbox = outbox

    def send(
        self, messages: Sequence[OutgoingMessage], done: Done | None = None
    ) -> list[SendResult]:
        return one_by_one(messages, self._deliver, done)

    def _deliver(self, message: OutgoingMessage) -> list[SendResult]:
        """A folder that cannot be written (full disk, permissions) fails every message
        alike: a fault of the channel, not of this message."""
        try:
            path = self._write(message)
        except OSError as exc:
            error = f"cannot write to {self.outbox}: {exc}"
            return failed(message, error, permanent=False, channel=True)
        return delivered(message, provider_id=path.name)

    def _write(self, message: OutgoingMessage) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = _UNSAFE.sub("_", message.message_id.strip("<>"))[:128]
        path = self.outbox / f"{stamp}-{name}.eml"
        replace_file(path, message.raw, mode=MESSAGE_MODE)
        return path
